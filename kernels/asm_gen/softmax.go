package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// sumBlock is the number of elements a row sum adds in float32 vector
// accumulators before it folds them into a float64 accumulator (see
// sumBlock in generic.go).
const sumBlock = 256

// expRows (twin: expRowsGeneric): per row r of src, m_r = max; dst_i =
// e^(x_i − m_r); z_r = Σ dst_i. A loop over the rows for the maxes, then one
// for the rest: per row, e^(x_i − m) stored and summed in one sweep, then
// the float64 sum reduced and stored.
func expRows(is *isa) {
	is.text("expRows", "func(dst, src []float32, cols int, m []float32, z []float64)", "expRowsGeneric",
		"rows = len(m). Each row's sum is accumulated in float32 vectors and",
		"folded into float64 every 256 elements.")
	expRowsBody(is, true)
	ret()
}

// expSumRows (twin: expSumRowsGeneric): per row, m_r = max; z_r = Σ e^(x_i −
// m_r), nothing stored.
func expSumRows(is *isa) {
	is.text("expSumRows", "func(src []float32, cols int, m []float32, z []float64)", "expSumRowsGeneric",
		"rows = len(m). Each row's sum is accumulated in float32 vectors and",
		"folded into float64 every 256 elements.")
	expRowsBody(is, false)
	ret()
}

// expDotRows (twin: expDotRowsGeneric): expRows that also sums d_r = Σ
// w_i·(x_i − m_r) with the class weights w: label smoothing's sweep.
func expDotRows(is *isa) {
	is.text("expDotRows", "func(dst, src, w []float32, cols int, m []float32, z, d []float64)", "expDotRowsGeneric",
		"rows = len(m); len(w) ≥ cols. It reads src_i before it writes dst_i, so dst",
		"may be src. Each row's sums are accumulated in float32 vectors and folded",
		"into float64 every 256 elements.")
	e := expRowsState{is: is, store: true, dot: true}
	e.dst = load(Param("dst").Base())
	e.body()
	ret()
}

// expRowsBody is expRows, or expSumRows when store is false.
func expRowsBody(is *isa, store bool) {
	e := expRowsState{is: is, store: store}
	if store {
		e.dst = load(Param("dst").Base())
	}
	e.body()
}

// body emits the routine after the dst pointer.
func (e expRowsState) body() {
	is := e.is
	e.src, e.cols = load(Param("src").Base()), load(Param("cols"))
	e.mp, e.zp = load(Param("m").Base()), load(Param("z").Base())
	rows := load(Param("m").Len())
	busy := 6 // m, 2 sums, the float64 sum, a mask, the part vector
	if e.dot {
		e.w, e.dp = GP64(), load(Param("d").Base())
		busy += 5 // 2 sums, the float64 sum, w·(x − m), w
	}
	e.lockstep = is.expGroup
	if e.dot && is.regs < 32 {
		e.lockstep = 1 // AVX2's 16 registers hold the sums of one vector's exp at a time
	}
	e.k = is.expConsts(busy, e.lockstep)
	is.rowMaxes(e.src, e.cols, e.mp, rows)
	is.shapes(e.cols, func(sh shape) {
		rowLoop(rows, func() { e.row(sh) })
	})
}

// expRowsState is expRowsBody's: the pointers it moves along the rows, the
// exp's constants, whether the exps are stored, and whether Σ w·(x − m) is
// summed too (expDotRows).
type expRowsState struct {
	is                     *isa
	k                      *expK
	dst, src, cols, mp, zp GPVirtual
	store                  bool
	dot                    bool
	w, dp                  GPVirtual
	lockstep               int // vectors whose exps are interleaved
}

// row emits one row of shape sh: its exps stored and summed in a pass, two
// float32 accumulators folded into float64 every sumBlock elements, the sum
// stored to z.
func (e expRowsState) row(sh shape) {
	is := e.is
	m := is.vec()
	VBROADCASTSS(Mem{Base: e.mp}, m)
	accs, acc64 := is.vecs(2), is.vec()
	zero(acc64)
	zero(accs[0])
	ptrs := []GPVirtual{e.src}
	if e.store {
		ptrs = append(ptrs, e.dst)
	}
	var dots []VecVirtual
	var dot64 VecVirtual
	if e.dot {
		Load(Param("w").Base(), e.w) // the same weights for every row
		ptrs = append(ptrs, e.w)
		dots, dot64 = is.vecs(2), is.vec()
		zero(dot64)
		zero(dots[0])
	}
	ahead := 0
	if !e.store {
		ahead = prefetchAhead
	}
	pass{is: is, ptrs: ptrs, unroll: 4, block: sumBlock, shape: sh, prefetch: ahead, lockstep: e.lockstep,
		group: e.exps(m, accs, dots),
		end: func() {
			is.fold(accs[0], acc64)
			if e.dot {
				is.fold(dots[0], dot64)
			}
		},
		enter: func() {
			zero(accs[1])
			if e.dot {
				zero(dots[1])
			}
		},
		leave: func() {
			VADDPS(accs[1], accs[0], accs[0])
			if e.dot {
				VADDPS(dots[1], dots[0], dots[0])
			}
		},
	}.emit(e.cols)
	VMOVSD(is.reducePD(acc64), Mem{Base: e.zp})
	ADDQ(U8(4), e.mp)
	ADDQ(U8(8), e.zp)
	if e.dot {
		VMOVSD(is.reducePD(dot64), Mem{Base: e.dp})
		ADDQ(U8(8), e.dp)
	}
}

