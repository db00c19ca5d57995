package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// zeroConst is 0, for registers that must start at 0 without being read.
var zeroConst = constant{"zero", 0}

// gemmTileRows is how many rows of Ã share one base register in gemmTile:
// each row is addressed as base + {0, 1, 2}·ars, the scales an x86 address
// can take of the stride register.
const gemmTileRows = 3

// gemmShape emits a routine that returns the register tiles of gemmTile
// and gemmTileT, so that the Go driver packs its panels for exactly the
// tiles the generator emits.
func gemmShape(is *isa) {
	is.text("gemmShape", "func() (mr, nr, mrT, nrT int)", "the generic tile's gemmMRGeneric and gemmNRGeneric",
		"It returns the rows and columns of the register tiles of gemmTile"+is.suffix+" and gemmTileT"+is.suffix+".")
	r := GP64()
	for _, ret := range []struct {
		name  string
		value int
	}{
		{"mr", is.gerRows}, {"nr", is.gerVecs * is.lanes},
		{"mrT", is.gemmRowsT()}, {"nrT", is.gerVecs * is.lanes},
	} {
		MOVQ(U32(ret.value), r)
		Store(r, Return(ret.name))
	}
	RET()
}

// gemmRowsT is the rows of gemmTileT's tile: as many as let the tile's
// transpose (a lanes×lanes block per vector of columns, padded with zero
// rows) fit in the registers beside the other vectors' accumulators: 10 of
// AVX-512's 32 (a 10-class head in one tile), half a vector of AVX2's 16.
func (is *isa) gemmRowsT() int {
	if is.regs >= 32 {
		return 10
	}
	return is.lanes / 2
}

// gemmTile (twin: gemmTileGeneric) is Gemm's micro-kernel: a block of C,
// m rows × n columns, in rows of tiles of gerRows rows (a panel of Ã each)
// and along each row one panel of B̃ (nr = gerVecs·lanes columns) at a time,
// gets alpha·Ã·B̃, added to C (add) or written over it (C is then not
// read). The loops over the rows and panels are here rather than in Go:
// with a short k, a call per tile cost as much as the tile. A panel of Ã
// holds gerRows rows whose element (r, p) is at a + 4·(r·ars + p·aps), the
// panels anext apart; B̃'s are kc rows of gerVecs vectors, bnext apart. The
// accumulators, gerRows × gerVecs vectors, start at 0; per p, the vectors of
// B̃'s row p (at b + 4·p·bps: packed, or in place in B) are loaded once and
// each row's element of Ã is broadcast and multiplied into them, one FMA
// per accumulator. The whole tile is then scaled by alpha and added to C
// with one FMA per vector: masked where the tile is cut short at the edge
// of C (rows left < gerRows, columns left < the vectors' width), whole
// otherwise.
func gemmTile(is *isa) {
	is.text("gemmTile", "func(kc int, a []float32, ars, aps, anext int, b []float32, bps, bnext int, c []float32, ldc, m, n int, alpha float32, add bool)",
		"gemmTileGeneric",
		fmt.Sprintf("kc, m, n ≥ 1; the panels of Ã, anext apart, %d rows each (past m, zeros); the panels of B̃, bnext apart, kc rows of %d at stride bps (past n, zeros);",
			is.gerRows, is.gerVecs*is.lanes),
		"c holds m rows of stride ldc, the last one n long.")
	t := gemmAccumulate(is, is.gerRows, is.gerVecs, is.gerRows, is.gerVecs*is.bytes(), U32(is.gerVecs*is.bytes()))
	edge := label("edge")
	CMPQ(t.mr, U32(t.rows()))
	JNE(edge)
	CMPQ(t.nr, U32(is.gerVecs*is.lanes))
	JNE(edge)

	Comment("A whole tile.")
	whole := make([]vecAt, is.gerVecs)
	for v := range whole {
		whole[v] = vecAt{off: v * is.bytes()}
	}
	t.storeAddOrNot(func(add bool) { t.storeWhole(whole, add) })

	Label(string(edge))
	Comment("A tile cut short by C's edge: mr rows, and per vector the lanes left of nr.")
	part := make([]vecAt, is.gerVecs)
	for v := range part {
		e := GP64()
		lanesLeft(e, t.nr, v*is.lanes, is.lanes)
		part[v] = vecAt{off: v * is.bytes(), tail: is.firstLanes(e)}
	}
	t.storeAddOrNot(func(add bool) { t.storeRows(part, t.mr, add) })
	t.nextPanel()
	ret()
}

