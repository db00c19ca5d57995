//go:build !purego

package kernels

import "github.com/klauspost/cpuid/v2"

// The amd64 dispatch table: dispatch.go's methods with a case per SIMD
// instruction set. The routines named <primitive><ISA> are generated into
// softmax_amd64.s (see gen.go); each is the twin of <primitive>Generic.
// The calls are direct, not through function values, so that escape
// analysis keeps the per-row arrays of rows.go on the stack.

// avx512Impl needs AVX-512 F, BW, DQ and VL, and BMI2 for its tail masks
// (every AVX-512 CPU has it).
var avx512Impl = &Impl{name: "avx512", isa: isaAVX512,
	missing: cpuMissing(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512DQ, cpuid.AVX512VL, cpuid.BMI2)}

// avx2Impl needs AVX2 and FMA.
var avx2Impl = &Impl{name: "avx2", isa: isaAVX2, missing: cpuMissing(cpuid.AVX2, cpuid.FMA3)}

// simdImpls lists the amd64 SIMD implementations, fastest first. Each gets
// its CPU check from cpuMissing. avx512 is the default where the CPU has
// it: where its 16-wide routines measured slower than AVX2's (Ger and
// SoftmaxBackward; LogSoftmaxBackward on rows of up to 16, GerBatch on rows
// of up to 8 and of 12 to 16) it runs AVX2's, below, so that it is as fast
// as avx2 or faster on every kernel and shape of bench/.
var simdImpls = []*Impl{avx512Impl, avx2Impl}

// expRows: per row r of src, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i.
func (is isa) expRows(dst, src []float32, cols int, m []float32, z []float64) {
	switch is {
	case isaAVX512:
		expRowsAVX512(dst, src, cols, m, z)
	case isaAVX2:
		expRowsAVX2(dst, src, cols, m, z)
	default:
		expRowsGeneric(dst, src, cols, m, z)
	}
}

// shortRowGroup returns the number of rows of cols elements that softmaxShortRows
// takes at a time, or 0 where rows are too long for it (the limits are the
// generator's: limits_amd64.go).
func (is isa) shortRowGroup(cols int) int {
	if rowPathOnly {
		return 0
	}
	switch {
	case is == isaAVX512 && cols <= softmaxShortRowsMaxColsAVX512:
		return softmaxShortRowsGroupAVX512
	case is == isaAVX2 && cols <= softmaxShortRowsMaxColsAVX2:
		return softmaxShortRowsGroupAVX2
	}
	return 0
}

// The batch kernels (rows.go) take short rows in blocks of blockRows, whole
// groups of softmaxShortRows's rows each: a group that does not divide
// blockRows fails to compile here.
const (
	_ = uint(-(blockRows % softmaxShortRowsGroupAVX512))
	_ = uint(-(blockRows % softmaxShortRowsGroupAVX2))
	// crossEntropyWithBatch's per-class arrays hold the longest short row.
	_ = uint(shortRowsMaxCols - softmaxShortRowsMaxColsAVX512)
	_ = uint(shortRowsMaxCols - softmaxShortRowsMaxColsAVX2)
)

// softmaxShortRows: the softmax of whole groups of shortRowGroup(cols) rows,
// divided by scale, with each row's max and sum in m and z.
func (is isa) softmaxShortRows(dst, src []float32, cols int, scale float32, m, z []float32) {
	switch is {
	case isaAVX512:
		softmaxShortRowsAVX512(dst, src, cols, scale, m, z)
	case isaAVX2:
		softmaxShortRowsAVX2(dst, src, cols, scale, m, z)
	default:
		panic("kernels: no softmaxShortRows")
	}
}

// expMinusMax: dst_i = e^(x_i − m), for x_i − m ≤ 0.
func (is isa) expMinusMax(dst, x []float32, m float32) {
	switch is {
	case isaAVX512:
		expMinusMaxAVX512(dst, x, m)
	case isaAVX2:
		expMinusMaxAVX2(dst, x, m)
	default:
		expMinusMax(dst, x, m)
	}
}

