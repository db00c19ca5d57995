package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa describes one x86 vector instruction set. Every routine is written
// once, against this description; main generates it for each isa.
//
// A vector is a register of lanes float32. The description says how to get
// such a register, how to load, store and clear the partial vector at the
// end of a row (a tail), and how wide the register tiles of the rank-k
// update are; everything else (the arithmetic) is spelled with the same VEX
// and EVEX mnemonics at every width, which avo encodes from the operands.
type isa struct {
	suffix string            // appended to every routine name: "AVX2"
	lanes  int               // float32 lanes per vector
	regs   int               // vector registers
	vec    func() VecVirtual // allocates a vector register

	// firstLanes and lastLanes return the mask of the first or the last e
	// lanes, 0 < e < lanes (e is a GP register they leave unchanged).
	firstLanes, lastLanes func(e GPVirtual) tail

	// below compares a with c lane by lane and returns a function that
	// emits p = t·p + s (VFMADD213PS) with the result 0 in the lanes
	// where a < c (an ordered compare: a NaN lane is kept).
	below func(a VecVirtual, c Op) (fmaClear func(s, t, p VecVirtual))

	// expGroup is the number of vectors a pass that computes exp takes
	// in lockstep (see pass.group): as many as the registers allow.
	expGroup int

	// halves says that a row of lanes/2 < cols ≤ lanes is taken as two
	// half vectors (the low halves of registers), the second ending at the
	// row's end and overlapping the first, instead of one masked vector:
	// a load that overlaps the full width of an earlier masked store (the
	// next row's, say) waits until that store has left the store buffer.
	// halfLanes(nil) is then the mask of the low lanes/2 lanes, and
	// halfLanes(e) that of the last e of them, 0 < e ≤ lanes/2.
	halves    bool
	halfLanes func(e GPVirtual) tail

	// bcst says that a constant in memory is read as an embedded broadcast
	// (the instruction's _BCST form, 4 bytes), not as a full vector: see
	// withConst and copyConst.
	bcst bool

	// Rank-k update tile: gerRows rows × gerVecs vectors of A in registers.
	gerRows, gerVecs int

	// shortRowVectors is the longest row, in vectors, that softmaxShortRows
	// takes.
	shortRowVectors int
}

// bytes returns the size of one vector in bytes.
func (is *isa) bytes() int { return 4 * is.lanes }

// avx2 is AVX2 with FMA: 16 YMM registers of 8 float32. Masks are read
// from the table laneMasks; masked loads and stores use VMASKMOVPS, which
// neither reads nor writes (nor faults on) the masked-off lanes.
var avx2 = &isa{
	suffix:     "AVX2",
	lanes:      8,
	regs:       16,
	vec:        YMM,
	firstLanes: func(e GPVirtual) tail { return avx2Mask(e, true) },
	lastLanes:  func(e GPVirtual) tail { return avx2Mask(e, false) },
	below: func(a VecVirtual, c Op) func(s, t, p VecVirtual) {
		m := YMM()
		VCMPPS(U8(1), c, a, m) // m = a < c (LT_OS)
		return func(s, t, p VecVirtual) {
			VFMADD213PS(s, t, p)
			VANDNPS(p, m, p) // p = p &^ m
		}
	},
	expGroup:        2,
	gerRows:         6,
	gerVecs:         2,
	shortRowVectors: 2,
}

// avx512 is AVX-512 (F, BW, DQ, VL): 32 ZMM registers of 16 float32. Masks
// are K registers, made from a lane count with BZHI or SHRX and KMOVW;
// masked loads (zeroing, VMOVUPS.Z) and stores (VMOVUPS with a K operand)
// neither read nor write (nor fault on) the masked-off lanes. Constants in
// memory are embedded broadcasts.
var avx512 = &isa{
	suffix:     "AVX512",
	lanes:      16,
	regs:       32,
	vec:        ZMM,
	firstLanes: func(e GPVirtual) tail { return avx512Mask(e, true) },
	lastLanes:  func(e GPVirtual) tail { return avx512Mask(e, false) },
	below: func(a VecVirtual, c Op) func(s, t, p VecVirtual) {
		keep := K()
		if _, ok := c.(Mem); ok {
			VCMPPS_BCST(U8(5), c, a, keep) // keep = !(a < c) (NLT_US: true for NaN)
		} else {
			VCMPPS(U8(5), c, a, keep)
		}
		return func(s, t, p VecVirtual) { VFMADD213PS_Z(s, t, keep, p) } // zeroing-masked: p = keep ? t·p + s : 0
	},
	expGroup:        4,
	halves:          true,
	halfLanes:       avx512HalfMask,
	bcst:            true,
	gerRows:         12,
	gerVecs:         2,
	shortRowVectors: 1,
}