// gemmTileT (twin: gemmTileTGeneric) is gemmTile for a tile of Cᵀ: the
// accumulators are those of gemmTile on gemmRowsT rows, and the element
// (r, j) of the tile goes to c[j·ldc + r]. Gemm runs on Cᵀ = op(B)ᵀ·op(A)ᵀ
// when that packs less or fills the tiles better (a few rows of C, or a
// few columns: a 10-class head). Per vector of columns, the accumulators
// are transposed in registers (padded with zero rows to a square block),
// and each of C's rows gets the tile's mr elements as the first lanes of a
// vector.
func gemmTileT(is *isa) {
	R := is.gemmRowsT()
	is.text("gemmTileT", "func(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc, mr, nr int, alpha float32, add bool)",
		"gemmTileTGeneric",
		fmt.Sprintf("kc ≥ 1; Ã is %d rows (past mr, zeros), B̃ kc rows of %d at stride bps (past nr, zeros); c holds nr rows of stride ldc, the last one mr long.",
			R, is.gerVecs*is.lanes))
	t := gemmAccumulate(is, R, is.gerVecs, is.gerVecs*is.lanes, 4*R, nil)
	edge := label("edge")
	CMPQ(t.mr, U32(R))
	JNE(edge)
	CMPQ(t.nr, U32(is.gerVecs*is.lanes))
	JNE(edge)
	Comment("A whole tile.")
	t.storeAddOrNot(func(add bool) { t.storeColumns(t.rowOfCols(R), nil, add) })

	Label(string(edge))
	Comment("A tile cut short by C's edge: nr rows of C, mr columns, masked.")
	t.storeAddOrNot(func(add bool) {
		// The mask is made at the first row's store, after the first
		// transpose: made before, it would take a register the transpose
		// needs on AVX2.
		var part *vecAt
		t.storeColumns(func(col VecVirtual, m Mem, add bool) {
			if part == nil {
				part = &vecAt{tail: is.firstLanes(t.mr)}
			}
			t.update(col, *part, m, add)
		}, t.nr, add)
	})
	t.nextPanel()
	ret()
}

// gemmTiles holds the registers of a micro-kernel after its loop: the
// accumulators, alpha, the add flag, C, its stride in bytes, and the
// tile's rows and columns within C.
type gemmTiles struct {
	is      *isa
	acc     [][]VecVirtual
	alpha   VecVirtual
	add     GPVirtual
	c, ldc4 GPVirtual
	mr, nr  GPVirtual
	done    LabelRef
	// The loops over the rows of tiles and the panels, if cNext is set:
	// their tops, the state in the frame (the rows left, the panel of Ã,
	// the row of C; the columns left, the panel of B̃, the tile of C), and
	// C's step along a row (see nextPanel).
	rowTop, top            LabelRef
	rowsLeft, aPanel, cRow Mem
	left, panel, tile      Mem
	nrMax                  int
	cNext                  Op
}

func (t gemmTiles) rows() int { return len(t.acc) }

// gemmAccumulate emits the micro-kernel's loop for a tile of tileRows rows
// × tileVecs vectors: acc_rv = Σ_p Ã_rp·B̃_p,v. Before it, it prefetches the
// tile's cRows rows of C, cRowBytes each. With cNext set, the tile is in two
// loops, over the rows of tiles (Ã's panels) and along each (B̃'s panels).
func gemmAccumulate(is *isa, tileRows, tileVecs, cRows, cRowBytes int, cNext Op) gemmTiles {
	t := gemmTiles{is: is, nrMax: tileVecs * is.lanes, cNext: cNext, done: label("done")}
	if cNext != nil {
		t.enterPanels()
	}
	kc := load(Param("kc"))
	ars4, aps4 := load(Param("ars")), load(Param("aps"))
	SHLQ(U8(2), ars4)
	SHLQ(U8(2), aps4)
	b, bps4 := t.from("b", t.panel), load(Param("bps"))
	SHLQ(U8(2), bps4)
	a := t.rowsOfA(tileRows, ars4)
	acc := is.zeroAccumulators(tileRows, tileVecs)
	c, ldc4 := t.from("c", t.tile), load(Param("ldc"))
	SHLQ(U8(2), ldc4)
	prefetchC(c, ldc4, cRows, cRowBytes)
	is.gemmSamples(acc, a, b, bps4, aps4, kc)

	t.acc, t.c, t.ldc4 = acc, c, ldc4
	t.alpha = is.vec()
	VBROADCASTSS(paramMem("alpha"), t.alpha)
	t.add = GP64()
	Load(Param("add"), t.add)
	if cNext == nil {
		t.mr, t.nr = load(Param("mr")), load(Param("nr"))
		return t
	}
	t.clipTile(tileRows)
	return t
}