// expSumRows: per row, m_r = max; z_r = Σ e^(x_i − m_r).
func (is isa) expSumRows(src []float32, cols int, m []float32, z []float64) {
	switch is {
	case isaAVX512:
		expSumRowsAVX512(src, cols, m, z)
	case isaAVX2:
		expSumRowsAVX2(src, cols, m, z)
	default:
		expSumRowsGeneric(src, cols, m, z)
	}
}

// scaleRows: x_ri ·= c_r.
func (is isa) scaleRows(x []float32, cols int, c []float32) {
	switch is {
	case isaAVX512:
		scaleRowsAVX512(x, cols, c)
	case isaAVX2:
		scaleRowsAVX2(x, cols, c)
	default:
		scaleRowsGeneric(x, cols, c)
	}
}

// streams reports whether an output of n float32 is better written with
// scaleStream's non-temporal stores: on the SIMD isas, when it is larger
// than the last-level cache, where it could not stay anyway; written
// through the cache, each of its lines would first be read from memory.
func (is isa) streams(n int) bool {
	return is != isaGeneric && 4*n > streamAbove
}

// streamAbove is the size of the largest cache cpuid reports, or 32 MB if
// it reports none (a variable, so that tests can lower it).
var streamAbove = func() int {
	c := cpuid.CPU.Cache
	if l := max(c.L3, c.L2); l > 0 {
		return l
	}
	return 32 << 20
}()

// scaleStream: dst_i = src_i·c; len(src) is a multiple of 16 and dst is
// 64-byte aligned.
func (is isa) scaleStream(dst, src []float32, c float32) {
	switch is {
	case isaAVX512:
		scaleStreamAVX512(dst, src, c)
	case isaAVX2:
		scaleStreamAVX2(dst, src, c)
	default:
		scaleStreamGeneric(dst, src, c)
	}
}

// logSoftmaxRows: dst_i = (x_i − m_r) − logZ_r.
func (is isa) logSoftmaxRows(dst, src []float32, cols int, m, logZ []float32) {
	switch is {
	case isaAVX512:
		logSoftmaxRowsAVX512(dst, src, cols, m, logZ)
	case isaAVX2:
		logSoftmaxRowsAVX2(dst, src, cols, m, logZ)
	default:
		logSoftmaxRowsGeneric(dst, src, cols, m, logZ)
	}
}

// softTargetRows: per row, m_r = max; T_r = Σ t_i; D_r = Σ t_i·(x_i − m_r);
// grad_i = e^(x_i − m_r); z_r = Σ grad_i.
func (is isa) softTargetRows(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64) {
	switch is {
	case isaAVX512:
		softTargetRowsAVX512(grad, logits, targets, cols, m, z, tsum, td)
	case isaAVX2:
		softTargetRowsAVX2(grad, logits, targets, cols, m, z, tsum, td)
	default:
		softTargetRowsGeneric(grad, logits, targets, cols, m, z, tsum, td)
	}
}

// expDotRows: per row, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i;
// d_r = Σ w_i·(x_i − m_r).
func (is isa) expDotRows(dst, src, w []float32, cols int, m []float32, z, d []float64) {
	switch is {
	case isaAVX512:
		expDotRowsAVX512(dst, src, w, cols, m, z, d)
	case isaAVX2:
		expDotRowsAVX2(dst, src, w, cols, m, z, d)
	default:
		expDotRowsGeneric(dst, src, w, cols, m, z, d)
	}
}

// scaleShiftRows: x_ri = x_ri·c_r − s·w_i.
func (is isa) scaleShiftRows(x, w []float32, cols int, c []float32, s float32) {
	switch is {
	case isaAVX512:
		scaleShiftRowsAVX512(x, w, cols, c, s)
	case isaAVX2:
		scaleShiftRowsAVX2(x, w, cols, c, s)
	default:
		scaleShiftRowsGeneric(x, w, cols, c, s)
	}
}

