package main

import (
	"fmt"
	"math/bits"
)

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
	g, rowsLeft := n.gerTiles()
	single := n.label("rows1")
	n.CMP(imm(R), rowsLeft)
	n.B("LT", single)
	top := n.label("rows")
	n.Label(top)
	g.columns(R)
	n.ADD(shifted(g.lda4, 2), g.a, g.a) // a += R·lda4
	n.ADD(imm(4*R), g.x, g.x)
	n.SUB(imm(R), rowsLeft, rowsLeft)
	n.CMP(imm(R), rowsLeft)
	n.B("GE", top)
	n.Label(single)
	g.singleRows(rowsLeft)
	n.ret()
}

// gerTiles loads gerBatch's arguments into registers: the tiles' state,
// and the rows of A left (m).
func (n *neon) gerTiles() (gerTilesNEON, greg) {
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
	return gerTilesNEON{n: n, a: a, lda4: lda4, x: x, m4: m4, y: y, n4: n4, xend: xend, alpha: alpha}, rowsLeft
}

// singleRows updates the rowsLeft (consumed) rows at a one at a time.
func (t gerTilesNEON) singleRows(rowsLeft greg) {
	n := t.n
	done, top := n.label("done"), n.label("row1")
	n.CBZ(rowsLeft, done)
	n.Label(top)
	t.columns(1)
	n.ADD(t.lda4, t.a, t.a)
	n.ADD(imm(4), t.x, t.x)
	n.SUBS(imm(1), rowsLeft, rowsLeft)
	n.B("NE", top)
	n.Label(done)
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
		t.tile(rows, group{n: n, vecs: 4}, aj, yj, false)
		n.SUBS(imm(v), c, c)
		n.B("GE", tiles)
		n.Label(ones)
		n.ADDS(imm(v-neonLanes), c, c)
		n.B("LT", part)
		tiles1 := n.label("tiles1")
		n.Label(tiles1)
		t.tile(rows, group{n: n, vecs: 1}, aj, yj, false)
		n.SUBS(imm(neonLanes), c, c)
		n.B("GE", tiles1)
		n.Label(part)
		n.ADDS(imm(neonLanes), c, c)
		n.B("EQ", done)
		// The last c < 4 columns. Past a full vector, as the row's last 4
		// elements, whole vectors (a lane load per sample of y would
		// chain the samples); only their last c lanes are stored. Rows of
		// fewer than 4 a lane at a time.
		lanes := n.label("lanes")
		n.CMP(imm(4*neonLanes), t.n4)
		n.B("LT", lanes)
		t.tile(rows, group{n: n, vecs: 1, part: true, rem: c}, aj, yj, true)
		n.B("", done)
		n.Label(lanes)
		t.tile(rows, group{n: n, vecs: 1, part: true, rem: c}, aj, yj, false)
		n.Label(done)
	})
}

// storeLast stores the last rem lanes of v, the 4 elements ending at
// end, to their places (lane 3 at end − 4, …); end is consumed.
func (t gerTilesNEON) storeLast(v vreg, rem, end greg) {
	n := t.n
	done := n.label("last")
	n.SUB(imm(4), end, end)
	n.ins("VST1 %s, (%v)", v.lane(3), end)
	for i := 2; i >= 1; i-- {
		// Lane i when rem ≥ 4 − i.
		n.CMP(imm(neonLanes-1-i), rem)
		n.B("LE", done)
		n.SUB(imm(4), end, end)
		n.ins("VST1 %s, (%v)", v.lane(i), end)
	}
	n.Label(done)
}