// exps is the pass's group: e^(x − m) of each vector (and w·(x − m) added
// to dots[k mod 2], see dot), then (the rest) each stored if wanted, its
// lanes not its own cleared, and added to accs[k mod 2].
func (e expRowsState) exps(m VecVirtual, accs, dots []VecVirtual) func([]vecAt) func([]vecAt) {
	is := e.is
	return func(vs []vecAt) func([]vecAt) {
		as := make([]VecVirtual, len(vs))
		dot := make([]func(), len(vs))
		for i, v := range vs {
			as[i] = v.load(is, Mem{Base: e.src})
			VSUBPS(m, as[i], as[i]) // a = x − m
			if e.dot {
				dot[i] = e.dot1(v, as[i], dots)
			}
		}
		fs := e.k.exp(is, as...)
		return func(ws []vecAt) {
			for i, w := range ws {
				if dot[i] != nil {
					dot[i]()
				}
				if e.store {
					w.store(fs[i], Mem{Base: e.dst})
				}
				w.zeroOthers(fs[i])
				VADDPS(fs[i], accs[w.k%2], accs[w.k%2])
			}
		}
	}
}

// dot1 adds w·a (a = x − m) of the vector v to dots[v.k mod 2]: now, for a
// full vector, or in the rest it returns, for a tail or a part vector,
// whose lanes not its own are cleared first (a tail's x − m is −m, and an
// overlapped lane's is added by the vector before).
func (e expRowsState) dot1(v vecAt, a VecVirtual, dots []VecVirtual) (rest func()) {
	is := e.is
	if v.own() == nil && v.part == nil {
		VFMADD231PS(v.src(is, Mem{Base: e.w}), a, dots[v.k%2])
		return nil
	}
	p := is.vec()
	VMULPS(v.src(is, Mem{Base: e.w}), a, p)
	v.zeroOthers(p)
	return func() { VADDPS(p, dots[v.k%2], dots[v.k%2]) }
}

// scaleRows (twin: scaleRowsGeneric): x_ri ·= c_r.
func scaleRows(is *isa) {
	is.text("scaleRows", "func(x []float32, cols int, c []float32)", "scaleRowsGeneric",
		"rows = len(c).")
	x, cols := load(Param("x").Base()), load(Param("cols"))
	cp, rows := load(Param("c").Base()), load(Param("c").Len())
	is.shapes(cols, func(sh shape) {
		rowLoop(rows, func() {
			c := is.vec()
			VBROADCASTSS(Mem{Base: cp}, c)
			pass{is: is, ptrs: []GPVirtual{x}, unroll: 4, shape: sh, group: oneAtATime(func(v vecAt) func(vecAt) {
				y := is.vec()
				VMULPS(v.src(is, Mem{Base: x}), c, y)
				return func(w vecAt) { w.store(y, Mem{Base: x}) }
			})}.emit(cols)
			ADDQ(U8(4), cp)
		})
	})
	ret()
}

// scaleStream (twin: scaleStreamGeneric): dst_i = src_i·c, written with
// non-temporal stores, which go to memory without first reading dst's
// lines into the cache: the two-pass softmax's output, larger than the
// cache, is then written to memory once instead of read and written
// (twopass.go). src is a block in L1. The stores are fenced before the
// routine returns, so that they are ordered before any later store.
func scaleStream(is *isa) {
	is.text("scaleStream", "func(dst, src []float32, c float32)", "scaleStreamGeneric",
		"len(src) is a multiple of 16 and dst is 64-byte aligned (non-temporal",
		"stores take whole aligned vectors); len(dst) ≥ len(src).")
	dst, src, n := load(Param("dst").Base()), load(Param("src").Base()), load(Param("src").Len())
	c := is.vec()
	VBROADCASTSS(paramMem("c"), c)
	loop, single, done := label("loop"), label("single"), label("done")
	for _, l := range []struct {
		top   LabelRef
		elems int
		next  LabelRef
	}{{loop, 256 / 4, single}, {single, 64 / 4, done}} {
		Label(string(l.top))
		CMPQ(n, U32(l.elems))
		JB(l.next)
		for off := 0; off < l.elems*4; off += is.bytes() {
			v := is.vec()
			VMULPS(Mem{Base: src, Disp: off}, c, v)
			VMOVNTPS(v, Mem{Base: dst, Disp: off})
		}
		ADDQ(U32(l.elems*4), src)
		ADDQ(U32(l.elems*4), dst)
		SUBQ(U32(l.elems), n)
		JMP(l.top)
	}
	Label(string(done))
	SFENCE()
	ret()
}

// logSoftmaxRows (twin: logSoftmaxRowsGeneric): dst_i = (x_i − m_r) −
// logZ_r, two subtractions as in the twin.
func logSoftmaxRows(is *isa) {
	is.text("logSoftmaxRows", "func(dst, src []float32, cols int, m, logZ []float32)", "logSoftmaxRowsGeneric",
		"rows = len(m). It reads src_i before it writes dst_i, so dst may be src.")
	dst, src, cols := load(Param("dst").Base()), load(Param("src").Base()), load(Param("cols"))
	mp, lp, rows := load(Param("m").Base()), load(Param("logZ").Base()), load(Param("m").Len())
	is.shapes(cols, func(sh shape) {
		rowLoop(rows, func() {
			m, lz := is.vec(), is.vec()
			VBROADCASTSS(Mem{Base: mp}, m)
			VBROADCASTSS(Mem{Base: lp}, lz)
			pass{is: is, ptrs: []GPVirtual{src, dst}, unroll: 4, shape: sh, group: oneAtATime(func(v vecAt) func(vecAt) {
				y := v.load(is, Mem{Base: src})
				VSUBPS(m, y, y)
				VSUBPS(lz, y, y)
				return func(w vecAt) { w.store(y, Mem{Base: dst}) }
			})}.emit(cols)
			ADDQ(U8(4), mp)
			ADDQ(U8(4), lp)
		})
	})
	ret()
}
