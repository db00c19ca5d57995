package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// rowSum emits a blocked sum over the cols elements at the pass's pointers
// (advanced past them) and returns it rounded to float32 and broadcast to
// every lane, as the twins compute float32(sum(…)). add adds one vector's
// terms into a float32 accumulator (one of 4 in the main loop, for latency; a tail's
// masked-off lanes load as 0 and must add 0); terms returns them in a new
// register, for the part vector, whose overlapped lanes rowSum clears.
// Every 256 elements the accumulators are folded into float64.
func (is *isa) rowSum(ptrs []GPVirtual, cols GPVirtual, sh shape, add func(v vecAt, acc VecVirtual), terms func(v vecAt) VecVirtual) VecVirtual {
	accs, acc64 := is.vecs(4), is.vec()
	zero(acc64)
	zero(accs[0])
	pass{is: is, ptrs: ptrs, unroll: 4, block: sumBlock, shape: sh,
		group: oneAtATime(func(v vecAt) func(vecAt) {
			if v.part == nil {
				add(v, accs[v.k])
				return nil
			}
			c := terms(v)
			v.zeroOthers(c)
			return func(vecAt) { VADDPS(c, accs[0], accs[0]) }
		}),
		end: func() { is.fold(accs[0], acc64) },
		enter: func() {
			for _, a := range accs[1:] {
				zero(a)
			}
		},
		leave: func() {
			VADDPS(accs[1], accs[0], accs[0])
			VADDPS(accs[3], accs[2], accs[2])
			VADDPS(accs[2], accs[0], accs[0])
		},
	}.emit(cols)
	x := is.reducePD(acc64)
	VCVTSD2SS(x, x, x)
	d := is.vec()
	VBROADCASTSS(x, d)
	return d
}

// softmaxBackward (twin: softmaxBackwardGeneric): per row, d = float32(⟨s,
// dy⟩); dx_i = s_i·(dy_i − d).
func softmaxBackward(is *isa) {
	is.text("softmaxBackward", "func(dx, s, dy []float32, cols int)", "softmaxBackwardGeneric",
		"Each row is read whole before it is written, and s_i and dy_i before",
		"dx_i, so dx may be s or dy. ⟨s, dy⟩ takes the products with FMA.")
	dx, s, dy := load(Param("dx").Base()), load(Param("s").Base()), load(Param("dy").Base())
	cols, end := load(Param("cols")), endOf(s, Param("s").Len())
	is.shapes(cols, func(sh shape) {
		rowLoopTo(s, end, func() {
			ps, pd := GP64(), GP64()
			MOVQ(s, ps)
			MOVQ(dy, pd)
			d := is.rowSum([]GPVirtual{ps, pd}, cols, sh,
				func(v vecAt, acc VecVirtual) {
					si := v.load(is, Mem{Base: ps})
					VFMADD231PS(v.src(is, Mem{Base: pd}), si, acc) // acc += s·dy
				},
				func(v vecAt) VecVirtual {
					p := v.load(is, Mem{Base: ps})
					VMULPS(v.src(is, Mem{Base: pd}), p, p)
					return p
				})
			pass{is: is, ptrs: []GPVirtual{s, dy, dx}, unroll: 4, shape: sh, group: oneAtATime(func(v vecAt) func(vecAt) {
				y := v.load(is, Mem{Base: dy})
				VSUBPS(d, y, y)                       // dy − d
				VMULPS(v.src(is, Mem{Base: s}), y, y) // s·(dy − d)
				return func(w vecAt) { w.store(y, Mem{Base: dx}) }
			})}.emit(cols)
		})
	})
	ret()
}

// logSoftmaxBackward (twin: logSoftmaxBackwardGeneric): per row, d =
// float32(Σ dy); dx_i = dy_i − e^min(logp_i, 0)·d, as one FNMADD.
func logSoftmaxBackward(is *isa) {
	is.text("logSoftmaxBackward", "func(dx, logp, dy []float32, cols int)", "logSoftmaxBackwardGeneric",
		"Each row's dy is summed before the row is written, and logp_i and dy_i",
		"are read before dx_i is written, so dx may be logp or dy.")
	dx, lp, dy := load(Param("dx").Base()), load(Param("logp").Base()), load(Param("dy").Base())
	cols, end := load(Param("cols")), endOf(lp, Param("logp").Len())
	// Besides the constants and exp's registers: zeros and 4 sums, the
	// float64 sum and 2 to fold them or a mask and a term; then zeros, d,
	// a mask, the part vector and a dy per vector of a group.
	k := is.expConsts(4+is.expGroup, is.expGroup)
	zeros := is.vec()
	zero(zeros)
	is.shapes(cols, func(sh shape) {
		rowLoopTo(lp, end, func() {
			pd := GP64()
			MOVQ(dy, pd)
			d := is.rowSum([]GPVirtual{pd}, cols, sh,
				func(v vecAt, acc VecVirtual) { VADDPS(v.src(is, Mem{Base: pd}), acc, acc) },
				func(v vecAt) VecVirtual { return v.load(is, Mem{Base: pd}) })
			pass{is: is, ptrs: []GPVirtual{lp, dy, dx}, unroll: 4, shape: sh, lockstep: is.expGroup,
				group: func(vs []vecAt) func([]vecAt) {
					// min(logp, 0): VMINPS returns its first (Go order)
					// operand when either is NaN, so a NaN logp stays NaN.
					as := make([]VecVirtual, len(vs))
					for i, v := range vs {
						as[i] = is.vec()
						VMINPS(v.src(is, Mem{Base: lp}), zeros, as[i])
					}
					es := k.exp(is, as...) // e^(a − 0), and a − 0 = a
					ys := make([]VecVirtual, len(vs))
					for i, v := range vs {
						ys[i] = v.load(is, Mem{Base: dy})
						VFNMADD231PS(d, es[i], ys[i]) // dy − e·d
					}
					return func(ws []vecAt) {
						for i, w := range ws {
							w.store(ys[i], Mem{Base: dx})
						}
					}
				}}.emit(cols)
		})
	})
	ret()
}