// enterPanels emits the tops of the loops over the rows of tiles and the
// panels, with their state in the frame.
func (t *gemmTiles) enterPanels() {
	Comment("The rows of tiles, a panel of Ã at a time: the rows left, the panel, C's row;",
		"along each, a panel of B̃ at a time: the columns left, the panel, the tile of C.")
	state := AllocLocal(48)
	t.rowsLeft, t.aPanel, t.cRow = state, state.Offset(8), state.Offset(16)
	t.left, t.panel, t.tile = state.Offset(24), state.Offset(32), state.Offset(40)
	spill := func(p gotypes.Component, m Mem) { MOVQ(load(p), m) }
	spill(Param("m"), t.rowsLeft)
	spill(Param("a").Base(), t.aPanel)
	spill(Param("c").Base(), t.cRow)
	t.rowTop = label("rowtiles")
	Label(string(t.rowTop))
	spill(Param("n"), t.left)
	spill(Param("b").Base(), t.panel)
	r := GP64()
	MOVQ(t.cRow, r)
	MOVQ(r, t.tile)
	t.top = label("panel")
	Label(string(t.top))
}

// from loads a pointer argument, or, in the loops over panels, its current
// value at m.
func (t gemmTiles) from(param string, m Mem) GPVirtual {
	if t.cNext == nil {
		return load(Param(param).Base())
	}
	r := GP64()
	MOVQ(m, r)
	return r
}

// gemmRowsOfA addresses the rows of a tile of Ã: row 3g+i at base g +
// i·ars4 bytes.
type gemmRowsOfA struct {
	bases []GPVirtual
	ars4  GPVirtual
}

// rowsOfA returns the addresses of the tile's rows of Ã.
func (t gemmTiles) rowsOfA(tileRows int, ars4 GPVirtual) gemmRowsOfA {
	Comment("Ã's rows in groups of 3: row 3g+i is at base g + i·ars.")
	a := t.from("a", t.aPanel)
	bases := []GPVirtual{a}
	for g := 1; g*gemmTileRows < tileRows; g++ {
		p := GP64()
		LEAQ(Mem{Base: bases[g-1], Index: ars4, Scale: 2}, p)
		ADDQ(ars4, p)
		bases = append(bases, p)
	}
	return gemmRowsOfA{bases: bases, ars4: ars4}
}

// row returns the address of row r.
func (a gemmRowsOfA) row(r int) Mem {
	m := Mem{Base: a.bases[r/gemmTileRows]}
	if i := r % gemmTileRows; i > 0 {
		m.Index, m.Scale = a.ars4, uint8(i)
	}
	return m
}

// zeroAccumulators returns rows × vecs accumulators, each a copy of a zero
// in memory: VXORPS v, v, v reads v, which would make every accumulator
// live around the loop over the panels, through the stores, where the
// registers are needed.
func (is *isa) zeroAccumulators(rows, vecs int) [][]VecVirtual {
	acc := make([][]VecVirtual, rows)
	for r := range acc {
		acc[r] = is.vecs(vecs)
		for _, v := range acc[r] {
			is.copyConst(zeroConst.mem(), v)
		}
	}
	return acc
}

// prefetchC asks for the lines of C's tile at c, read only after the loop:
// the first and the last of each of its rows rows, rowBytes each (C's rows
// are rarely aligned).
func prefetchC(c, ldc4 GPVirtual, rows, rowBytes int) {
	Comment("C's tile is read only after the loop: ask for its lines now,",
		"the first and the last of each row's part (C's rows are rarely aligned).")
	pc := GP64()
	MOVQ(c, pc)
	for i := range rows {
		if i > 0 {
			ADDQ(ldc4, pc)
		}
		PREFETCHT0(Mem{Base: pc})
		PREFETCHT0(Mem{Base: pc, Disp: rowBytes - 4})
	}
}

// gemmSamples emits the loop over the kc samples p: per sample, the
// vectors of B̃'s row p at b, and per row r of the tile a broadcast of Ã_rp
// and an FMA per vector; b steps by bps4 bytes, Ã's rows by aps4.
func (is *isa) gemmSamples(acc [][]VecVirtual, a gemmRowsOfA, b, bps4, aps4, kc GPVirtual) {
	Comment("acc_rv += Ã_rp · B̃_pv for p = 0 … kc−1.")
	top := label("samples")
	Label(string(top))
	ys := make([]VecVirtual, len(acc[0]))
	for v := range ys {
		ys[v] = is.vec()
		VMOVUPS(Mem{Base: b, Disp: v * is.bytes()}, ys[v])
	}
	for r := range acc {
		x := is.vec()
		VBROADCASTSS(a.row(r), x)
		for v := range ys {
			VFMADD231PS(ys[v], x, acc[r][v])
		}
	}
	ADDQ(bps4, b)
	for _, p := range a.bases {
		ADDQ(aps4, p)
	}
	DECQ(kc)
	JNZ(top)
}

