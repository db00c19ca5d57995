package main

// The NEON twins of ger.go.

// ger (twin: gerGeneric): for each row i, a_i· += (alpha·x_i)·y, one FMA per
// element: a pass over the row and y.
func (n *neon) ger() {
	n.text("ger", "func(a []float32, lda int, alpha float32, x, y []float32)", "gerGeneric",
		"a holds len(x) rows of stride lda, the last one len(y) long.")
	a, lda4 := n.load("a_base"), n.load("lda")
	n.LSL(imm(2), lda4, lda4)
	x, y, cnt := n.load("x_base"), n.load("y_base"), n.load("y_len")
	xend := n.endOf(x, "x_len")
	alpha := n.loadF32("alpha")
	n.rowLoopTo(x, xend, func() {
		// c = alpha·x_i, rounded to float32 as in the twin, in every lane.
		c := n.vec()
		n.VLD1R(x, 4, c)
		n.FMUL(alpha, c, c)
		pr, pw, py := n.gp(), n.gp(), n.gp()
		n.MOVD(a, pr)
		n.MOVD(a, pw)
		n.MOVD(y, py)
		npass{n: n, unroll: 4, what: "multiply-add+store", body: func(g group) {
			rs := g.load(pr)
			ys := g.load(py)
			for j, r := range rs {
				n.VFMLA(ys[j], c, r) // a_ij += c·y_j
			}
			g.store(rs, pw)
		}}.emit(cnt)
		n.ADD(lda4, a, a)
	})
	n.ret()
}

// gerBatch (twin: gerBatchGeneric): A += alpha·Xᵀ·Y with X k×m and Y k×n.
// Row by row of A, tile by tile of 4 vectors (then single vectors, then a
// partial vector): the tile is loaded, the k samples stream through it (per
// element acc = fma(alpha·x_pi, y_pj, acc) for p = 0 … k−1, the twin's
// order), and it is stored once.
func (n *neon) gerBatch() {
	n.text("gerBatch", "func(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int)",
		"gerBatchGeneric",
		"k = len(x)/m = len(y)/n ≥ 1; a holds m rows of stride lda, the last one n long.")
	a, lda4 := n.load("a_base"), n.load("lda")
	n.LSL(imm(2), lda4, lda4)
	x, m4, rows := n.load("x_base"), n.load("m"), n.load("m")
	n.LSL(imm(2), m4, m4)
	y, n4 := n.load("y_base"), n.load("n")
	n.LSL(imm(2), n4, n4)
	// The loop over the k samples of a tile ends when its pointer into x
	// reaches xend = x + 4·len(x): from x + 4·i + 4·p·m it gets there at
	// p = k, for every row i < m.
	xend := n.endOf(x, "x_len")
	alpha := n.loadF32("alpha")
	g := gerTilesNEON{n: n, lda4: lda4, x: x, m4: m4, n4: n4, xend: xend, alpha: alpha}
	n.rowLoop(rows, func() {
		aj, yj, c := n.gp(), n.gp(), n.load("n")
		n.MOVD(a, aj)
		n.MOVD(y, yj)
		g.aj, g.yj = aj, yj
		const v = 4 * neonLanes
		ones, part, done := n.label("ones"), n.label("part"), n.label("cols")
		// Tiles of 4 vectors, then of 1, then the partial vector.
		n.SUBS(imm(v), c, c)
		n.B("LT", ones)
		tiles := n.label("tiles")
		n.Label(tiles)
		g.tile(group{n: n, vecs: 4})
		n.SUBS(imm(v), c, c)
		n.B("GE", tiles)
		n.Label(ones)
		n.ADDS(imm(v-neonLanes), c, c)
		n.B("LT", part)
		tiles1 := n.label("tiles1")
		n.Label(tiles1)
		g.tile(group{n: n, vecs: 1})
		n.SUBS(imm(neonLanes), c, c)
		n.B("GE", tiles1)
		n.Label(part)
		n.ADDS(imm(neonLanes), c, c)
		n.B("EQ", done)
		g.tile(group{n: n, vecs: 1, part: true, rem: c})
		n.Label(done)
		n.ADD(lda4, a, a)
		n.ADD(imm(4), x, x)
	})
	n.ret()
}

// gerTilesNEON holds the registers of gerBatch: the current row of X's
// columns (x) and the current tile's columns of A (aj, advanced past the
// tile) and of Y (yj, likewise); the byte strides of A, X and Y rows.
type gerTilesNEON struct {
	n                             *neon
	lda4, x, m4, n4, xend, aj, yj greg
	alpha                         vreg
}

// tile emits the update of the vectors of g at aj, with the columns of Y
// at yj.
func (t gerTilesNEON) tile(g group) {
	n := t.n
	n.scope(func() {
		pw, xp, yp := n.gp(), n.gp(), n.gp()
		n.MOVD(t.aj, pw)
		n.MOVD(t.x, xp)
		n.MOVD(t.yj, yp)
		acc := g.load(t.aj)
		samples := n.label("samples")
		body := func() {
			n.Label(samples)
			n.scope(func() {
				// alpha·x_pi, rounded to float32 as in the twin.
				c := n.vec()
				n.VLD1Rstep(xp, t.m4, c)
				n.FMUL(t.alpha, c, c)
				ys := g.loadStep(yp, t.n4)
				for j, r := range acc {
					n.VFMLA(ys[j], c, r) // acc += (alpha·x_pi)·y_pj
				}
			})
			n.CMP(t.xend, xp)
			n.B("LO", samples)
		}
		if g.vecs == 4 && !g.part {
			n.counted("multiply-add", "16 multiply-adds", body)
		} else {
			body()
		}
		g.store(acc, pw)
		if !g.part {
			n.ADD(imm(16*g.vecs), t.yj, t.yj)
		}
	})
}
