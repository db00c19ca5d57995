package main

// The NEON twins of crossentropy.go.

// softTargetRows (twin: softTargetRowsGeneric): per row, m_r = max; T_r = Σ
// t_i; D_r = Σ t_i·(x_i − m_r); grad_i = e^(x_i − m_r); z_r = Σ grad_i.
func (n *neon) softTargetRows() {
	n.text("softTargetRows",
		"func(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64)",
		"softTargetRowsGeneric",
		"rows = len(m). It reads logits_i before it writes grad_i, so grad may be",
		"logits. Each row's sums are accumulated in float32 vectors and folded",
		"into float64 every 256 elements.")
	n.targetSweep(softTargets)
}

// expDotRows (twin: expDotRowsGeneric): per row, m_r = max; d_r = Σ
// w_i·(x_i − m_r) with the class weights w; grad_i = e^(x_i − m_r); z_r =
// Σ grad_i: label smoothing's sweep. It is softTargetRows' sweep, not
// expRows' (the registers of expRows' four accumulators per sum are not
// free for a second sum).
func (n *neon) expDotRows() {
	n.text("expDotRows",
		"func(grad, logits, w []float32, cols int, m []float32, z, d []float64)",
		"expDotRowsGeneric",
		"rows = len(m); len(w) ≥ cols. It reads logits_i before it writes grad_i,",
		"so grad may be logits. Each row's sums are accumulated in float32",
		"vectors and folded into float64 every 256 elements.")
	n.targetSweep(classWeights)
}

// The per-element factors t of a targetSweep: a row of soft targets per row
// of logits (summed too), or one row of class weights for every row.
type targetKind struct {
	param  string   // the factors' parameter
	sums   []string // the float64 outputs: z first, then D, with T between for soft targets
	perRow bool
}

var (
	softTargets  = targetKind{param: "targets", sums: []string{"z", "tsum", "td"}, perRow: true}
	classWeights = targetKind{param: "w", sums: []string{"z", "d"}}
)

// targetSweep is softTargetRows and expDotRows (see targetKind): a loop
// over the rows for the maxes, then one sweep per row for the rest, which
// reads x_i and t_i before it writes grad_i. Each sum has one float32
// accumulator (the sweep is bound by exp's arithmetic) and one float64
// accumulator, all in registers.
func (n *neon) targetSweep(kind targetKind) {
	g, x, t := n.load("grad_base"), n.load("logits_base"), n.load(kind.param+"_base")
	cols, mp, rows := n.load("cols"), n.load("m_base"), n.load("m_len")
	out := make([]greg, len(kind.sums))
	for i, name := range kind.sums {
		out[i] = n.load(name + "_base")
	}
	k := n.expConsts()
	n.rowMaxes(x, cols, mp, rows)
	n.rowLoop(rows, func() {
		if !kind.perRow {
			n.MOVD(n.arg(kind.param+"_base"), t) // the same weights for every row
		}
		m := n.vec()
		n.VLD1R(mp, 4, m)
		acc, acc64 := n.vecs(len(kind.sums)), n.vecs(len(kind.sums))
		for _, a := range append(acc, acc64...) {
			n.zero(a)
		}
		az, ad := acc[0], acc[len(acc)-1]
		what := "exp+store+2 sums"
		if kind.perRow {
			what = "exp+store+3 sums"
		}
		npass{n: n, unroll: 4, block: sumBlock, what: what,
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
					if kind.perRow {
						n.FADD(ti, acc[1], acc[1])
					}
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
				for i := range acc {
					n.fold(acc[i], acc64[i])
				}
			},
		}.emit(cols)
		for i := range acc64 {
			n.FADDP(acc64[i], acc64[i])
			n.VST1D(acc64[i], out[i])
		}
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

// scaleShiftRows (twin: scaleShiftRowsGeneric): x_ri = fma(x_ri, c_r,
// −s·w_i): the product with −s (s > 0, negated exactly), then FMLA.
func (n *neon) scaleShiftRows() {
	n.text("scaleShiftRows", "func(x, w []float32, cols int, c []float32, s float32)",
		"scaleShiftRowsGeneric", "rows = len(c); len(w) ≥ cols.")
	x, cols := n.load("x_base"), n.load("cols")
	cp, rows := n.load("c_base"), n.load("c_len")
	w := n.gp()
	xw := n.gp() // x is read through x and written through xw
	n.MOVD(x, xw)
	ns := n.loadF32("s")
	n.FNEG(ns, ns) // −s
	n.rowLoop(rows, func() {
		n.MOVD(n.arg("w_base"), w)
		c := n.vec()
		n.VLD1R(cp, 4, c)
		npass{n: n, unroll: 4, what: "multiply-add+store", body: func(g group) {
			es := g.load(x)
			ys := g.load(w)
			for j, y := range ys {
				n.FMUL(ns, y, y)     // −s·w
				n.VFMLA(c, es[j], y) // x·c − s·w
			}
			g.store(ys, xw)
		}}.emit(cols)
	})
	n.ret()
}
