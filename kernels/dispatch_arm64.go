//go:build !purego

package kernels

// The arm64 dispatch table: dispatch.go's methods with a case for NEON. The
// routines named <primitive>NEON are generated into softmax_arm64.s (see
// gen.go); each is the twin of <primitive>Generic. The calls are direct,
// not through function values, so that escape analysis keeps the per-row
// arrays of rows.go on the stack.

// neonImpl needs nothing beyond the architecture: every arm64 CPU has
// Advanced SIMD (ASIMD, NEON), and Go's arm64 port assumes it.
var neonImpl = &Impl{name: "neon", isa: isaNEON}

// simdImpls lists the arm64 SIMD implementations, fastest first.
var simdImpls = []*Impl{neonImpl}

// shortRowGroup returns the number of rows of cols elements that
// softmaxShortRows takes at a time, or 0 where rows are too long for it.
func (is isa) shortRowGroup(cols int) int {
	if rowPathOnly {
		return 0
	}
	if is == isaNEON && cols <= softmaxShortRowsMaxColsNEON {
		return softmaxShortRowsGroupNEON
	}
	return 0
}

// The batch kernels (rows.go) take short rows in blocks of blockRows,
// whole groups of softmaxShortRows' rows each.
const _ = uint(-(blockRows % softmaxShortRowsGroupNEON))

// softmaxShortRows: the softmax of whole groups of shortRowGroup(cols) rows,
// divided by scale, with each row's max and sum in m and z.
func (is isa) softmaxShortRows(dst, src []float32, cols int, scale float32, m, z []float32) {
	switch is {
	case isaNEON:
		softmaxShortRowsNEON(dst, src, cols, scale, m, z)
	default:
		panic("kernels: no softmaxShortRows")
	}
}

// crossEntropyShortRowGroup: NEON has no crossEntropyShortRows;
// CrossEntropyGradWith's short rows take the row primitives.
func (is isa) crossEntropyShortRowGroup(cols int) int { return 0 }

// expMinusMax: dst_i = e^(x_i − m), for x_i − m ≤ 0.
func (is isa) expMinusMax(dst, x []float32, m float32) {
	switch is {
	case isaNEON:
		expMinusMaxNEON(dst, x, m)
	default:
		expMinusMax(dst, x, m)
	}
}

// expRows: per row r of src, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i.
func (is isa) expRows(dst, src []float32, cols int, m []float32, z []float64) {
	switch is {
	case isaNEON:
		expRowsNEON(dst, src, cols, m, z)
	default:
		expRowsGeneric(dst, src, cols, m, z)
	}
}

// expSumRows: per row, m_r = max; z_r = Σ e^(x_i − m_r).
func (is isa) expSumRows(src []float32, cols int, m []float32, z []float64) {
	switch is {
	case isaNEON:
		expSumRowsNEON(src, cols, m, z)
	default:
		expSumRowsGeneric(src, cols, m, z)
	}
}

// scaleRows: x_ri ·= c_r.
func (is isa) scaleRows(x []float32, cols int, c []float32) {
	switch is {
	case isaNEON:
		scaleRowsNEON(x, cols, c)
	default:
		scaleRowsGeneric(x, cols, c)
	}
}

// streams reports whether an output of n float32 is better written with
// scaleStream's non-temporal stores: never without them.
func (is isa) streams(n int) bool { return false }

// scaleStream: dst_i = src_i·c; len(src) is a multiple of 16 and dst is
// 64-byte aligned.
func (is isa) scaleStream(dst, src []float32, c float32) {
	scaleStreamGeneric(dst, src, c)
}

// logSoftmaxRows: dst_i = (x_i − m_r) − logZ_r.
func (is isa) logSoftmaxRows(dst, src []float32, cols int, m, logZ []float32) {
	switch is {
	case isaNEON:
		logSoftmaxRowsNEON(dst, src, cols, m, logZ)
	default:
		logSoftmaxRowsGeneric(dst, src, cols, m, logZ)
	}
}

// softTargetRows: per row, m_r = max; T_r = Σ t_i; D_r = Σ t_i·(x_i − m_r);
// grad_i = e^(x_i − m_r); z_r = Σ grad_i.
func (is isa) softTargetRows(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64) {
	switch is {
	case isaNEON:
		softTargetRowsNEON(grad, logits, targets, cols, m, z, tsum, td)
	default:
		softTargetRowsGeneric(grad, logits, targets, cols, m, z, tsum, td)
	}
}

// expDotRows: per row, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i;
// d_r = Σ w_i·(x_i − m_r).
func (is isa) expDotRows(dst, src, w []float32, cols int, m []float32, z, d []float64) {
	switch is {
	case isaNEON:
		expDotRowsNEON(dst, src, w, cols, m, z, d)
	default:
		expDotRowsGeneric(dst, src, w, cols, m, z, d)
	}
}

// scaleShiftRows: x_ri = x_ri·c_r − s·w_i.
func (is isa) scaleShiftRows(x, w []float32, cols int, c []float32, s float32) {
	switch is {
	case isaNEON:
		scaleShiftRowsNEON(x, w, cols, c, s)
	default:
		scaleShiftRowsGeneric(x, w, cols, c, s)
	}
}

