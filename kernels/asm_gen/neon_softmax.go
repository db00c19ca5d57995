package main

// The NEON twins of softmax.go.

// expRows (twin: expRowsGeneric): per row r of src, m_r = max; dst_i =
// e^(x_i − m_r); z_r = Σ dst_i. A loop over the rows for the maxes, then one
// for the rest: per row, e^(x_i − m) stored and summed in one sweep, then
// the float64 sum reduced and stored.
func (n *neon) expRows() {
	n.text("expRows", "func(dst, src []float32, cols int, m []float32, z []float64)", "expRowsGeneric",
		"rows = len(m). Each row's sum is accumulated in float32 vectors and",
		"folded into float64 every 256 elements.")
	n.expRowsBody(true)
	n.ret()
}

// expSumRows (twin: expSumRowsGeneric): per row, m_r = max; z_r = Σ e^(x_i −
// m_r), nothing stored.
func (n *neon) expSumRows() {
	n.text("expSumRows", "func(src []float32, cols int, m []float32, z []float64)", "expSumRowsGeneric",
		"rows = len(m). Each row's sum is accumulated in float32 vectors and",
		"folded into float64 every 256 elements.")
	n.expRowsBody(false)
	n.ret()
}

// expRowsBody is expRows, or expSumRows when store is false.
func (n *neon) expRowsBody(store bool) {
	var dst greg
	if store {
		dst = n.load("dst_base")
	}
	src, cols := n.load("src_base"), n.load("cols")
	mp, zp, rows := n.load("m_base"), n.load("z_base"), n.load("m_len")
	k := n.expConsts()
	n.rowMaxes(src, cols, mp, rows)
	what := "exp+sum"
	if store {
		what = "exp+store+sum"
	}
	n.rowLoop(rows, func() {
		m := n.vec()
		n.VLD1R(mp, 4, m)
		// Four accumulators, vector j of a group to accumulator j: with
		// 4 lanes a block of 256 elements is 64 vectors, and two
		// accumulators would add 32 terms in a chain (SumDepth in
		// internal/reference).
		accs, acc64 := n.vecs(4), n.vec()
		n.zero(acc64)
		n.zero(accs[0])
		npass{n: n, unroll: 4, block: sumBlock, what: what,
			body: func(g group) {
				as := g.load(src)
				for _, a := range as {
					n.FSUB(m, a, a) // a = x − m
				}
				fs := k.exp(n, as)
				if store {
					g.store(fs, dst)
				}
				g.zeroOthers(fs...)
				for j, f := range fs {
					n.FADD(f, accs[j], accs[j])
				}
			},
			end:   func() { n.fold(accs[0], acc64) },
			enter: n.zeroAccs(accs[1:]),
			leave: n.addAccs(accs),
		}.emit(cols)
		n.FADDP(acc64, acc64)
		n.VST1D(acc64, zp)
	})
}

// scaleRows (twin: scaleRowsGeneric): x_ri ·= c_r.
func (n *neon) scaleRows() {
	n.text("scaleRows", "func(x []float32, cols int, c []float32)", "scaleRowsGeneric",
		"rows = len(c).")
	x, cols := n.load("x_base"), n.load("cols")
	cp, rows := n.load("c_base"), n.load("c_len")
	xw := n.gp() // x is read through x and written through xw
	n.MOVD(x, xw)
	n.rowLoop(rows, func() {
		c := n.vec()
		n.VLD1R(cp, 4, c)
		npass{n: n, unroll: 4, what: "scale+store", body: func(g group) {
			ys := g.load(x)
			for _, y := range ys {
				n.FMUL(c, y, y)
			}
			g.store(ys, xw)
		}}.emit(cols)
	})
	n.ret()
}

// logSoftmaxRows (twin: logSoftmaxRowsGeneric): dst_i = (x_i − m_r) −
// logZ_r, two subtractions as in the twin.
func (n *neon) logSoftmaxRows() {
	n.text("logSoftmaxRows", "func(dst, src []float32, cols int, m, logZ []float32)", "logSoftmaxRowsGeneric",
		"rows = len(m). It reads src_i before it writes dst_i, so dst may be src.")
	dst, src, cols := n.load("dst_base"), n.load("src_base"), n.load("cols")
	mp, lp, rows := n.load("m_base"), n.load("logZ_base"), n.load("m_len")
	n.rowLoop(rows, func() {
		m, lz := n.vec(), n.vec()
		n.VLD1R(mp, 4, m)
		n.VLD1R(lp, 4, lz)
		npass{n: n, unroll: 4, what: "subtract+store", body: func(g group) {
			ys := g.load(src)
			for _, y := range ys {
				n.FSUB(m, y, y)
				n.FSUB(lz, y, y)
			}
			g.store(ys, dst)
		}}.emit(cols)
	})
	n.ret()
}