// crossEntropyShortRowGroup is shortRowGroup for crossEntropyShortRows,
// which takes the rows softmaxShortRows does.
func (is isa) crossEntropyShortRowGroup(cols int) int { return is.shortRowGroup(cols) }

// crossEntropyShortRows: CrossEntropyGradWith's gradient, but for the
// labels' terms, and the row losses and their sum, on whole groups of
// shortRowGroup(cols) rows (see crossEntropyWithShortRows).
func (is isa) crossEntropyShortRows(dst, src []float32, cols int, labels []int32, xl, wl, k, shift, w, m, logZ, d, losses []float32, sum []float64) {
	switch is {
	case isaAVX512:
		crossEntropyShortRowsAVX512(dst, src, cols, labels, xl, wl, k, shift, w, m, logZ, d, losses, sum)
	case isaAVX2:
		crossEntropyShortRowsAVX2(dst, src, cols, labels, xl, wl, k, shift, w, m, logZ, d, losses, sum)
	default:
		panic("kernels: no crossEntropyShortRows")
	}
}

// softGradRows: grad_i = (e_i·c_r − t_i)·invRows.
func (is isa) softGradRows(grad, targets []float32, cols int, c []float32, invRows float32) {
	switch is {
	case isaAVX512:
		softGradRowsAVX512(grad, targets, cols, c, invRows)
	case isaAVX2:
		softGradRowsAVX2(grad, targets, cols, c, invRows)
	default:
		softGradRowsGeneric(grad, targets, cols, c, invRows)
	}
}

// softmaxBackward is the whole SoftmaxBackward kernel.
func (is isa) softmaxBackward(dx, s, dy []float32, cols int) {
	switch is {
	case isaAVX512, isaAVX2:
		// AVX2's routine for both: 64-byte vectors measured slower on
		// most row lengths (docs/performance.md).
		softmaxBackwardAVX2(dx, s, dy, cols)
	default:
		softmaxBackwardGeneric(dx, s, dy, cols)
	}
}

// logSoftmaxBackward is the whole LogSoftmaxBackward kernel.
func (is isa) logSoftmaxBackward(dx, logp, dy []float32, cols int) {
	switch is {
	case isaAVX512:
		if cols <= 16 {
			// One vector per row either way, and AVX2's measured faster
			// (docs/performance.md).
			logSoftmaxBackwardAVX2(dx, logp, dy, cols)
			return
		}
		logSoftmaxBackwardAVX512(dx, logp, dy, cols)
	case isaAVX2:
		logSoftmaxBackwardAVX2(dx, logp, dy, cols)
	default:
		logSoftmaxBackwardGeneric(dx, logp, dy, cols)
	}
}

// ger is the whole Ger kernel.
func (is isa) ger(a []float32, lda int, alpha float32, x, y []float32) {
	switch is {
	case isaAVX512, isaAVX2:
		// AVX2's routine for both: with 64-byte vectors, the overlapping
		// last vector of each row and twice the cache-line splits of
		// unaligned accesses made Ger slower (docs/performance.md).
		gerAVX2(a, lda, alpha, x, y)
	default:
		gerGeneric(a, lda, alpha, x, y)
	}
}

// gerBatch is the whole GerBatch kernel.
func (is isa) gerBatch(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	switch is {
	case isaAVX512:
		switch {
		case n >= gerBatchTransposedMinColsAVX512 && n <= gerBatchTransposedMaxColsAVX512:
			// A 10-class head: tiles of rows × columns turned around (see
			// gerBatchTransposed in asm_gen/ger.go).
			gerBatchTransposedAVX512(a, lda, alpha, x, m, y, n)
		case n <= 16:
			// One vector per row: AVX-512's micro-kernel waits on its
			// loads of x (see gerBatch in asm_gen/ger.go), and AVX2's two
			// 8-wide vectors per row measured as fast or faster
			// (docs/performance.md).
			gerBatchAVX2(a, lda, alpha, x, m, y, n)
		default:
			gerBatchAVX512(a, lda, alpha, x, m, y, n)
		}
	case isaAVX2:
		gerBatchAVX2(a, lda, alpha, x, m, y, n)
	default:
		gerBatchGeneric(a, lda, alpha, x, m, y, n)
	}
}