// clipTile sets mr and nr in the loops over panels: the tile's rows and
// columns, at most tileRows and nrMax.
func (t *gemmTiles) clipTile(tileRows int) {
	Comment("mr = min(rows left, a panel's); nr = min(columns left, a panel's).")
	t.mr, t.nr = GP64(), GP64()
	for _, x := range []struct {
		r    GPVirtual
		left Mem
		max  int
	}{{t.mr, t.rowsLeft, tileRows}, {t.nr, t.left, t.nrMax}} {
		MOVQ(x.left, x.r)
		lim := GP64()
		MOVQ(U32(x.max), lim)
		CMPQ(x.r, lim)
		CMOVQGT(lim, x.r)
	}
}

// nextPanel ends a tile: in the loops over panels (cNext set), it moves
// the panel of B̃ and the tile of C on, by cNext along C's row, while
// columns are left; then Ã's panel by anext and C's row by the tile's rows,
// while rows are left.
func (t gemmTiles) nextPanel() {
	Label(string(t.done))
	if t.cNext == nil {
		return
	}
	end, rowEnd := label("end"), label("rowend")
	SUBQ(U32(t.nrMax), t.left)
	JLE(rowEnd)
	bn := load(Param("bnext"))
	SHLQ(U8(2), bn)
	ADDQ(bn, t.panel)
	ADDQ(t.cNext, t.tile)
	JMP(t.top)
	Label(string(rowEnd))
	SUBQ(U32(t.rows()), t.rowsLeft)
	JLE(end)
	an := load(Param("anext"))
	SHLQ(U8(2), an)
	ADDQ(an, t.aPanel)
	step := load(Param("ldc"))
	IMUL3Q(U32(4*t.rows()), step, step)
	ADDQ(step, t.cRow)
	JMP(t.rowTop)
	Label(string(end))
}

// storeAddOrNot emits store twice, for C = alpha·acc + C when the add flag
// is set and for C = alpha·acc (C not read) when it is not, each ending
// with a jump to done.
func (t gemmTiles) storeAddOrNot(store func(add bool)) {
	over := label("over")
	TESTQ(t.add, t.add)
	JZ(over)
	store(true)
	JMP(t.done)
	Label(string(over))
	store(false)
	JMP(t.done)
}

// update emits c = alpha·acc + c (add) or c = alpha·acc for the vector at
// m, in acc.
func (t gemmTiles) update(acc VecVirtual, at vecAt, m Mem, add bool) {
	if add {
		VFMADD213PS(at.src(t.is, m), t.alpha, acc) // acc = alpha·acc + c
	} else {
		VMULPS(t.alpha, acc, acc) // acc = alpha·acc
	}
	at.store(acc, m)
}

// storeWhole stores a whole tile: every row updated (C loaded) before any
// is stored, so that no load of C waits on a store to an address that
// shares its low 12 bits (rows 4 KB apart).
func (t gemmTiles) storeWhole(vs []vecAt, add bool) {
	pc := GP64()
	for pass := range 2 {
		MOVQ(t.c, pc)
		for r, accs := range t.acc {
			if r > 0 {
				ADDQ(t.ldc4, pc)
			}
			for v, at := range vs {
				m := at.at(Mem{Base: pc})
				switch {
				case pass == 1:
					VMOVUPS(accs[v], m)
				case add:
					VFMADD213PS(m, t.alpha, accs[v]) // acc = alpha·acc + c
				default:
					VMULPS(t.alpha, accs[v], accs[v]) // acc = alpha·acc
				}
			}
		}
	}
}

// storeRows stores the tile's rows, the vectors vs of each, one row after
// the other; with rows set, it stops after that many.
func (t gemmTiles) storeRows(vs []vecAt, rows GPVirtual, add bool) {
	pc := GP64()
	MOVQ(t.c, pc)
	for r, accs := range t.acc {
		if r > 0 {
			if rows != nil {
				CMPQ(rows, U8(r))
				JBE(t.done)
			}
			ADDQ(t.ldc4, pc)
		}
		for v, at := range vs {
			t.update(accs[v], at, Mem{Base: pc}, add)
		}
	}
}

// rowOfCols returns the store of a whole row of a tile of Cᵀ: the first cols
// lanes of col to C's row at m, without a mask. A masked store would make
// the next row's load, whose full width overlaps it when rows are short,
// wait until the store has left the store buffer. cols is half a vector (the
// low half), or more: two half vectors, the second ending at the row's
// end, both loaded before either is stored, so that the lanes they share
// get the same value.
func (t gemmTiles) rowOfCols(cols int) func(col VecVirtual, m Mem, add bool) {
	is := t.is
	hl, half := is.lanes/2, is.bytes()/2
	whole := vecAt{half: lazy(func() tail { panic("gemmTileT: a half needs no mask") })}
	if cols == hl {
		return func(col VecVirtual, m Mem, add bool) { t.update(col, whole, m, add) }
	}
	if cols < hl || cols > is.lanes || !is.bcst {
		panic(fmt.Sprintf("gemmTileT: no unmasked store of %d lanes", cols))
	}
	return func(col VecVirtual, m Mem, add bool) {
		hi := is.vec()
		VALIGND(U8(cols-hl), col, col, hi) // lanes cols−hl … cols−1 down to 0 …
		at := []Mem{m, m.Offset(4 * (cols - hl))}
		vs := []Register{view(col, half), view(hi, half)}
		alpha := view(t.alpha, half)
		for i, v := range vs {
			if add {
				VFMADD213PS(at[i], alpha, v) // acc = alpha·acc + c
			} else {
				VMULPS(alpha, v, v)
			}
		}
		for i, v := range vs {
			VMOVUPS(v, at[i])
		}
	}
}

