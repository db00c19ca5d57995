package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// softTargetRows (twin: softTargetRowsGeneric): per row, m_r = max; T_r = Σ
// t_i; D_r = Σ t_i·(x_i − m_r); grad_i = e^(x_i − m_r); z_r = Σ grad_i. A
// loop over the rows for the maxes, then one sweep per row for the rest,
// which reads x_i and t_i before it writes grad_i. That sweep is bound by
// exp's arithmetic, not by the latency of its additions, so each sum has
// one float32 accumulator.
func softTargetRows(is *isa) {
	is.text("softTargetRows",
		"func(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64)",
		"softTargetRowsGeneric",
		"rows = len(m). It reads logits_i before it writes grad_i, so grad may be",
		"logits. Each row's sums are accumulated in float32 vectors and folded",
		"into float64 every 256 elements.")
	g, x, t := load(Param("grad").Base()), load(Param("logits").Base()), load(Param("targets").Base())
	cols, mp, rows := load(Param("cols")), load(Param("m").Base()), load(Param("m").Len())
	// m, 3 sums, t, a mask, the part vector's t, t·(x − m) and e^(x − m), besides exp's
	k := is.expConsts(10, 1)
	// The float64 sums live in the frame: z, T, D.
	sums := AllocLocal(3 * is.bytes())
	is.rowMaxes(x, cols, mp, rows)
	is.shapes(cols, func(sh shape) {
		rowLoop(rows, func() {
			m := is.vec()
			VBROADCASTSS(Mem{Base: mp}, m)

			az, at, ad := is.vec(), is.vec(), is.vec()
			for _, a := range []VecVirtual{az, at, ad} {
				zero(a)
			}
			for i := range 3 {
				VMOVUPS(az, sums.Offset(i*is.bytes()))
			}
			pass{is: is, ptrs: []GPVirtual{x, t, g}, unroll: 4, shape: sh, block: sumBlock,
				group: oneAtATime(func(v vecAt) func(vecAt) {
					a := v.load(is, Mem{Base: x})
					VSUBPS(m, a, a) // a = x − m
					ti := v.load(is, Mem{Base: t})
					var td VecVirtual
					if v.own() == nil && v.part == nil {
						VADDPS(ti, at, at)
						VFMADD231PS(ti, a, ad) // D += t·(x − m)
					} else {
						// t·(x − m) in full, then the lanes that are not
						// the vector's own cleared: a tail's x − m = −m
						// and an overlapped lane's x − m may be infinite.
						td = is.vec()
						VMULPS(ti, a, td)
						v.zeroOthers(td)
						v.zeroOthers(ti)
					}
					f := k.exp(is, a)[0]
					return func(w vecAt) {
						if td != nil {
							VADDPS(ti, at, at)
							VADDPS(td, ad, ad)
						}
						w.store(f, Mem{Base: g})
						w.zeroOthers(f)
						VADDPS(f, az, az)
					}
				}),
				end: func() {
					for i, a := range []VecVirtual{az, at, ad} {
						s := is.vec()
						VMOVUPS(sums.Offset(i*is.bytes()), s)
						is.fold(a, s)
						VMOVUPS(s, sums.Offset(i*is.bytes()))
					}
				},
			}.emit(cols)
			for i, name := range []string{"z", "tsum", "td"} {
				s := is.vec()
				VMOVUPS(sums.Offset(i*is.bytes()), s)
				out := GP64()
				Load(Param(name).Base(), out)
				VMOVSD(is.reducePD(s), Mem{Base: out, Index: rowIndex(rows), Scale: 8})
			}
			ADDQ(U8(4), mp)
		})
	})
	ret()
}

// rowIndex returns the index of the current row in a rowLoop over rows,
// which counts down: len(m) − rows.
func rowIndex(rows GPVirtual) GPVirtual {
	r := GP64()
	Load(Param("m").Len(), r)
	SUBQ(rows, r)
	return r
}

// softGradRows (twin: softGradRowsGeneric): grad_i = fma(e_i, c_r,
// −t_i)·invRows.
func softGradRows(is *isa) {
	is.text("softGradRows", "func(grad, targets []float32, cols int, c []float32, invRows float32)",
		"softGradRowsGeneric", "rows = len(c).")
	g, t, cols := load(Param("grad").Base()), load(Param("targets").Base()), load(Param("cols"))
	cp, rows := load(Param("c").Base()), load(Param("c").Len())
	inv := is.vec()
	VBROADCASTSS(paramMem("invRows"), inv)
	is.shapes(cols, func(sh shape) {
		rowLoop(rows, func() {
			c := is.vec()
			VBROADCASTSS(Mem{Base: cp}, c)
			pass{is: is, ptrs: []GPVirtual{g, t}, unroll: 4, shape: sh, group: oneAtATime(func(v vecAt) func(vecAt) {
				e := v.load(is, Mem{Base: g})
				VFMSUB213PS(v.src(is, Mem{Base: t}), c, e) // e = c·e − t
				VMULPS(inv, e, e)
				return func(w vecAt) { w.store(e, Mem{Base: g}) }
			})}.emit(cols)
			ADDQ(U8(4), cp)
		})
	})
	ret()
}

// scaleShiftRows (twin: scaleShiftRowsGeneric): x_ri = fma(x_ri, c_r,
// −s·w_i): the product with −s (s > 0, negated exactly), then one
// multiply-add.
func scaleShiftRows(is *isa) {
	is.text("scaleShiftRows", "func(x, w []float32, cols int, c []float32, s float32)",
		"scaleShiftRowsGeneric", "rows = len(c); len(w) ≥ cols.")
	x, cols := load(Param("x").Base()), load(Param("cols"))
	cp, rows := load(Param("c").Base()), load(Param("c").Len())
	w := GP64()
	sv, ns := is.vec(), is.vec()
	VBROADCASTSS(paramMem("s"), sv)
	zero(ns)
	VSUBPS(sv, ns, ns) // −s (s > 0)
	is.shapes(cols, func(sh shape) {
		rowLoop(rows, func() {
			Load(Param("w").Base(), w)
			c := is.vec()
			VBROADCASTSS(Mem{Base: cp}, c)
			pass{is: is, ptrs: []GPVirtual{x, w}, unroll: 4, shape: sh, group: oneAtATime(func(v vecAt) func(vecAt) {
				y := is.vec()
				VMULPS(v.src(is, Mem{Base: w}), ns, y)     // −s·w
				VFMADD231PS(v.src(is, Mem{Base: x}), c, y) // x·c − s·w
				return func(v vecAt) { v.store(y, Mem{Base: x}) }
			})}.emit(cols)
			ADDQ(U8(4), cp)
		})
	})
	ret()
}
