package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The constants of exp on x ≤ 0, as in generic.go (the "rr2_p5" scheme:
// two-constant Cody-Waite reduction x = n·ln2 + t, |t| ≤ ln2/2, and a
// degree-5 minimax polynomial for e^t).
var (
	expLog2e    = constant{"expLog2e", 0x1.715476p+0}     // 1/ln 2
	expMagic    = constant{"expMagic", 0x1.8000FEp23}     // 1.5·2²³ + 127: rounds to an integer n in the low mantissa bits, biased so that bits<<23 is 2ⁿ
	expNegLn2Hi = constant{"expNegLn2Hi", -0x1.62E400p-1} // −ln 2 rounded to 16 bits, so n·ln2Hi is exact
	expNegLn2Lo = constant{"expNegLn2Lo", -0x1.7F7D1Cp-20}
	expC5       = constant{"expC5", 0x1.0F9F9Cp-7}
	expC4       = constant{"expC4", 0x1.573A1Ap-5}
	expC3       = constant{"expC3", 0x1.555A80p-3}
	expC2       = constant{"expC2", 0x1.FFFDC6p-2}
	expC1       = constant{"expC1", 0x1.FFFFF6p-1}
	expCutoff   = constant{"expCutoff", -0x1.5D589Ep6} // −87.33654: below it e^x is subnormal and the result is +0
)

// expK holds the operands of exp's constants in one routine: a register
// for the first few (as many as the routine can spare), a memory operand
// for the rest. Each is used once per vector; magic twice.
type expK struct {
	log2e, magic, negLn2Hi, negLn2Lo, c5, c4, c3, c2, c1, cutoff Op
}

// expConsts loads as many of exp's constants into registers as the routine
// can spare: busy is the number of vector registers it needs at once
// besides them and exp's own for group vectors at a time (4 each).
func (is *isa) expConsts(busy, group int) *expK {
	inRegs := is.regs - busy - 4*group
	k := &expK{}
	for i, c := range []struct {
		op *Op
		c  constant
	}{
		{&k.log2e, expLog2e},
		{&k.c4, expC4},
		{&k.c3, expC3},
		{&k.c2, expC2},
		{&k.c1, expC1},
		{&k.negLn2Hi, expNegLn2Hi},
		{&k.negLn2Lo, expNegLn2Lo},
		{&k.cutoff, expCutoff},
		// magic and c5 start the chains of v and p: copies, as loads.
		{&k.magic, expMagic},
		{&k.c5, expC5},
	} {
		if i < inRegs {
			*c.op = is.splat(c.c)
		} else {
			*c.op = c.c.mem()
		}
	}
	return k
}

// exp returns e^a lane by lane for a ≤ 0, for each register of as (which
// it clobbers), in new registers. It is the loop body of expMinusMax in
// generic.go, step for step, with one FMA (a single rounding) where
// expMinusMax has madd:
//
//	v = fma(a, log2e, magic)   n + magic, n = round(a/ln2), in the low bits
//	s = bits(v) << 23          2ⁿ
//	n = v − magic
//	t = fma(n, −ln2hi, a)      a − n·ln2, in two steps
//	t = fma(n, −ln2lo, t)
//	p = fma(c5, t, c4); p = fma(p, t, c3); p = fma(p, t, c2); p = fma(p, t, c1)
//	f = fma(t·s, p, s)         2ⁿ·(1 + t·p(t)) = e^a
//	f = 0 where a < cutoff     a compare and a mask; NaN compares false and stays NaN
//
// Each step is emitted for every register of as before the next. One
// vector's exp is a chain of 14 dependent instructions, longer than the
// CPU's scheduler can look past to find the next vector's chain; emitted
// side by side, the chains of a group overlap (see pass.group). On an Ice
// Lake server, expMinusMax over a row in L1 ran 12% faster on AVX-512
// (groups of 4) and about 10% on AVX2 (groups of 2).
func (k *expK) exp(is *isa, as ...VecVirtual) []VecVirtual {
	each := func(f func(i int)) {
		for i := range as {
			f(i)
		}
	}
	v, s := is.vecs(len(as)), is.vecs(len(as))
	under := make([]func(s, t, p VecVirtual), len(as))
	Comment(fmt.Sprintf("exp of %d vectors, reduction: v = a·log2e + magic, s = 2ⁿ, n = v − magic, t = a − n·ln2hi − n·ln2lo.", len(as)))
	each(func(i int) { is.copyConst(k.magic, v[i]) })
	each(func(i int) { is.withConst(VFMADD231PS, VFMADD231PS_BCST, k.log2e, as[i], v[i]) }) // v = a·log2e + magic
	each(func(i int) { VPSLLD(U8(23), v[i], s[i]) })                                        // s = 2ⁿ
	each(func(i int) { is.withConst(VSUBPS, VSUBPS_BCST, k.magic, v[i], v[i]) })            // v = n
	each(func(i int) { under[i] = is.below(as[i], k.cutoff) })
	each(func(i int) { is.withConst(VFMADD231PS, VFMADD231PS_BCST, k.negLn2Hi, v[i], as[i]) }) // a = t = n·(−ln2hi) + a
	each(func(i int) { is.withConst(VFMADD231PS, VFMADD231PS_BCST, k.negLn2Lo, v[i], as[i]) }) // t = n·(−ln2lo) + t
	Comment("exp, polynomial: p = (((c5·t + c4)·t + c3)·t + c2)·t + c1.")
	p := v
	each(func(i int) { is.copyConst(k.c5, p[i]) })
	for _, c := range []Op{k.c4, k.c3, k.c2, k.c1} {
		each(func(i int) { is.withConst(VFMADD213PS, VFMADD213PS_BCST, c, as[i], p[i]) }) // p = t·p + c
	}
	Comment("exp, scaling: f = (t·s)·p + s = 2ⁿ·(1 + t·p), 0 where a is below the cutoff.")
	each(func(i int) { VMULPS(s[i], as[i], as[i]) })  // t·s
	each(func(i int) { under[i](s[i], as[i], p[i]) }) // f = (t·s)·p + s; f = 0 where a < cutoff
	return p
}

// expMinusMax: dst_i = e^(x_i − m), the element-wise exp the tests compare
// with its twin, expMinusMax.
func expMinusMax(is *isa) {
	is.text("expMinusMax", "func(dst, x []float32, m float32)", "expMinusMax",
		"It reads x_i before it writes dst_i, so dst may be x.")
	dst, x, n := load(Param("dst").Base()), load(Param("x").Base()), load(Param("x").Len())
	m := is.vec()
	VBROADCASTSS(paramMem("m"), m)
	k := is.expConsts(3, is.expGroup) // m, a mask, the part vector
	pass{is: is, ptrs: []GPVirtual{x, dst}, unroll: 4, prefetch: prefetchAhead, lockstep: is.expGroup,
		group: func(vs []vecAt) func([]vecAt) {
			as := make([]VecVirtual, len(vs))
			for i, v := range vs {
				as[i] = v.load(is, Mem{Base: x})
				VSUBPS(m, as[i], as[i])
			}
			fs := k.exp(is, as...)
			return func(ws []vecAt) {
				for i, w := range ws {
					w.store(fs[i], Mem{Base: dst})
				}
			}
		}}.emit(n)
	ret()
}
