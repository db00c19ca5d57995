package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gemmTileRows is how many rows of Ã share one base register in gemmTile:
// each row is addressed as base + {0, 1, 2}·ars, the scales an x86 address
// can take of the stride register.
const gemmTileRows = 3

// gemmShape emits a routine that returns gemmTile's register tile, so that
// the Go driver packs its panels for exactly the tile the generator emits:
// gerRows rows × gerVecs vectors.
func gemmShape(is *isa) {
	is.text("gemmShape", "func() (mr, nr int)", "the generic tile's gemmMRGeneric and gemmNRGeneric",
		"It returns the rows and columns of gemmTile"+is.suffix+"'s register tile.")
	r := GP64()
	MOVQ(U32(is.gerRows), r)
	Store(r, Return("mr"))
	MOVQ(U32(is.gerVecs*is.lanes), r)
	Store(r, Return("nr"))
	RET()
}

// gemmTile (twin: gemmTileGeneric) is Gemm's micro-kernel: an mr × nr tile
// of C gets alpha·Ã·B̃, added to C (add) or written over it (C is then not
// read). Ã is a panel of gerRows rows whose element (r, p) is at
// a + 4·(r·ars + p·aps); B̃ is kc rows of gerVecs vectors. The
// accumulators, gerRows × gerVecs vectors, start at 0; per p, the vectors of
// B̃'s row p are loaded once and each row's element of Ã is broadcast and
// multiplied into them, one FMA per accumulator. The whole tile is then
// scaled by alpha and added to C with one FMA per vector: masked where the
// tile is cut short at the edge of C (mr < gerRows, nr < the vectors'
// width), whole otherwise.
func gemmTile(is *isa) {
	is.text("gemmTile", "func(kc int, a []float32, ars, aps int, b, c []float32, ldc, mr, nr int, alpha float32, add bool)",
		"gemmTileGeneric",
		fmt.Sprintf("kc ≥ 1; Ã is %d rows (past mr, zeros), B̃ kc rows of %d (past nr, zeros); c holds mr rows of stride ldc, the last one nr long.",
			is.gerRows, is.gerVecs*is.lanes))
	R, V := is.gerRows, is.gerVecs
	kc := load(Param("kc"))
	ars4, aps4 := load(Param("ars")), load(Param("aps"))
	SHLQ(U8(2), ars4)
	SHLQ(U8(2), aps4)
	b := load(Param("b").Base())

	Comment("Ã's rows in groups of 3: row 3g+i is at base g + i·ars.")
	a := load(Param("a").Base())
	bases := []GPVirtual{a}
	for g := 1; g*gemmTileRows < R; g++ {
		p := GP64()
		LEAQ(Mem{Base: bases[g-1], Index: ars4, Scale: 2}, p)
		ADDQ(ars4, p)
		bases = append(bases, p)
	}
	rowOf := func(r int) Mem {
		m := Mem{Base: bases[r/gemmTileRows]}
		if i := r % gemmTileRows; i > 0 {
			m.Index, m.Scale = ars4, uint8(i)
		}
		return m
	}

	acc := make([][]VecVirtual, R)
	for r := range acc {
		acc[r] = is.vecs(V)
		for _, v := range acc[r] {
			zero(v)
		}
	}
	// C's tile is read only after the loop: ask for its lines now.
	c, ldc4 := load(Param("c").Base()), load(Param("ldc"))
	SHLQ(U8(2), ldc4)
	pc := GP64()
	MOVQ(c, pc)
	for r := range R {
		if r > 0 {
			ADDQ(ldc4, pc)
		}
		for v := range V {
			PREFETCHT0(Mem{Base: pc, Disp: v * is.bytes()})
		}
	}

	Comment("acc_rj += Ã_rp · B̃_pj for p = 0 … kc−1.")
	top := label("samples")
	Label(string(top))
	ys := make([]VecVirtual, V)
	for v := range ys {
		ys[v] = is.vec()
		VMOVUPS(Mem{Base: b, Disp: v * is.bytes()}, ys[v])
	}
	for r := range R {
		x := is.vec()
		VBROADCASTSS(rowOf(r), x)
		for v := range V {
			VFMADD231PS(ys[v], x, acc[r][v])
		}
	}
	ADDQ(U32(V*is.bytes()), b)
	for _, p := range bases {
		ADDQ(aps4, p)
	}
	DECQ(kc)
	JNZ(top)

	alpha := is.vec()
	VBROADCASTSS(paramMem("alpha"), alpha)
	add := GP64()
	Load(Param("add"), add)
	mr, nr := load(Param("mr")), load(Param("nr"))
	edge, done := label("edge"), label("done")
	CMPQ(mr, U32(R))
	JNE(edge)
	CMPQ(nr, U32(V*is.lanes))
	JNE(edge)

	Comment("A whole tile.")
	whole := make([]vecAt, V)
	for v := range whole {
		whole[v] = vecAt{off: v * is.bytes()}
	}
	g := gemmStore{is: is, acc: acc, alpha: alpha, c: c, ldc4: ldc4, done: done}
	g.tileAddOrNot(add, whole, nil)

	Label(string(edge))
	Comment("A tile cut short by C's edge: mr rows, and per vector the lanes left of nr.")
	part := make([]vecAt, V)
	for v := range part {
		e := GP64()
		lanesLeft(e, nr, v*is.lanes, is.lanes)
		part[v] = vecAt{off: v * is.bytes(), tail: is.firstLanes(e)}
	}
	g.tileAddOrNot(add, part, mr)
	Label(string(done))
	ret()
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

// gemmStore writes gemmTile's accumulators to C.
type gemmStore struct {
	is           *isa
	acc          [][]VecVirtual
	alpha        VecVirtual
	c, ldc4      GPVirtual
	done         LabelRef
	masksCreated bool
}

// tileAddOrNot emits the tile's store twice, C = alpha·acc + C when add is
// set and C = alpha·acc (C not read) when it is not, each ending with a
// jump to done. rows, if not nil, is the number of rows to store.
func (g gemmStore) tileAddOrNot(add GPVirtual, vs []vecAt, rows GPVirtual) {
	over := label("over")
	TESTQ(add, add)
	JZ(over)
	g.tile(vs, rows, true)
	JMP(g.done)
	Label(string(over))
	g.tile(vs, rows, false)
	JMP(g.done)
}

// tile stores the rows of the tile, one after the other; with rows set, it
// stops after that many.
func (g gemmStore) tile(vs []vecAt, rows GPVirtual, add bool) {
	pc := GP64()
	MOVQ(g.c, pc)
	for r, accs := range g.acc {
		if r > 0 {
			if rows != nil {
				CMPQ(rows, U8(r))
				JBE(g.done)
			}
			ADDQ(g.ldc4, pc)
		}
		for v, at := range vs {
			if add {
				VFMADD213PS(at.src(g.is, Mem{Base: pc}), g.alpha, accs[v]) // acc = alpha·acc + c
			} else {
				VMULPS(g.alpha, accs[v], accs[v]) // acc = alpha·acc
			}
			at.store(accs[v], Mem{Base: pc})
		}
	}
}
