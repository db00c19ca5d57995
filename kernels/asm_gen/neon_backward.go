package main

// The NEON twins of backward.go.

// softmaxBackward (twin: softmaxBackwardGeneric): per row, d = float32(⟨s,
// dy⟩); dx_i = s_i·(dy_i − d).
func (n *neon) softmaxBackward() {
	n.text("softmaxBackward", "func(dx, s, dy []float32, cols int)", "softmaxBackwardGeneric",
		"Each row is read whole before it is written, and s_i and dy_i before",
		"dx_i, so dx may be s or dy. ⟨s, dy⟩ takes the products with FMA.")
	dx, s, dy := n.load("dx_base"), n.load("s_base"), n.load("dy_base")
	cols, end := n.load("cols"), n.endOf(s, "s_len")
	n.rowLoopTo(s, end, func() {
		ps, pd := n.gp(), n.gp()
		n.MOVD(s, ps)
		n.MOVD(dy, pd)
		d := n.rowSum(cols, "⟨s, dy⟩", func(g group, accs []vreg) {
			ss := g.load(ps)
			ds := g.load(pd)
			for j, a := range accs {
				n.VFMLA(ds[j], ss[j], a) // acc += s·dy
			}
		})
		npass{n: n, unroll: 4, what: "s·(dy − d)+store", body: func(g group) {
			ys := g.load(dy)
			ss := g.load(s)
			for j, y := range ys {
				n.FSUB(d, y, y)     // dy − d
				n.FMUL(ss[j], y, y) // s·(dy − d)
			}
			g.store(ys, dx)
		}}.emit(cols)
	})
	n.ret()
}

// logSoftmaxBackward (twin: logSoftmaxBackwardGeneric): per row, d =
// float32(Σ dy); dx_i = dy_i − e^min(logp_i, 0)·d, as one FMLS.
func (n *neon) logSoftmaxBackward() {
	n.text("logSoftmaxBackward", "func(dx, logp, dy []float32, cols int)", "logSoftmaxBackwardGeneric",
		"Each row's dy is summed before the row is written, and logp_i and dy_i",
		"are read before dx_i is written, so dx may be logp or dy.")
	dx, lp, dy := n.load("dx_base"), n.load("logp_base"), n.load("dy_base")
	cols, end := n.load("cols"), n.endOf(lp, "logp_len")
	k := n.expConsts()
	zeros := n.vec()
	n.zero(zeros)
	n.rowLoopTo(lp, end, func() {
		pd := n.gp()
		n.MOVD(dy, pd)
		d := n.rowSum(cols, "Σ dy", func(g group, accs []vreg) {
			ys := g.load(pd)
			for j, a := range accs {
				n.FADD(ys[j], a, a)
			}
		})
		npass{n: n, unroll: 4, what: "exp+multiply-add+store", body: func(g group) {
			// min(logp, 0): FMIN returns NaN when either is NaN, so a NaN
			// logp stays NaN.
			as := g.load(lp)
			for _, a := range as {
				n.FMIN(zeros, a, a)
			}
			fs := k.exp(n, as) // e^(a − 0), and a − 0 = a
			ys := g.load(dy)
			for j, y := range ys {
				n.VFMLS(d, fs[j], y) // dy − e·d
			}
			g.store(ys, dx)
		}}.emit(cols)
	})
	n.ret()
}