// tile emits the update of rows rows × the vectors of g of A at aj, with
// the columns of Y at yj; both then advance past the tile. With last, g's
// partial vector is taken whole, as the 4 elements that end where it ends
// (the row has 4 or more), and only its own lanes are stored.
func (t gerTilesNEON) tile(rows int, g group, aj, yj greg, last bool) {
	n := t.n
	n.scope(func() {
		store := g.store
		if last {
			// Back by 4 − rem elements, whole vectors from there.
			rem, back := g.rem, n.gp()
			n.LSL(imm(2), rem, back)
			n.SUB(imm(16), back, back)
			n.ADD(back, aj, aj)
			n.ADD(back, yj, yj)
			g = group{n: n, vecs: 1}
			store = func(vs []vreg, p greg) {
				n.ADD(imm(16), p, p)
				t.storeLast(vs[0], rem, p)
			}
		}
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
		rowsAt(func(r int, p greg) { store(acc[r], p) })
		if !g.part {
			n.ADD(imm(16*g.vecs), aj, aj)
			n.ADD(imm(16*g.vecs), yj, yj)
		}
	})
}

// The widths of Y that gerBatchTransposed takes: 2 … 4 blocks of 4
// columns (16 columns are gerBatch's whole 4-vector tiles). Tiles of 8 rows
// take up to 3 blocks (24 accumulators, 2 vectors of x, 3 of y and alpha
// fill the registers), tiles of 4 rows all 4.
const (
	neonGerTransposedMinCols    = 5
	neonGerTransposedMaxCols    = 15
	neonGerTransposedWideBlocks = 3 // the most blocks a tile of 8 rows holds
)

// gerBatchTransposed (twin: gerBatchGeneric) is gerBatch for Y rows of 5 …
// 15 elements (a 10-class head), where gerBatch's tiles of one vector per
// row keep 4 accumulators, each waiting on its own last FMLA. As ger.go's
// gerBatchTransposed, it turns the tile around: a tile is 8 rows × n
// columns of A held as column vectors of 4 rows, in blocks of 4 columns,
// the last block the rows' last 4 columns (it overlaps the block before;
// the columns they share get the same sums in both). Per sample it loads
// alpha·x_p for the tile's rows as 2 vectors and adds their products with
// each y_pj, a lane of one of y_p's blocks (FMLA by element): 16 or 24
// independent accumulators. The tile starts as A, loaded and transposed in
// registers, so that each element gets the twin's products in the twin's
// order, and is transposed back and stored once. Rows past the last tile
// of 8 (all rows, for 13 … 15 columns) take tiles of 4, then gerBatch's
// tiles of one row.
func (n *neon) gerBatchTransposed() {
	n.text("gerBatchTransposed", "func(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int)",
		"gerBatchGeneric",
		"k = len(x)/m = len(y)/n ≥ 1, 5 ≤ n ≤ 15 (gerBatchTransposedMinColsNEON, gerBatchTransposedMaxColsNEON);",
		"a holds m rows of stride lda, the last one n long.")
	n.goConst("gerBatchTransposedMinColsNEON", neonGerTransposedMinCols, "gerBatchTransposedMinColsNEON is the narrowest Y gerBatchTransposedNEON takes.")
	n.goConst("gerBatchTransposedMaxColsNEON", neonGerTransposedMaxCols, "gerBatchTransposedMaxColsNEON is the widest Y gerBatchTransposedNEON takes.")
	g, rowsLeft := n.gerTiles()
	// last: the offset of the last block of a row of A or Y, 4·(n − 4).
	last := n.gp()
	n.SUB(imm(4*neonLanes), g.n4, last)
	rest := n.label("rest")
	maxBlocks := (neonGerTransposedMaxCols + neonLanes - 1) / neonLanes
	for blocks := 2; blocks <= maxBlocks; blocks++ {
		next := n.label("blocks")
		if blocks < maxBlocks {
			n.CMP(imm(4*blocks*neonLanes), g.n4)
			n.B("GT", next)
		}
		tiles := []int{2 * neonLanes, neonLanes}
		if blocks > neonGerTransposedWideBlocks {
			tiles = tiles[1:]
		}
		for _, rows := range tiles {
			// Tiles of rows rows while as many are left.
			top, fewer := n.label("tiles"), n.label("fewer")
			n.Label(top)
			n.CMP(imm(rows), rowsLeft)
			n.B("LT", fewer)
			g.transposedTile(rows, blocks, last)
			n.ADD(shifted(g.lda4, bits.TrailingZeros(uint(rows))), g.a, g.a)
			n.ADD(imm(4*rows), g.x, g.x)
			n.SUB(imm(rows), rowsLeft, rowsLeft)
			n.B("", top)
			n.Label(fewer)
		}
		n.B("", rest)
		n.Label(next)
	}
	// The last 0 … 3 rows, one at a time.
	n.Label(rest)
	g.singleRows(rowsLeft)
	n.ret()
}