// gemmShape returns the rows and columns of the register tiles of
// gemmTile and gemmTileT, as the generator emits them.
func (is isa) gemmShape() (mr, nr, mrT, nrT int) {
	switch is {
	case isaAVX512:
		return gemmShapeAVX512()
	case isaAVX2:
		return gemmShapeAVX2()
	}
	return gemmMRGeneric, gemmNRGeneric, gemmMRGeneric, gemmNRGeneric
}

// gemmTile is the micro-kernel of Gemm, a block of rows of tiles (see
// gemmTileGeneric).
func (is isa) gemmTile(kc int, a []float32, ars, aps, anext int, b []float32, bps, bnext int, c []float32, ldc, m, n int, alpha float32, add bool) {
	switch is {
	case isaAVX512:
		gemmTileAVX512(kc, a, ars, aps, anext, b, bps, bnext, c, ldc, m, n, alpha, add)
	case isaAVX2:
		gemmTileAVX2(kc, a, ars, aps, anext, b, bps, bnext, c, ldc, m, n, alpha, add)
	default:
		gemmTileGeneric(kc, a, ars, aps, anext, b, bps, bnext, c, ldc, m, n, alpha, add)
	}
}

// gemmTileT is gemmTile for a tile of Cᵀ (see gemmTileTGeneric).
func (is isa) gemmTileT(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	switch is {
	case isaAVX512:
		gemmTileTAVX512(kc, a, ars, aps, b, bps, c, ldc, mr, nr, alpha, add)
	case isaAVX2:
		gemmTileTAVX2(kc, a, ars, aps, b, bps, c, ldc, mr, nr, alpha, add)
	default:
		gemmTileTGeneric(kc, a, ars, aps, b, bps, c, ldc, mr, nr, alpha, add)
	}
}

// gemmPackT packs a whole panel of B̃ from rows of src (see
// gemmPackTGeneric).
func (is isa) gemmPackT(dst, src []float32, ld, kc int) {
	switch is {
	case isaAVX512:
		gemmPackTAVX512(dst, src, ld, kc)
	case isaAVX2:
		gemmPackTAVX2(dst, src, ld, kc)
	default:
		gemmPackTGeneric(dst, src, ld, kc, gemmNRGeneric)
	}
}

// gemmPackN copies a whole panel of B̃ from columns of src (see
// gemmPackNGeneric).
func (is isa) gemmPackN(dst, src []float32, ld, kc int) {
	switch is {
	case isaAVX512:
		gemmPackNAVX512(dst, src, ld, kc)
	case isaAVX2:
		gemmPackNAVX2(dst, src, ld, kc)
	default:
		gemmPackNGeneric(dst, src, ld, kc, gemmNRGeneric)
	}
}

// gemmDotShape returns the rows of A and of B of gemmDot's tile, as the
// generator emits it.
func (is isa) gemmDotShape() (mr, nr int) {
	switch is {
	case isaAVX512:
		return gemmDotShapeAVX512()
	case isaAVX2:
		return gemmDotShapeAVX2()
	}
	return 0, 0
}

// gemmDot is the micro-kernel of Gemm for A·Bᵀ with few rows of B (see
// gemmDotGeneric).
func (is isa) gemmDot(kk int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	switch is {
	case isaAVX512:
		gemmDotAVX512(kk, a, lda, b, ldb, c, ldc, mr, nr, alpha, add)
	case isaAVX2:
		gemmDotAVX2(kk, a, lda, b, ldb, c, ldc, mr, nr, alpha, add)
	default:
		gemmDotGeneric(kk, a, lda, b, ldb, c, ldc, mr, nr, alpha, add)
	}
}