// A tail is a mask of some lanes of a vector: the elements of a row
// shorter than a vector (its first lanes), or the lanes of a row's last
// vector that the vector before it does not cover (its last lanes).
type tail interface {
	// load loads the selected lanes at m into a new register; the other
	// lanes are 0. Memory under the other lanes is never touched.
	load(m Mem) VecVirtual
	// store writes the selected lanes of v to m and nothing else.
	store(v VecVirtual, m Mem)
	// zero clears the other lanes of v.
	zero(v VecVirtual)
	// fill sets the other lanes of v to the constant c.
	fill(v VecVirtual, c constant)
}

// avx2Tail is an AVX2 mask: all ones in the lanes it selects.
type avx2Tail struct{ mask VecVirtual }

// avx2Mask returns the mask of the first (or the last) e lanes: the 8 int32
// at laneMasks + 4·(8 − e) (or + 4·(8 + e)).
func avx2Mask(e GPVirtual, first bool) tail {
	base := GP64()
	LEAQ(laneMasks().Offset(32), base)
	idx := e
	if first {
		idx = GP64()
		MOVQ(e, idx)
		NEGQ(idx)
	}
	t := avx2Tail{YMM()}
	VMOVDQU(Mem{Base: base, Index: idx, Scale: 4}, t.mask)
	return t
}

func (t avx2Tail) load(m Mem) VecVirtual {
	v := YMM()
	VMASKMOVPS(m, t.mask, v)
	return v
}

func (t avx2Tail) store(v VecVirtual, m Mem) { VMASKMOVPS(v, t.mask, m) }

func (t avx2Tail) zero(v VecVirtual) { VANDPS(t.mask, v, v) }

func (t avx2Tail) fill(v VecVirtual, c constant) {
	f := YMM()
	VBROADCASTSS(c.mem(), f)
	VBLENDVPS(t.mask, v, f, v) // v = mask ? v : c
}

// avx512Tail is an AVX-512 mask: a K register with a bit set per lane it
// selects.
type avx512Tail struct{ k OpmaskVirtual }

// avx512Mask returns the mask of the first e lanes, the low e bits of −1
// (BZHI), or of the last e, the low 16 bits of 0xFFFF0000 >> e (SHRX).
func avx512Mask(e GPVirtual, first bool) tail {
	bits, m := GP32(), GP32()
	if first {
		MOVL(U32(math.MaxUint32), bits)
		BZHIL(e.As32(), bits, m)
	} else {
		MOVL(U32(0xFFFF0000), bits)
		SHRXL(e.As32(), bits, m)
	}
	t := avx512Tail{K()}
	KMOVW(m, t.k)
	return t
}

// avx512HalfMask returns the mask of the low 8 lanes (e nil), 0xFF, or of
// the last e of them, the low 8 bits of 0xFF00 >> e (KMOVB takes 8 bits).
func avx512HalfMask(e GPVirtual) tail {
	m := GP32()
	if e == nil {
		MOVL(U32(0xFF), m)
	} else {
		MOVL(U32(0xFF00), m)
		SHRXL(e.As32(), m, m)
	}
	t := avx512Tail{K()}
	KMOVB(m, t.k)
	return t
}

func (t avx512Tail) load(m Mem) VecVirtual {
	v := ZMM()
	VMOVUPS_Z(m, t.k, v)
	return v
}

func (t avx512Tail) store(v VecVirtual, m Mem) { VMOVUPS(v, t.k, m) }

func (t avx512Tail) zero(v VecVirtual) { VMOVAPS_Z(v, t.k, v) }

func (t avx512Tail) fill(v VecVirtual, c constant) {
	f := ZMM()
	VBROADCASTSS(c.mem(), f)
	VBLENDMPS(v, f, t.k, v) // v = k ? v : c
}

// laneMasks is the table the AVX2 masks are read from: 8 × −1, 8 × 0,
// 8 × −1. The 8 int32 at offset 8 − e are the mask of the first e lanes;
// those at 8 + e the mask of the last e.
var laneMasksMem *Mem

func laneMasks() Mem {
	if laneMasksMem == nil {
		m := GLOBL("laneMasks", RODATA|NOPTR)
		for i := range 24 {
			v := uint32(0)
			if i < 8 || i >= 16 {
				v = math.MaxUint32
			}
			DATA(4*i, U32(v))
		}
		laneMasksMem = &m
	}
	return *laneMasksMem
}

// A constant is a float32 the routines read from memory: a table of copies
// as wide as the widest vector of the isas generated that read constants
// as full vectors (not as embedded broadcasts), emitted once, so that any
// vector instruction of theirs can take it as a memory operand and
// VBROADCASTSS can load it.
type constant struct {
	name  string
	value float32
}

var constMems = map[string]Mem{}

func (c constant) mem() Mem {
	if m, ok := constMems[c.name]; ok {
		return m
	}
	m := GLOBL(c.name, RODATA|NOPTR)
	lanes := 0
	for _, is := range isas {
		if !is.bcst {
			lanes = max(lanes, is.lanes)
		}
	}
	lanes = max(lanes, 1)
	for i := range lanes {
		DATA(4*i, U32(math.Float32bits(c.value)))
	}
	constMems[c.name] = m
	return m
}