// transposedTile emits gerBatchTransposed's update of rows (4 or 8) rows
// at a, of blocks blocks of 4 columns, the last at offset last of each row
// (and of each sample of Y).
func (t gerTilesNEON) transposedTile(rows, blocks int, last greg) {
	n := t.n
	n.scope(func() {
		// acc[h][4b+j]: column j of block b, for rows 4h … 4h+3.
		acc := make([][]vreg, rows/neonLanes)
		for h := range acc {
			acc[h] = n.vecs(neonLanes * blocks)
		}
		// rowsAt calls f with each row r of the tile: its address and
		// its last block's.
		rowsAt := func(f func(r int, p, pl greg)) {
			n.scope(func() {
				p, pl := n.gp(), n.gp()
				n.MOVD(t.a, p)
				for r := range rows {
					if r > 0 {
						n.ADD(t.lda4, p, p)
					}
					n.ADD(last, p, pl)
					f(r, p, pl)
				}
			})
		}
		// transposeAll turns every 4×4 block of the tile around.
		transposeAll := func() {
			for h := range acc {
				for b := range blocks {
					n.transpose4(acc[h][4*b], acc[h][4*b+1], acc[h][4*b+2], acc[h][4*b+3])
				}
			}
		}
		rowsAt(func(r int, p, pl greg) {
			h, i := r/neonLanes, r%neonLanes
			for b := range blocks - 1 {
				n.LDRQ(p, 16*b, acc[h][4*b+i])
			}
			n.LDRQ(pl, 0, acc[h][4*(blocks-1)+i])
		})
		transposeAll()
		xp, yp, ypl := n.gp(), n.gp(), n.gp()
		n.MOVD(t.x, xp)
		n.MOVD(t.y, yp)
		n.ADD(last, t.y, ypl)
		samples := n.label("samples")
		n.counted(fmt.Sprintf("%d×%d transposed multiply-add", rows, neonLanes*blocks), fmt.Sprintf("%d multiply-adds", rows*neonLanes*blocks), func() {
			n.Label(samples)
			n.scope(func() {
				// alpha·x_pi for the tile's rows (consecutive in x_p),
				// rounded to float32 as in the twin.
				xs := n.vecs(len(acc))
				n.VLD1step(xp, t.m4, xs...)
				for _, v := range xs {
					n.FMUL(t.alpha, v, v)
				}
				ys := n.vecs(blocks - 1)
				n.VLD1step(yp, t.n4, ys...)
				yl := n.vec()
				n.VLD1step(ypl, t.n4, yl)
				ys = append(ys, yl)
				for h, xv := range xs {
					for b, yv := range ys {
						for j := range neonLanes {
							n.FMLAe(yv, j, xv, acc[h][4*b+j]) // acc += (alpha·x_pi)·y_pj
						}
					}
				}
			})
			n.CMP(t.xend, xp)
			n.B("LO", samples)
		})
		transposeAll()
		rowsAt(func(r int, p, pl greg) {
			h, i := r/neonLanes, r%neonLanes
			for b := range blocks - 1 {
				n.STRQ(acc[h][4*b+i], p, 16*b)
			}
			n.STRQ(acc[h][4*(blocks-1)+i], pl, 0)
		})
	})
}