// storeColumns stores the tile transposed: per vector of columns, the
// accumulators (rows padded with zeros) are transposed, and C's row
// v·lanes + l gets column l's first lanes through store; with rows set, it
// stops after that many rows of C.
func (t gemmTiles) storeColumns(store func(col VecVirtual, m Mem, add bool), rows GPVirtual, add bool) {
	is := t.is
	pc := GP64()
	MOVQ(t.c, pc)
	for v := range is.gerVecs {
		accs := make([]VecVirtual, t.rows())
		for r := range accs {
			accs[r] = t.acc[r][v]
		}
		for l, col := range is.transposeRows(accs) {
			if i := v*is.lanes + l; i > 0 {
				if rows != nil {
					CMPQ(rows, U8(i))
					JBE(t.done)
				}
				ADDQ(t.ldc4, pc)
			}
			store(col, Mem{Base: pc}, add)
		}
	}
}

// transposeRows returns the lanes columns of the rows rs (fewer than
// lanes), the block padded with zero rows: column l's first len(rs) lanes
// are lane l of each row.
func (is *isa) transposeRows(rs []VecVirtual) []VecVirtual {
	block := make([]VecVirtual, is.lanes)
	none := is.vec()
	is.copyConst(zeroConst.mem(), none)
	for r := range block {
		block[r] = none
		if r < len(rs) {
			block[r] = rs[r]
		}
	}
	return is.transpose(block)
}

// lanesLeft sets e to the lanes of the vector at column from that lie
// before column nr: nr − from, clamped to [0, lanes].
func lanesLeft(e, nr GPVirtual, from, lanes int) {
	lim := GP64()
	MOVQ(nr, e)
	if from > 0 {
		SUBQ(U32(from), e)
		XORQ(lim, lim)
		CMPQ(e, lim)
		CMOVQLT(lim, e)
	}
	MOVQ(U32(lanes), lim)
	CMPQ(e, lim)
	CMOVQGT(lim, e)
}

// gemmPackT (twin: the transposing loop of packB) packs a panel of B̃ from
// rows of a matrix: dst[p·w + j] = src[j·ld + p] for j < w = gerVecs·lanes,
// p < kc, which turns w rows of Bᵀ (of Aᵀ, for a tile written transposed)
// into kc rows of the micro-kernel's vectors. Per lanes columns p, each
// block of lanes rows is loaded, one vector per row, transposed in
// registers and stored as lanes vectors of dst; the last, partial block of
// columns is loaded masked.
func gemmPackT(is *isa) {
	w := is.gerVecs * is.lanes
	is.text("gemmPackT", "func(dst, src []float32, ld, kc int)", "packB's transposing loop",
		fmt.Sprintf("dst holds kc·%d; src %d rows of stride ld, each at least kc long.", w, w))
	dst, src := load(Param("dst").Base()), load(Param("src").Base())
	ld4, kc := load(Param("ld")), load(Param("kc"))
	SHLQ(U8(2), ld4)
	// block transposes the lanes×lanes blocks of the columns at src (e of
	// them if e is not nil) into the rows at dst.
	block := func(e GPVirtual) {
		var mask tail
		if e != nil {
			mask = is.firstLanes(e)
		}
		p := GP64()
		MOVQ(src, p)
		for v := range is.gerVecs {
			rows := make([]VecVirtual, is.lanes)
			for l := range rows {
				if v > 0 || l > 0 {
					ADDQ(ld4, p)
				}
				if mask != nil {
					rows[l] = mask.load(Mem{Base: p})
				} else {
					rows[l] = is.vec()
					VMOVUPS(Mem{Base: p}, rows[l])
				}
			}
			cols := is.transpose(rows)
			q := GP64()
			MOVQ(dst, q)
			stored := label("stored")
			for c, col := range cols {
				if e != nil && c > 0 {
					CMPQ(e, U8(c))
					JBE(stored)
				}
				VMOVUPS(col, Mem{Base: q, Disp: v * is.bytes()})
				ADDQ(U32(4*w), q)
			}
			Label(string(stored))
		}
	}
	tailCols, done := label("tail"), label("done")
	Comment("Whole blocks of lanes columns.")
	top := label("blocks")
	CMPQ(kc, U8(is.lanes))
	JB(tailCols)
	Label(string(top))
	block(nil)
	ADDQ(U8(is.bytes()), src)
	ADDQ(U32(is.lanes*4*w), dst)
	SUBQ(U8(is.lanes), kc)
	CMPQ(kc, U8(is.lanes))
	JAE(top)
	Label(string(tailCols))
	Comment("The last kc mod lanes columns, loaded masked.")
	TESTQ(kc, kc)
	JZ(done)
	block(kc)
	Label(string(done))
	ret()
}