// splat loads c into every lane of a new register.
func (is *isa) splat(c constant) VecVirtual {
	v := is.vec()
	VBROADCASTSS(c.mem(), v)
	return v
}

// withConst emits op(args...), whose first operand may be a constant in
// memory: on an isa with embedded broadcasts that is bcst(args...), the
// _BCST form of op.
func (is *isa) withConst(op, bcst func(...Op), args ...Op) {
	if _, ok := args[0].(Mem); ok && is.bcst {
		bcst(args...)
		return
	}
	op(args...)
}

// copyConst copies c, a register or a constant in memory, into v.
func (is *isa) copyConst(c Op, v VecVirtual) {
	if _, ok := c.(Mem); ok && is.bcst {
		VBROADCASTSS(c, v)
		return
	}
	VMOVUPS(c, v)
}

var negInf = constant{"negInf", float32(math.Inf(-1))}

// view returns the low w bytes of the vector register v.
func view(v VecVirtual, w int) Register {
	switch w {
	case 16:
		return v.AsX()
	case 32:
		return v.AsY()
	}
	return v.AsZ()
}

// foldHalves combines the upper half of v into its lower half with op until
// only the low 128 bits are left, which it returns.
func (is *isa) foldHalves(v VecVirtual, op func(...Op)) Register {
	for w := is.bytes(); w > 16; w /= 2 {
		hi := XMM()
		if w == 64 {
			hi = YMM()
			VEXTRACTF64X4(U8(1), v.AsZ(), hi)
		} else {
			VEXTRACTF128(U8(1), v.AsY(), hi)
		}
		op(hi, view(v, w/2), view(v, w/2))
	}
	return v.AsX()
}

// reducePS combines the float32 lanes of v with op (VADDPS, VMAXPS) into
// lane 0, which it returns as an XMM register; v is clobbered.
func (is *isa) reducePS(v VecVirtual, op func(...Op)) Register {
	x := is.foldHalves(v, op)
	t := XMM()
	VPERMILPS(U8(0x4e), x, t) // lanes 2 3 0 1
	op(t, x, x)
	VPERMILPS(U8(0xb1), x, t) // lanes 1 0 3 2
	op(t, x, x)
	return x
}

// reducePD adds the float64 lanes of v into lane 0, which it returns as an
// XMM register; v is clobbered.
func (is *isa) reducePD(v VecVirtual) Register {
	x := is.foldHalves(v, VADDPD)
	t := XMM()
	VPERMILPD(U8(1), x, t)
	VADDSD(t, x, x)
	return x
}

// fold adds the float32 accumulator acc (then zeroed) to the float64
// accumulator acc64, lanes widened: the blockwise summation that keeps row
// sums accurate (see sumBlock in generic.go).
func (is *isa) fold(acc, acc64 VecVirtual) {
	half := is.bytes() / 2
	lo, hi := is.vec(), is.vec()
	VCVTPS2PD(view(acc, half), lo)
	if half == 32 {
		VEXTRACTF64X4(U8(1), acc.AsZ(), view(hi, half))
	} else {
		VEXTRACTF128(U8(1), acc.AsY(), view(hi, half))
	}
	VCVTPS2PD(view(hi, half), hi)
	VADDPD(lo, acc64, acc64)
	VADDPD(hi, acc64, acc64)
	zero(acc)
}

// zero clears the vector register v.
func zero(v VecVirtual) { VXORPS(v, v, v) }

// vecs allocates n vector registers.
func (is *isa) vecs(n int) []VecVirtual {
	v := make([]VecVirtual, n)
	for i := range v {
		v[i] = is.vec()
	}
	return v
}

// label returns a label name unique within the routine.
func label(name string) LabelRef {
	labelCount++
	return LabelRef(fmt.Sprintf("%s_%d", name, labelCount))
}

var labelCount int

// text starts the routine name+is.suffix with the Go signature sig. Its doc
// comment says which pure-Go routine of generic.go it is the twin of: the
// routine computes the same values, with FMA where the twin has madd and,
// for sums, another order of the additions.
func (is *isa) text(name, sig, twin string, doc ...string) {
	labelCount = 0
	TEXT(name+is.suffix, NOSPLIT, sig)
	Doc(append([]string{fmt.Sprintf("%s%s is %s with %s (see generic.go).", name, is.suffix, twin, is.suffix)}, doc...)...)
	Pragma("noescape")
}

// ret ends a routine.
func ret() {
	VZEROUPPER()
	RET()
}

// load loads an integer or pointer argument into a new register.
func load(c gotypes.Component) GPVirtual {
	r := GP64()
	Load(c, r)
	return r
}

// paramMem returns the address of the named scalar argument.
func paramMem(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
