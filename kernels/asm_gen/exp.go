package main

import (
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
// besides them (exp itself needs 4).
func (is *isa) expConsts(busy int) *expK {
	inRegs := is.regs - busy
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

// exp returns e^a lane by lane for a ≤ 0 in a new register, clobbering a.
// It is the loop body of expMinusMax in generic.go, step for step, with one
// FMA (a single rounding) where expMinusMax has madd:
//
//	v = fma(a, log2e, magic)   n + magic, n = round(a/ln2), in the low bits
//	s = bits(v) << 23          2ⁿ
//	n = v − magic
//	t = fma(n, −ln2hi, a)      a − n·ln2, in two steps
//	t = fma(n, −ln2lo, t)
//	p = fma(c5, t, c4); p = fma(p, t, c3); p = fma(p, t, c2); p = fma(p, t, c1)
//	f = fma(t·s, p, s)         2ⁿ·(1 + t·p(t)) = e^a
//	f = 0 where a < cutoff     a compare and an and-not; NaN compares false and stays NaN
func (k *expK) exp(is *isa, a VecVirtual) VecVirtual {
	v, s := is.vec(), is.vec()
	is.copyConst(k.magic, v)
	is.withConst(VFMADD231PS, VFMADD231PS_BCST, k.log2e, a, v) // v = a·log2e + magic
	VPSLLD(U8(23), v, s)                                       // s = 2ⁿ
	is.withConst(VSUBPS, VSUBPS_BCST, k.magic, v, v)           // v = n
	under := is.below(a, k.cutoff)
	is.withConst(VFMADD231PS, VFMADD231PS_BCST, k.negLn2Hi, v, a) // a = t = n·(−ln2hi) + a
	is.withConst(VFMADD231PS, VFMADD231PS_BCST, k.negLn2Lo, v, a) // t = n·(−ln2lo) + t
	p := v
	is.copyConst(k.c5, p)
	is.withConst(VFMADD213PS, VFMADD213PS_BCST, k.c4, a, p) // p = t·c5 + c4
	is.withConst(VFMADD213PS, VFMADD213PS_BCST, k.c3, a, p)
	is.withConst(VFMADD213PS, VFMADD213PS_BCST, k.c2, a, p)
	is.withConst(VFMADD213PS, VFMADD213PS_BCST, k.c1, a, p)
	VMULPS(s, a, a) // t·s
	under(s, a, p)  // f = (t·s)·p + s; f = 0 where a < cutoff
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
	k := is.expConsts(7) // m, exp, a mask, the part vector
	pass{is: is, ptrs: []GPVirtual{x, dst}, unroll: 4, prefetch: prefetchAhead, body: func(v vecAt) func(vecAt) {
		a := v.load(is, Mem{Base: x})
		VSUBPS(m, a, a)
		f := k.exp(is, a)
		return func(w vecAt) { w.store(f, Mem{Base: dst}) }
	}}.emit(n)
	ret()
}