// gemmPackN (twin: the copying loop of packB) packs a panel of B̃ from
// columns of a matrix: dst[p·w + j] = src[p·ld + j] for j < w =
// gerVecs·lanes, p < kc: w floats of each of kc rows of B. A copy() per row
// would spend more on its call than on its w floats.
func gemmPackN(is *isa) {
	w := is.gerVecs * is.lanes
	is.text("gemmPackN", "func(dst, src []float32, ld, kc int)", "packB's copying loop",
		fmt.Sprintf("dst holds kc·%d; src kc rows of stride ld, each at least %d long; kc ≥ 1.", w, w))
	dst, src := load(Param("dst").Base()), load(Param("src").Base())
	ld4, kc := load(Param("ld")), load(Param("kc"))
	SHLQ(U8(2), ld4)
	Comment("Two rows a step, all loads before the stores.")
	oneRow, done := label("one"), label("done")
	top := label("rows")
	CMPQ(kc, U8(2))
	JB(oneRow)
	Label(string(top))
	vs := make([]VecVirtual, 2*is.gerVecs)
	for r := range 2 {
		for v := range is.gerVecs {
			m := Mem{Base: src, Disp: v * is.bytes()}
			if r == 1 {
				m.Index, m.Scale = ld4, 1
			}
			vs[r*is.gerVecs+v] = is.vec()
			VMOVUPS(m, vs[r*is.gerVecs+v])
		}
	}
	for i, v := range vs {
		VMOVUPS(v, Mem{Base: dst, Disp: i * is.bytes()})
	}
	LEAQ(Mem{Base: src, Index: ld4, Scale: 2}, src)
	ADDQ(U32(2*4*w), dst)
	SUBQ(U8(2), kc)
	CMPQ(kc, U8(2))
	JAE(top)
	Label(string(oneRow))
	TESTQ(kc, kc)
	JZ(done)
	for v := range is.gerVecs {
		x := is.vec()
		VMOVUPS(Mem{Base: src, Disp: v * is.bytes()}, x)
		VMOVUPS(x, Mem{Base: dst, Disp: v * is.bytes()})
	}
	Label(string(done))
	ret()
}

// gemmDotTile is the tile of gemmDot: rows of A × rows of B, as many
// accumulators as fit beside a vector of each row of A and one of B.
func (is *isa) gemmDotTile() (rowsA, rowsB int) {
	if is.regs >= 32 {
		return 4, 5 // 20 accumulators; 9 loads per 20 FMAs
	}
	return 3, 3 // 9 accumulators; 6 loads per 9 FMAs
}

// gemmDotShape emits a routine that returns gemmDot's tile.
func gemmDotShape(is *isa) {
	is.text("gemmDotShape", "func() (mr, nr int)", "the tile of gemmDotGeneric, any",
		"It returns the rows of A and of B that gemmDot"+is.suffix+" takes at a time.")
	R, J := is.gemmDotTile()
	r := GP64()
	MOVQ(U32(R), r)
	Store(r, Return("mr"))
	MOVQ(U32(J), r)
	Store(r, Return("nr"))
	RET()
}

// gemmDot (twin: gemmDotGeneric) is Gemm's micro-kernel for C = alpha·A·Bᵀ
// (+ C) where B has few rows (a 10-class head's logits): every element is a
// dot product of a row of A and a row of B, both contiguous, so nothing is
// packed or transposed. The vectors run along k: per lanes of k, the tile's
// rows of A and of B are loaded once each and every pair is multiplied into
// its accumulator (the last part of k loaded masked). Each accumulator is
// then summed across its lanes (halves added, then VHADDPS in groups of
// four), and the sums are scaled by alpha and added to C. Rows of the tile
// past mr (nr) read the last row of A (B) again and are not stored.
func gemmDot(is *isa) {
	R, J := is.gemmDotTile()
	is.text("gemmDot", "func(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, mr, nr int, alpha float32, add bool)",
		"gemmDotGeneric",
		fmt.Sprintf("k ≥ 1; 1 ≤ mr ≤ %d rows of A and 1 ≤ nr ≤ %d of B, k long; c holds mr rows of stride ldc, the last one nr long.", R, J))
	Comment("Pointers to the tile's rows of A and of B; those past mr (nr) repeat the last.")
	d := dotTile{is: is}
	d.ap, d.bp = dotRowPtrs("a", "lda", "mr", R), dotRowPtrs("b", "ldb", "nr", J)
	d.acc = make([][]VecVirtual, R)
	for i := range d.acc {
		d.acc[i] = is.vecs(J)
		for _, v := range d.acc[i] {
			zero(v)
		}
	}
	d.products()
	d.store(d.rowSums())
	ret()
}

