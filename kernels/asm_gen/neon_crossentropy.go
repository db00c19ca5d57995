package main

// The NEON twins of crossentropy.go.

// softTargetRows (twin: softTargetRowsGeneric): per row, m_r = max; T_r = Σ
// t_i; D_r = Σ t_i·(x_i − m_r); grad_i = e^(x_i − m_r); z_r = Σ grad_i. A
// loop over the rows for the maxes, then one sweep per row for the rest,
// which reads x_i and t_i before it writes grad_i. Each sum has one float32
// accumulator (the sweep is bound by exp's arithmetic) and one float64
// accumulator, all in registers.
func (n *neon) softTargetRows() {
	n.text("softTargetRows",
		"func(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64)",
		"softTargetRowsGeneric",
		"rows = len(m). It reads logits_i before it writes grad_i, so grad may be",
		"logits. Each row's sums are accumulated in float32 vectors and folded",
		"into float64 every 256 elements.")
	g, x, t := n.load("grad_base"), n.load("logits_base"), n.load("targets_base")
	cols, mp, rows := n.load("cols"), n.load("m_base"), n.load("m_len")
	zp, tp, dp := n.load("z_base"), n.load("tsum_base"), n.load("td_base")
	k := n.expConsts()
	n.rowMaxes(x, cols, mp, rows)
	n.rowLoop(rows, func() {
		m := n.vec()
		n.VLD1R(mp, 4, m)
		az, at, ad := n.vec(), n.vec(), n.vec()
		z64, t64, d64 := n.vec(), n.vec(), n.vec()
		for _, a := range []vreg{az, at, ad, z64, t64, d64} {
			n.zero(a)
		}
		npass{n: n, unroll: 4, block: sumBlock, what: "exp+store+3 sums",
			body: func(gr group) {
				as := gr.load(x)
				for _, a := range as {
					n.FSUB(m, a, a) // a = x − m
				}
				// A partial vector's other lanes: x − m = −m, which may be
				// infinite; 0 instead, so that t·(x − m) adds 0.
				gr.zeroOthers(as...)
				ts := gr.load(t)
				for j, ti := range ts {
					n.FADD(ti, at, at)
					n.VFMLA(ti, as[j], ad) // D += t·(x − m)
				}
				n.release(ts...)
				fs := k.exp(n, as)
				gr.store(fs, g)
				gr.zeroOthers(fs...)
				for _, f := range fs {
					n.FADD(f, az, az)
				}
			},
			end: func() {
				n.fold(az, z64)
				n.fold(at, t64)
				n.fold(ad, d64)
			},
		}.emit(cols)
		n.FADDP(z64, z64)
		n.VST1D(z64, zp)
		n.FADDP(t64, t64)
		n.VST1D(t64, tp)
		n.FADDP(d64, d64)
		n.VST1D(d64, dp)
	})
	n.ret()
}

// softGradRows (twin: softGradRowsGeneric): grad_i = fma(e_i, c_r,
// −t_i)·invRows: −t_i, then FMLA, then the product.
func (n *neon) softGradRows() {
	n.text("softGradRows", "func(grad, targets []float32, cols int, c []float32, invRows float32)",
		"softGradRowsGeneric", "rows = len(c).")
	g, t, cols := n.load("grad_base"), n.load("targets_base"), n.load("cols")
	cp, rows := n.load("c_base"), n.load("c_len")
	gw := n.gp() // grad is read through g and written through gw
	n.MOVD(g, gw)
	inv := n.loadF32("invRows")
	n.rowLoop(rows, func() {
		c := n.vec()
		n.VLD1R(cp, 4, c)
		npass{n: n, unroll: 4, what: "multiply-add+scale+store", body: func(gr group) {
			es := gr.load(g)
			ys := gr.load(t)
			for j, y := range ys {
				n.FNEG(y, y)         // −t
				n.VFMLA(c, es[j], y) // e·c − t
				n.FMUL(inv, y, y)
			}
			gr.store(ys, gw)
		}}.emit(cols)
	})
	n.ret()
}