// crossEntropyShortRows is never called where crossEntropyShortRowGroup
// is 0.
func (is isa) crossEntropyShortRows(dst, src []float32, cols int, labels []int32, xl, wl, k, shift, w, m, logZ, d, losses []float32, sum []float64) {
	panic("kernels: no crossEntropyShortRows")
}

// softGradRows: grad_i = (e_i·c_r − t_i)·invRows.
func (is isa) softGradRows(grad, targets []float32, cols int, c []float32, invRows float32) {
	switch is {
	case isaNEON:
		softGradRowsNEON(grad, targets, cols, c, invRows)
	default:
		softGradRowsGeneric(grad, targets, cols, c, invRows)
	}
}

// softmaxBackward is the whole SoftmaxBackward kernel.
func (is isa) softmaxBackward(dx, s, dy []float32, cols int) {
	switch is {
	case isaNEON:
		softmaxBackwardNEON(dx, s, dy, cols)
	default:
		softmaxBackwardGeneric(dx, s, dy, cols)
	}
}

// logSoftmaxBackward is the whole LogSoftmaxBackward kernel.
func (is isa) logSoftmaxBackward(dx, logp, dy []float32, cols int) {
	switch is {
	case isaNEON:
		logSoftmaxBackwardNEON(dx, logp, dy, cols)
	default:
		logSoftmaxBackwardGeneric(dx, logp, dy, cols)
	}
}

// ger is the whole Ger kernel.
func (is isa) ger(a []float32, lda int, alpha float32, x, y []float32) {
	switch is {
	case isaNEON:
		gerNEON(a, lda, alpha, x, y)
	default:
		gerGeneric(a, lda, alpha, x, y)
	}
}

// gerBatch is the whole GerBatch kernel.
func (is isa) gerBatch(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	switch is {
	case isaNEON:
		if n >= gerBatchTransposedMinColsNEON && n <= gerBatchTransposedMaxColsNEON {
			// A 10-class head: tiles of rows × columns turned around (see
			// gerBatchTransposed in asm_gen/neon_ger.go).
			gerBatchTransposedNEON(a, lda, alpha, x, m, y, n)
			return
		}
		gerBatchNEON(a, lda, alpha, x, m, y, n)
	default:
		gerBatchGeneric(a, lda, alpha, x, m, y, n)
	}
}

// gemmShape returns the rows and columns of the register tiles of
// gemmTile and gemmTileT; NEON has no gemmTileT (mrT = 0: Gemm never runs
// on Cᵀ).
func (is isa) gemmShape() (mr, nr, mrT, nrT int) {
	if is == isaNEON {
		return gemmMRNEON, gemmNRNEON, 0, 0
	}
	return gemmMRGeneric, gemmNRGeneric, gemmMRGeneric, gemmNRGeneric
}

// gemmTile is the micro-kernel of Gemm, a block of rows of tiles (see
// gemmTileGeneric).
func (is isa) gemmTile(kc int, a []float32, ars, aps, anext int, b []float32, bps, bnext int, c []float32, ldc, m, n int, alpha float32, add bool) {
	switch is {
	case isaNEON:
		// A call per tile: one panel of Ã and one of B̃ each.
		for i := 0; i < m; i += gemmMRNEON {
			mr := min(gemmMRNEON, m-i)
			ap := a[i/gemmMRNEON*anext:]
			for j := 0; j < n; j += gemmNRNEON {
				nr := min(gemmNRNEON, n-j)
				ct := c[i*ldc+j : (i+mr-1)*ldc+j+nr]
				gemmTileNEON(kc, ap, ars, aps, b[j/gemmNRNEON*bnext:], bps, ct, ldc, mr, nr, alpha, add)
			}
		}
	default:
		gemmTileGeneric(kc, a, ars, aps, anext, b, bps, bnext, c, ldc, m, n, alpha, add)
	}
}

// gemmTileT is gemmTile for a tile of Cᵀ (see gemmTileTGeneric), never
// called for NEON.
func (is isa) gemmTileT(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	gemmTileTGeneric(kc, a, ars, aps, b, bps, c, ldc, mr, nr, alpha, add)
}

// gemmPackT packs a whole panel of B̃ from rows of src (see
// gemmPackTGeneric).
func (is isa) gemmPackT(dst, src []float32, ld, kc int) {
	nr := gemmNRGeneric
	if is == isaNEON {
		nr = gemmNRNEON
	}
	gemmPackTGeneric(dst, src, ld, kc, nr)
}

// gemmPackN copies a whole panel of B̃ from columns of src (see
// gemmPackNGeneric).
func (is isa) gemmPackN(dst, src []float32, ld, kc int) {
	nr := gemmNRGeneric
	if is == isaNEON {
		nr = gemmNRNEON
	}
	gemmPackNGeneric(dst, src, ld, kc, nr)
}

// gemmDotShape returns the rows of A and of B of gemmDot's tile; 0 where
// the isa has no gemmDot.
func (is isa) gemmDotShape() (mr, nr int) { return 0, 0 }

// gemmDot is the micro-kernel of Gemm for A·Bᵀ with few rows of B (see
// gemmDotGeneric); never called where gemmDotShape is 0.
func (is isa) gemmDot(kk int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	gemmDotGeneric(kk, a, lda, b, ldb, c, ldc, mr, nr, alpha, add)
}