// dotRowPtrs loads pointers to the rows of the tile from the argument name
// (stride ld): the first count rows, then the last again.
func dotRowPtrs(name, ld, count string, rows int) []GPVirtual {
	ld4, n := load(Param(ld)), load(Param(count))
	SHLQ(U8(2), ld4)
	ptrs := []GPVirtual{load(Param(name).Base())}
	for i := 1; i < rows; i++ {
		p := GP64()
		LEAQ(Mem{Base: ptrs[i-1], Index: ld4, Scale: 1}, p)
		CMPQ(n, U8(i))
		CMOVQLS(ptrs[i-1], p) // n ≤ i: the row before again
		ptrs = append(ptrs, p)
	}
	return ptrs
}

// dotTile is gemmDot's tile: the pointers to its rows of A and of B, an
// accumulator per pair, and the offset along k.
type dotTile struct {
	is     *isa
	ap, bp []GPVirtual
	acc    [][]VecVirtual
	off    GPVirtual
}

// products emits acc_ij += A_i,p…p+lanes · B_j,p…p+lanes over k, a vector
// of k at a time, the last k mod lanes loaded masked.
func (d *dotTile) products() {
	is := d.is
	d.off = GP64()
	steps := load(Param("k"))
	XORQ(d.off, d.off)
	SHRQ(U8(log2(is.lanes)), steps)
	Comment("acc_ij += A_i,p…p+lanes · B_j,p…p+lanes, a vector of k at a time.")
	whole := func(m Mem) VecVirtual {
		v := is.vec()
		VMOVUPS(m, v)
		return v
	}
	tailK, reduce := label("tailk"), label("reduce")
	TESTQ(steps, steps)
	JZ(tailK)
	top := label("steps")
	Label(string(top))
	d.step(whole)
	ADDQ(U8(is.bytes()), d.off)
	DECQ(steps)
	JNZ(top)
	Label(string(tailK))
	Comment("The last k mod lanes, loaded masked (the other lanes 0).")
	rem := load(Param("k"))
	ANDQ(U8(is.lanes-1), rem)
	JZ(reduce)
	mask := is.firstLanes(rem)
	d.step(mask.load)
	Label(string(reduce))
}

// step multiplies one vector of every row pair into the accumulators, the
// vectors loaded with ld.
func (d *dotTile) step(ld func(m Mem) VecVirtual) {
	av := make([]VecVirtual, len(d.ap))
	for i := range av {
		av[i] = ld(Mem{Base: d.ap[i], Index: d.off, Scale: 1})
	}
	for j := range d.bp {
		bv := ld(Mem{Base: d.bp[j], Index: d.off, Scale: 1})
		for i := range av {
			VFMADD231PS(av[i], bv, d.acc[i][j]) // acc_ij += a_i·b_j
		}
	}
}

// rowSums returns each row's sums, 4 columns to an XMM register: lane j
// is Σ acc_ij.
func (d *dotTile) rowSums() [][]VecVirtual {
	Comment("Each row's sums, 4 columns to an XMM register: lane j is Σ acc_ij.")
	J := len(d.bp)
	sums := make([][]VecVirtual, len(d.acc))
	none := XMM()
	VXORPS(none, none, none)
	for i := range d.acc {
		for g := 0; g < J; g += 4 {
			xs := make([]Register, 4)
			for q := range 4 {
				xs[q] = none
				if g+q < J {
					xs[q] = d.is.halves128(d.acc[i][g+q])
				}
			}
			sums[i] = append(sums[i], sum4(xs))
		}
	}
	return sums
}

// store emits C = alpha·sums (+ C): a whole tile 4 columns at a time, a
// tile cut short by C's edge element by element, each with and without
// the add.
func (d *dotTile) store(sums [][]VecVirtual) {
	R, J := len(d.ap), len(d.bp)
	alpha := XMM()
	VBROADCASTSS(paramMem("alpha"), alpha)
	add := GP64()
	Load(Param("add"), add)
	c, ldc4 := load(Param("c").Base()), load(Param("ldc"))
	SHLQ(U8(2), ldc4)
	mr, nr := load(Param("mr")), load(Param("nr"))
	done, edge := label("done"), label("edge")
	CMPQ(mr, U8(R))
	JNE(edge)
	CMPQ(nr, U8(J))
	JNE(edge)
	Comment("A whole tile: 4 columns at a time, then one by one.")
	g := gemmDotStore{alpha: alpha, sums: sums, c: c, ldc4: ldc4, cols: J, done: done}
	overW := label("over")
	TESTQ(add, add)
	JZ(overW)
	g.whole(true)
	JMP(done)
	Label(string(overW))
	g.whole(false)
	JMP(done)
	Label(string(edge))
	Comment("A tile cut short by C's edge: mr rows of nr, element by element.")
	overE := label("over")
	TESTQ(add, add)
	JZ(overE)
	g.edge(mr, nr, true)
	JMP(done)
	Label(string(overE))
	g.edge(mr, nr, false)
	Label(string(done))
}

