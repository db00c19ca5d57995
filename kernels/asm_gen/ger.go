package main

import (
	"fmt"
	"math/bits"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gerRegisterY is the widest y, in vectors, that ger keeps in registers.
const gerRegisterY = 4

// ger (twin: gerGeneric): for each row i, a_i· += (alpha·x_i)·y, one FMA per
// element. Rows of up to gerRegisterY vectors take a loop of their own with y
// in registers and no inner loop, one per number of vectors; longer rows
// take a pass each.
func ger(is *isa) {
	is.text("ger", "func(a []float32, lda int, alpha float32, x, y []float32)", "gerGeneric",
		"a holds len(x) rows of stride lda, the last one len(y) long.")
	g := gerRows{is: is}
	g.a, g.lda4 = load(Param("a").Base()), load(Param("lda"))
	SHLQ(U8(2), g.lda4)
	g.x, g.y = load(Param("x").Base()), load(Param("y").Base())
	g.xend, g.n = endOf(g.x, Param("x").Len()), load(Param("y").Len())
	g.alpha = is.vec()
	VBROADCASTSS(paramMem("alpha"), g.alpha)
	g.done = label("done")
	wide := label("wide")

	// Rows of up to gerRegisterY vectors: the vectors of y (full ones, then
	// the part vector that ends at the row's end, or one masked vector) in
	// registers, and per row all loads of a before its stores.
	CMPQ(g.n, U8(gerRegisterY*is.lanes))
	JA(wide)
	for full := -1; full < gerRegisterY; full++ {
		next := label("yregs")
		g.yInRegisters(full, next)
		Label(string(next))
	}
	Label(string(wide))
	g.wideRows()
	Label(string(g.done))
	ret()
}

// gerRows is ger's state: the pointers it moves along the rows of a and x,
// y and its length n, alpha in every lane.
type gerRows struct {
	is                     *isa
	a, lda4, x, y, xend, n GPVirtual
	alpha                  VecVirtual
	done                   LabelRef
}

// coef returns alpha·x_i, rounded to float32 as in the twin, in every lane.
func (g gerRows) coef() VecVirtual {
	c := g.is.vec()
	VBROADCASTSS(Mem{Base: g.x}, c)
	VMULPS(g.alpha, c, c)
	return c
}

// yInRegisters emits the rows for a y of full vectors and the part vector,
// full·lanes < n ≤ (full+1)·lanes, or for full = −1 of n < lanes, one
// masked vector (or, with halves, one masked vector up to lanes/2 and two
// half vectors above); a y of another length jumps to next.
func (g gerRows) yInRegisters(full int, next LabelRef) {
	is := g.is
	var vs []vecAt
	if full < 0 {
		CMPQ(g.n, U8(is.lanes))
		JAE(next)
		if is.halves {
			halves := label("halves")
			CMPQ(g.n, U8(is.lanes/2))
			JA(halves)
			g.rows([]vecAt{{tail: is.firstLanes(g.n)}})
			Label(string(halves))
			lo, hi := is.halfVecs(g.n)
			vs = []vecAt{lo, hi}
		} else {
			vs = []vecAt{{tail: is.firstLanes(g.n)}}
		}
	} else {
		CMPQ(g.n, U8((full+1)*is.lanes))
		JA(next)
		for j := range full {
			vs = append(vs, vecAt{off: j * is.bytes()})
		}
		vs = append(vs, vecAt{idx: g.n, off: -is.bytes()})
	}
	g.rows(vs)
}

// rows emits the loop over the rows with the vectors vs of y in registers,
// then a jump to done.
func (g gerRows) rows(vs []vecAt) {
	is := g.is
	ys := make([]VecVirtual, len(vs))
	for j, v := range vs {
		ys[j] = v.load(is, Mem{Base: g.y})
	}
	rowLoopTo(g.x, g.xend, func() {
		c := g.coef()
		rs := make([]VecVirtual, len(vs))
		for j, v := range vs {
			rs[j] = v.load(is, Mem{Base: g.a})
			VFMADD231PS(ys[j], c, rs[j]) // a_ij += c·y_j
		}
		for j, v := range vs {
			v.store(rs[j], Mem{Base: g.a})
		}
		ADDQ(g.lda4, g.a)
		ADDQ(U8(4), g.x)
	})
	JMP(g.done)
}

// wideRows emits the loop over the rows for a longer y: a pass per row.
func (g gerRows) wideRows() {
	is := g.is
	rowLoopTo(g.x, g.xend, func() {
		c := g.coef()
		pa, py := GP64(), GP64()
		MOVQ(g.a, pa)
		MOVQ(g.y, py)
		pass{is: is, ptrs: []GPVirtual{py, pa}, unroll: 4, group: oneAtATime(func(v vecAt) func(vecAt) {
			r := v.load(is, Mem{Base: pa})
			VFMADD231PS(v.src(is, Mem{Base: py}), c, r) // a_ij += c·y_j
			return func(w vecAt) { w.store(r, Mem{Base: pa}) }
		})}.emit(g.n)
		ADDQ(g.lda4, g.a)
		ADDQ(U8(4), g.x)
	})
}

// gerBatch (twin: gerBatchGeneric): A += alpha·Xᵀ·Y with X k×m and Y k×n,
// as a register-blocked micro-kernel. For each tile of A (a few rows × a few
// vectors) the accumulators start at 0, the k samples stream through them in
// order (acc_ij += x_pi·y_pj: per sample, one load of each vector of y, one
// broadcast of each x_pi, one FMA per row and vector), and then the tile of
// A is loaded, updated (a_ij += alpha·acc_ij) and stored, once. The twin
// adds (alpha·x_pi)·y_pj to a_ij sample by sample instead: the same sum in
// another association, which moves alpha out of the inner loop and A's
// loads and stores out of it too; the fuzz test bounds the difference.
//
// Rows come in groups of gerRows, then at most one group of each power of 2
// below it for the rest, so that no row runs alone through a loop bound by
// an FMA's latency. See columns for the columns.
//
// Each FMA needs a broadcast of x_pi unless the row has several vectors:
// with one vector per row (n ≤ lanes), the loads, not the FMAs, set the
// pace. On AVX-512 that makes 16-wide rows no faster than AVX2's two
// 8-wide vectors, and 10-wide rows slower: gerBatchTransposed takes those, and
// AVX2's routine the rest (dispatch_amd64.go).
func gerBatch(is *isa) {
	is.text("gerBatch", "func(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int)",
		"gerBatchGeneric",
		"k = len(x)/m = len(y)/n ≥ 1; a holds m rows of stride lda, the last one n long.")
	a, lda4 := load(Param("a").Base()), load(Param("lda"))
	SHLQ(U8(2), lda4)
	xi, m4 := load(Param("x").Base()), load(Param("m"))
	SHLQ(U8(2), m4)
	y, n4 := load(Param("y").Base()), load(Param("n"))
	SHLQ(U8(2), n4)
	// The loop over the k samples of a tile ends when its pointer into x
	// reaches xend = x + 4·len(x): from x + 4·i + 4·p·m it gets there at
	// p = k, for every row i < m.
	xend, rowsLeft := AllocLocal(8), AllocLocal(8)
	MOVQ(endOf(xi, Param("x").Len()), xend)
	rl := load(Param("m"))
	MOVQ(rl, rowsLeft)

	g := gerTiles{is: is, a: a, lda4: lda4, xi: xi, m4: m4, y: y, n4: n4, xend: xend}
	g.rowGroups(rowsLeft, is.gerRows, is.gerVecs)
	ret()
}

// gerTiles holds the registers of gerBatch: the current rows of A (a) and
// of X's columns (xi), the byte strides and Y.
type gerTiles struct {
	is                     *isa
	a, lda4, xi, m4, y, n4 GPVirtual
	xend                   Mem
}

// rowGroups updates the rowsLeft rows at a in groups of groupRows rows while
// there are that many, then in at most one group of each power of 2 below
// groupRows, in tiles of up to tileVecs vectors.
func (g gerTiles) rowGroups(rowsLeft Mem, groupRows, tileVecs int) {
	rest, top := label("rest"), label("rows")
	Label(string(top))
	CMPQ(rowsLeft, U32(groupRows))
	JB(rest)
	g.columns(groupRows, tileVecs)
	g.next(rowsLeft, groupRows)
	JMP(top)
	Label(string(rest))
	for s := 1 << (bits.Len(uint(groupRows-1)) - 1); s >= 1; s /= 2 {
		skip := label("rows")
		CMPQ(rowsLeft, U32(s))
		JB(skip)
		g.columns(s, tileVecs)
		g.next(rowsLeft, s)
		Label(string(skip))
	}
}

// columns updates the rows rows at a, all n columns, tile by tile: tiles
// of tileVecs vectors while that many columns are left; then, if at least a
// vector's worth is left, one tile of full vectors and the part vector that
// ends at the row's end (its lanes shared with the vector before it are
// loaded, updated and stored alike, from the same values: the same
// result); else one masked vector.
func (g gerTiles) columns(rows, tileVecs int) {
	is := g.is
	aj, yj, c := GP64(), GP64(), GP64()
	MOVQ(g.a, aj)
	MOVQ(g.y, yj)
	Load(Param("n"), c)
	done, next, top := label("coldone"), label("cols"), label("tiles")
	CMPQ(c, U32(tileVecs*is.lanes))
	JB(next)
	Label(string(top))
	vs := make([]vecAt, tileVecs)
	for j := range vs {
		vs[j] = vecAt{off: j * is.bytes()}
	}
	g.tile(rows, vs, aj, yj)
	ADDQ(U32(tileVecs*is.bytes()), aj)
	ADDQ(U32(tileVecs*is.bytes()), yj)
	SUBQ(U32(tileVecs*is.lanes), c)
	CMPQ(c, U32(tileVecs*is.lanes))
	JAE(top)
	Label(string(next))
	// c < tileVecs·lanes columns left: j full vectors and the part vector for
	// max(j·lanes+1, lanes) ≤ c ≤ (j+1)·lanes, j = tileVecs−1 … 0.
	for j := tileVecs - 1; j >= 0; j-- {
		skip := label("cols")
		CMPQ(c, U32(max(j*is.lanes+1, is.lanes)))
		JB(skip)
		vs := make([]vecAt, j+1)
		for i := range j {
			vs[i] = vecAt{off: i * is.bytes()}
		}
		vs[j] = vecAt{idx: c, off: -is.bytes()}
		g.tile(rows, vs, aj, yj)
		JMP(done)
		Label(string(skip))
	}
	TESTQ(c, c)
	JZ(done)
	g.tile(rows, []vecAt{{tail: is.firstLanes(c)}}, aj, yj)
	Label(string(done))
}

// tile emits the update of rows rows × the vectors vs of A at aj, with the
// columns of Y at yj: the accumulators cleared, the tile of A prefetched,
// the samples, then alpha·acc added to A.
func (g gerTiles) tile(rows int, vs []vecAt, aj, yj GPVirtual) {
	acc := g.is.zeroTile(rows, len(vs))
	g.prefetchTile(rows, vs, aj)
	g.samples(acc, vs, yj)
	g.addTile(acc, vs, aj)
}

// zeroTile returns rows × vecs accumulators set to 0.
func (is *isa) zeroTile(rows, vecs int) [][]VecVirtual {
	acc := make([][]VecVirtual, rows)
	for r := range acc {
		for range vecs {
			v := is.vec()
			VXORPS(v, v, v)
			acc[r] = append(acc[r], v)
		}
	}
	return acc
}

// prefetchTile asks for the tile of A at aj, read only after the samples,
// so that its rows (apart by lda, in lines no prefetcher predicts) arrive
// while the samples stream.
func (g gerTiles) prefetchTile(rows int, vs []vecAt, aj GPVirtual) {
	Comment("Prefetch the tile of A.")
	pa := GP64()
	MOVQ(aj, pa)
	for r := range rows {
		if r > 0 {
			ADDQ(g.lda4, pa)
		}
		for _, v := range vs {
			if v.tail != nil {
				continue
			}
			m := v.at(Mem{Base: pa})
			PREFETCHT0(m)
			PREFETCHT0(m.Offset(g.is.bytes() - 4))
		}
	}
}

// samples emits the loop over the samples p: per sample, the vectors of
// Y's row p at yj and, per row i of the tile, acc_i += x_pi·y_p.
func (g gerTiles) samples(acc [][]VecVirtual, vs []vecAt, yj GPVirtual) {
	is := g.is
	Comment("Per sample: load y_p, then per row acc_i += x_pi·y_p.")
	xp, yp := GP64(), GP64()
	MOVQ(g.xi, xp)
	MOVQ(yj, yp)
	top := label("samples")
	Label(string(top))
	ys := make([]VecVirtual, len(vs))
	for j, v := range vs {
		ys[j] = v.load(is, Mem{Base: yp})
	}
	for r := range acc {
		xpr := Mem{Base: xp, Disp: 4 * r}
		if len(vs) == 1 && is.bcst {
			VFMADD231PS_BCST(xpr, ys[0], acc[r][0]) // acc += x_pi·y_p
			continue
		}
		b := is.vec()
		VBROADCASTSS(xpr, b)
		for j := range vs {
			VFMADD231PS(ys[j], b, acc[r][j]) // acc += x_pi·y_pj
		}
	}
	ADDQ(g.m4, xp)
	ADDQ(g.n4, yp)
	CMPQ(xp, g.xend)
	JB(top)
}

// addTile stores a + alpha·acc to the tile of A at aj. All of the tile's
// loads come before its stores: a part vector shares lanes with the vector
// before it, and a masked store followed by a load of the next row, which
// overlaps it, would wait for the store to leave the store buffer. The
// accumulators take the results.
func (g gerTiles) addTile(acc [][]VecVirtual, vs []vecAt, aj GPVirtual) {
	is := g.is
	Comment("The tile of A: all loads and FMAs (acc = alpha·acc + a), then the stores.")
	alpha := is.vec()
	VBROADCASTSS(paramMem("alpha"), alpha)
	ar := GP64()
	MOVQ(aj, ar)
	for r := range acc {
		if r > 0 {
			ADDQ(g.lda4, ar)
		}
		for j, v := range vs {
			VFMADD213PS(v.src(is, Mem{Base: ar}), alpha, acc[r][j]) // acc = alpha·acc + a
		}
	}
	MOVQ(aj, ar)
	for r := range acc {
		if r > 0 {
			ADDQ(g.lda4, ar)
		}
		for j, v := range vs {
			v.store(acc[r][j], Mem{Base: ar})
		}
	}
}

// gerTransposedMaxCols is the widest Y that gerBatchTransposed takes: its tiles hold
// 2·n column vectors, and its epilogue transposes one half of them while
// the other half waits in registers.
const gerTransposedMaxCols = 11

// gerBatchTransposed (twin: gerBatchGeneric) is gerBatch for Y rows of
// lanes/2 < n ≤ gerTransposedMaxCols elements (a 10-class head) on AVX-512, where
// gerBatch's one vector per row of A would need a broadcast of x per FMA
// and leave lanes empty. It turns the tile around: a tile is 2·lanes rows
// × n columns of A held as n pairs of column vectors (lanes rows each), so
// that per sample it loads 2 vectors of x (x_p,i … i+2·lanes−1, contiguous),
// broadcasts each y_pj once and does 2n FMAs with every lane in use. At the
// end each half of the tile is transposed in registers, and each row of A
// gets a += alpha·acc as two 8-wide vectors, the second ending at the row's
// end (no masked store: the next row's loads must not wait for one). Rows
// past the last tile of 2·lanes take a tile of lanes rows, then one of the
// rest, loaded masked. Each element gets the same products as gerBatch's,
// summed in the same order.
func gerBatchTransposed(is *isa) {
	is.text("gerBatchTransposed", "func(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int)",
		"gerBatchGeneric",
		fmt.Sprintf("k = len(x)/m = len(y)/n ≥ 1, %d ≤ n ≤ %d (gerBatchTransposedMinCols, gerBatchTransposedMaxCols); a holds m rows of stride lda, the last one n long.",
			gerTransposedMinCols(is), gerTransposedMaxCols))
	a, lda4 := load(Param("a").Base()), load(Param("lda"))
	SHLQ(U8(2), lda4)
	xi, m4 := load(Param("x").Base()), load(Param("m"))
	SHLQ(U8(2), m4)
	y, n := load(Param("y").Base()), load(Param("n"))
	n4 := GP64()
	MOVQ(n, n4)
	SHLQ(U8(2), n4)
	xend, rowsLeft := AllocLocal(8), AllocLocal(8)
	MOVQ(endOf(xi, Param("x").Len()), xend)
	rl := load(Param("m"))
	MOVQ(rl, rowsLeft)
	g := gerTiles{is: is, a: a, lda4: lda4, xi: xi, m4: m4, y: y, n4: n4, xend: xend}
	done := label("done")
	for nn := gerTransposedMinCols(is); nn <= gerTransposedMaxCols; nn++ {
		next := label("n")
		CMPQ(n, U8(nn))
		JNE(next)
		// Tiles of 2·lanes rows, then one of lanes, then the rest.
		top, rest, last := label("tiles"), label("rest"), label("last")
		Label(string(top))
		CMPQ(rowsLeft, U8(2*is.lanes))
		JB(rest)
		g.transposedTile(nn, 2, nil)
		g.next(rowsLeft, 2*is.lanes)
		JMP(top)
		Label(string(rest))
		CMPQ(rowsLeft, U8(is.lanes))
		JB(last)
		g.transposedTile(nn, 1, nil)
		g.next(rowsLeft, is.lanes)
		Label(string(last))
		CMPQ(rowsLeft, U8(0))
		JE(done)
		r := GP64()
		MOVQ(rowsLeft, r)
		g.transposedTile(nn, 1, r)
		JMP(done)
		Label(string(next))
	}
	// Any other n: the dispatch never asks for one (limits_amd64.go), and
	// a routine that returned having done nothing would be a silent wrong
	// result, so it faults.
	UD2()
	Label(string(done))
	ret()
}

// next moves a and xi on by rows rows and takes them off rowsLeft.
func (g gerTiles) next(rowsLeft Mem, rows int) {
	if rows == 1 {
		ADDQ(g.lda4, g.a)
	} else {
		t := GP64()
		IMUL3Q(U32(rows), g.lda4, t)
		ADDQ(t, g.a)
	}
	ADDQ(U32(4*rows), g.xi)
	SUBQ(U32(rows), rowsLeft)
}

// transposedTile emits gerBatchTransposed's update of the rows at a: rv·lanes of
// them, or, if rem is not nil, the rem < lanes that are left: the
// accumulators cleared, the samples, then each half turned back into rows
// and added to A.
func (g gerTiles) transposedTile(nn, rv int, rem GPVirtual) {
	is := g.is
	acc := is.zeroTile(nn, rv)
	var mask tail
	if rem != nil {
		mask = is.firstLanes(rem)
	}
	g.transposedSamples(acc, mask)
	g.addTransposed(acc, rem)
}

// transposedSamples emits the loop over the samples p: per sample, rv
// vectors of x_p (masked with mask, if not nil) and, per column j,
// acc_j += x_p·y_pj.
func (g gerTiles) transposedSamples(acc [][]VecVirtual, mask tail) {
	is := g.is
	Comment("Per sample: load x_p, then per column acc_j += x_p·y_pj.")
	xp, yp := GP64(), GP64()
	MOVQ(g.xi, xp)
	MOVQ(g.y, yp)
	top := label("samples")
	Label(string(top))
	rv := len(acc[0])
	xv := make([]VecVirtual, rv)
	for v := range xv {
		if mask != nil {
			xv[v] = mask.load(Mem{Base: xp})
		} else {
			xv[v] = is.vec()
			VMOVUPS(Mem{Base: xp, Disp: v * is.bytes()}, xv[v])
		}
	}
	for j := range acc {
		b := is.vec()
		VBROADCASTSS(Mem{Base: yp, Disp: 4 * j}, b)
		for v := range rv {
			VFMADD231PS(xv[v], b, acc[j][v]) // acc_ij += x_pi·y_pj
		}
	}
	ADDQ(g.m4, xp)
	ADDQ(g.n4, yp)
	CMPQ(xp, g.xend)
	JB(top)
}

// addTransposed transposes each vector's worth of rows of acc (nn column
// vectors) back into rows and adds alpha times each to its row of A at a,
// as two 8-wide vectors, the second ending at the row's end (no masked
// store: the next row's loads must not wait for one); with rem, only the
// first rem rows.
func (g gerTiles) addTransposed(acc [][]VecVirtual, rem GPVirtual) {
	is := g.is
	Comment("Each half of the tile turned back into rows, then per row a += alpha·acc.")
	nn, rv := len(acc), len(acc[0])
	alpha, none := is.vec(), is.vec()
	VBROADCASTSS(paramMem("alpha"), alpha)
	zero(none)
	ar := GP64()
	MOVQ(g.a, ar)
	end := label("rowsdone")
	half := is.bytes() / 2
	for v := range rv {
		cols := make([]VecVirtual, is.lanes)
		for j := range cols {
			cols[j] = none
			if j < nn {
				cols[j] = acc[j][v]
			}
		}
		rows := is.transpose(cols)
		for r, row := range rows {
			if rem != nil {
				CMPQ(rem, U8(r))
				JBE(end)
			}
			if r > 0 || v > 0 {
				ADDQ(g.lda4, ar)
			}
			// Columns 0 … 7 and nn−8 … nn−1: both loaded before either
			// is stored, so the lanes they share get the same sum.
			upper := is.vec()
			VALIGND(U8(nn-half/4), row, row, upper)
			lo, hi := YMM(), YMM()
			VMOVUPS(Mem{Base: ar}, lo)
			VMOVUPS(Mem{Base: ar, Disp: 4*nn - half}, hi)
			VFMADD231PS(alpha.AsY(), row.AsY(), lo) // a += alpha·acc
			VFMADD231PS(alpha.AsY(), upper.AsY(), hi)
			VMOVUPS(lo, Mem{Base: ar})
			VMOVUPS(hi, Mem{Base: ar, Disp: 4*nn - half})
		}
	}
	Label(string(end))
}
