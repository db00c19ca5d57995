package main

import "fmt"

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

// gerBatch (twin: gerBatchGeneric): A += alpha·Xᵀ·Y with X k×m and Y k×n. A
// register-blocked micro-kernel, as gerBatch in ger.go: for each tile of 4
// rows × 4 vectors of A (then narrower tiles of single vectors and of the
// partial vector; rows past the last group of 4 take tiles of one row),
// load the tile, stream the k samples through it (per element acc =
// fma(alpha·x_pi, y_pj, acc) for p = 0 … k−1, the twin's order), and store
// it once. A tile of 4 rows reads the 4 coefficients alpha·x_pi of a sample
// as one vector and multiplies by its lanes (FMLA by element).
func (n *neon) gerBatch() {
	n.text("gerBatch", "func(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int)",
		"gerBatchGeneric",
		"k = len(x)/m = len(y)/n ≥ 1; a holds m rows of stride lda, the last one n long.")
	const R = 4 // rows of a tile
	a, lda4 := n.load("a_base"), n.load("lda")
	n.LSL(imm(2), lda4, lda4)
	x, m4, rowsLeft := n.load("x_base"), n.load("m"), n.load("m")
	n.LSL(imm(2), m4, m4)
	y, n4 := n.load("y_base"), n.load("n")
	n.LSL(imm(2), n4, n4)
	// The loop over the k samples of a tile ends when its pointer into x
	// reaches xend = x + 4·len(x): from x + 4·i + 4·p·m it gets there at
	// p = k, for every row i < m.
	xend := n.endOf(x, "x_len")
	alpha := n.loadF32("alpha")
	g := gerTilesNEON{n: n, a: a, lda4: lda4, x: x, m4: m4, y: y, n4: n4, xend: xend, alpha: alpha}

	single, done := n.label("rows1"), n.label("done")
	n.CMP(imm(R), rowsLeft)
	n.B("LT", single)
	top := n.label("rows")
	n.Label(top)
	g.columns(R)
	n.ADD(shifted(lda4, 2), a, a) // a += R·lda4
	n.ADD(imm(4*R), x, x)
	n.SUB(imm(R), rowsLeft, rowsLeft)
	n.CMP(imm(R), rowsLeft)
	n.B("GE", top)
	n.Label(single)
	n.CBZ(rowsLeft, done)
	top1 := n.label("row1")
	n.Label(top1)
	g.columns(1)
	n.ADD(lda4, a, a)
	n.ADD(imm(4), x, x)
	n.SUBS(imm(1), rowsLeft, rowsLeft)
	n.B("NE", top1)
	n.Label(done)
	n.ret()
}

// gerTilesNEON holds the registers of gerBatch: the current rows of A (a)
// and of X's columns (x), the byte strides of A, X and Y rows, Y and alpha.
type gerTilesNEON struct {
	n                           *neon
	a, lda4, x, m4, y, n4, xend greg
	alpha                       vreg
}

// columns updates the rows rows at a, all n columns: tiles of 4 vectors,
// then of 1, then the partial vector.
func (t gerTilesNEON) columns(rows int) {
	n := t.n
	n.scope(func() {
		aj, yj, c := n.gp(), n.gp(), n.load("n")
		n.MOVD(t.a, aj)
		n.MOVD(t.y, yj)
		const v = 4 * neonLanes
		ones, part, done := n.label("ones"), n.label("part"), n.label("cols")
		n.SUBS(imm(v), c, c)
		n.B("LT", ones)
		tiles := n.label("tiles")
		n.Label(tiles)
		t.tile(rows, group{n: n, vecs: 4}, aj, yj)
		n.SUBS(imm(v), c, c)
		n.B("GE", tiles)
		n.Label(ones)
		n.ADDS(imm(v-neonLanes), c, c)
		n.B("LT", part)
		tiles1 := n.label("tiles1")
		n.Label(tiles1)
		t.tile(rows, group{n: n, vecs: 1}, aj, yj)
		n.SUBS(imm(neonLanes), c, c)
		n.B("GE", tiles1)
		n.Label(part)
		n.ADDS(imm(neonLanes), c, c)
		n.B("EQ", done)
		t.tile(rows, group{n: n, vecs: 1, part: true, rem: c}, aj, yj)
		n.Label(done)
	})
}

// tile emits the update of rows rows × the vectors of g of A at aj, with
// the columns of Y at yj; both then advance past the tile.
func (t gerTilesNEON) tile(rows int, g group, aj, yj greg) {
	n := t.n
	n.scope(func() {
		// rowsAt calls f with a pointer to each row of the tile in turn,
		// which f may advance.
		rowsAt := func(f func(r int, p greg)) {
			b, p := n.gp(), n.gp()
			n.MOVD(aj, b)
			for r := range rows {
				if r > 0 {
					n.ADD(t.lda4, b, b)
				}
				n.MOVD(b, p)
				f(r, p)
			}
			n.releaseGP(b, p)
		}
		acc := make([][]vreg, rows)
		rowsAt(func(r int, p greg) { acc[r] = g.load(p) })
		xp, yp := n.gp(), n.gp()
		n.MOVD(t.x, xp)
		n.MOVD(yj, yp)
		samples := n.label("samples")
		body := func() {
			n.Label(samples)
			n.scope(func() {
				// alpha·x_pi for the tile's rows, rounded to float32 as in
				// the twin: all 4 at once (x_p,i … i+3 are consecutive), or
				// the one in every lane.
				c := n.vec()
				if rows == 1 {
					n.VLD1Rstep(xp, t.m4, c)
				} else {
					n.VLD1step(xp, t.m4, c)
				}
				n.FMUL(t.alpha, c, c)
				ys := g.loadStep(yp, t.n4)
				for r := range rows {
					for j, y := range ys {
						if rows == 1 {
							n.VFMLA(y, c, acc[r][j]) // acc += (alpha·x_pi)·y_pj
						} else {
							n.FMLAe(c, r, y, acc[r][j]) // acc += y_pj·(alpha·x_pi), lane r
						}
					}
				}
			})
			n.CMP(t.xend, xp)
			n.B("LO", samples)
		}
		if !g.part && g.vecs == 4 {
			n.counted(fmt.Sprintf("%d×4 vectors multiply-add", rows), fmt.Sprintf("%d multiply-adds", 16*rows), body)
		} else {
			body()
		}
		rowsAt(func(r int, p greg) { g.store(acc[r], p) })
		if !g.part {
			n.ADD(imm(16*g.vecs), aj, aj)
			n.ADD(imm(16*g.vecs), yj, yj)
		}
	})
}