// halves128 adds the upper halves of v into its lower ones down to 128
// bits, which it returns as an XMM register (v is clobbered). EVEX forms
// throughout, so that it works on all 32 registers of AVX-512.
func (is *isa) halves128(v VecVirtual) Register {
	for w := is.bytes(); w > 16; w /= 2 {
		hi := XMM()
		switch {
		case w == 64:
			hi = YMM()
			VEXTRACTF64X4(U8(1), v.AsZ(), hi)
		case is.regs >= 32:
			VEXTRACTF32X4(U8(1), v.AsY(), hi)
		default:
			VEXTRACTF128(U8(1), v.AsY(), hi)
		}
		VADDPS(hi, view(v, w/2), view(v, w/2))
	}
	return v.AsX()
}

// sum4 returns the sums of the 4 lanes of each of 4 XMM registers, in the
// lanes of one: pairs interleaved and added, then the halves of the two
// results gathered and added (no VHADDPS, which has no EVEX form).
func sum4(x []Register) VecVirtual {
	var u [2]VecVirtual
	for h := range 2 {
		lo, hi := XMM(), XMM()
		VUNPCKLPS(x[2*h+1], x[2*h], lo) // a0 b0 a1 b1
		VUNPCKHPS(x[2*h+1], x[2*h], hi) // a2 b2 a3 b3
		u[h] = XMM()
		VADDPS(hi, lo, u[h]) // a0+a2 b0+b2 a1+a3 b1+b3
	}
	lo, hi := XMM(), XMM()
	VSHUFPS(U8(0x44), u[1], u[0], lo) // lanes 0 1 of each
	VSHUFPS(U8(0xEE), u[1], u[0], hi) // lanes 2 3 of each
	s := XMM()
	VADDPS(hi, lo, s) // Σa Σb Σc Σd
	return s
}

// gemmDotStore writes gemmDot's sums to C.
type gemmDotStore struct {
	alpha   VecVirtual
	sums    [][]VecVirtual // per row, XMM registers of 4 columns' sums
	c, ldc4 GPVirtual
	cols    int
	done    LabelRef
}

// update emits s = alpha·s + c (add) or alpha·s for one element or, with
// packed, four, and stores s to m.
func (g gemmDotStore) update(s VecVirtual, m Mem, packed, add bool) {
	switch {
	case packed && add:
		VFMADD213PS(m, g.alpha, s)
	case packed:
		VMULPS(g.alpha, s, s)
	case add:
		VFMADD213SS(m, g.alpha, s)
	default:
		VMULSS(g.alpha, s, s)
	}
	if packed {
		VMOVUPS(s, m)
	} else {
		VMOVSS(s, m)
	}
}

// lane returns lane l of the XMM register s in lane 0 of a register.
func lane(s VecVirtual, l int) VecVirtual {
	if l == 0 {
		return s
	}
	t := XMM()
	VPERMILPS(U8(l), s, t)
	return t
}

// whole stores every row of the tile: groups of 4 columns whole, the rest
// one by one.
func (g gemmDotStore) whole(add bool) {
	pc := GP64()
	MOVQ(g.c, pc)
	for i, row := range g.sums {
		if i > 0 {
			ADDQ(g.ldc4, pc)
		}
		for q, s := range row {
			if 4*q+4 <= g.cols {
				g.update(s, Mem{Base: pc, Disp: 16 * q}, true, add)
				continue
			}
			for l := range g.cols - 4*q {
				g.update(lane(s, l), Mem{Base: pc, Disp: 4 * (4*q + l)}, false, add)
			}
		}
	}
}

// edge stores the first mr rows' first nr elements, one by one.
func (g gemmDotStore) edge(mr, nr GPVirtual, add bool) {
	pc := GP64()
	MOVQ(g.c, pc)
	for i, row := range g.sums {
		if i > 0 {
			CMPQ(mr, U8(i))
			JBE(g.done)
			ADDQ(g.ldc4, pc)
		}
		next := label("row")
		for j := range g.cols {
			if j > 0 {
				CMPQ(nr, U8(j))
				JBE(next)
			}
			g.update(lane(row[j/4], j%4), Mem{Base: pc, Disp: 4 * j}, false, add)
		}
		Label(string(next))
	}
}
