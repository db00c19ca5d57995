//go:build purego || !(amd64 || arm64)

package kernels

// The dispatch table: one method of isa per row primitive, each calling the
// routine of its instruction set. Every primitive takes whole blocks of
// rows; rows.go and the methods of Impl call only these.
//
// Only the generic routines exist so far; a SIMD implementation adds its case
// to each method (in an architecture's own copy of this file).

// expRows: per row r of src, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i.
func (is isa) expRows(dst, src []float32, cols int, m []float32, z []float64) {
	expRowsGeneric(dst, src, cols, m, z)
}

// shortRowGroup returns the number of rows of cols elements that softmaxShortRows
// takes at a time, or 0 where it has no such routine.
func (is isa) shortRowGroup(cols int) int { return 0 }

// softmaxShortRows: the softmax of whole groups of shortRowGroup(cols) rows,
// divided by scale, with each row's max and sum in m and z.
func (is isa) softmaxShortRows(dst, src []float32, cols int, scale float32, m, z []float32) {
	panic("kernels: no softmaxShortRows")
}

// expMinusMax: dst_i = e^(x_i − m), for x_i − m ≤ 0.
func (is isa) expMinusMax(dst, x []float32, m float32) {
	expMinusMax(dst, x, m)
}

// expSumRows: per row, m_r = max; z_r = Σ e^(x_i − m_r).
func (is isa) expSumRows(src []float32, cols int, m []float32, z []float64) {
	expSumRowsGeneric(src, cols, m, z)
}

// scaleRows: x_ri ·= c_r.
func (is isa) scaleRows(x []float32, cols int, c []float32) {
	scaleRowsGeneric(x, cols, c)
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
	logSoftmaxRowsGeneric(dst, src, cols, m, logZ)
}

// softTargetRows: per row, m_r = max; T_r = Σ t_i; D_r = Σ t_i·(x_i − m_r);
// grad_i = e^(x_i − m_r); z_r = Σ grad_i.
func (is isa) softTargetRows(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64) {
	softTargetRowsGeneric(grad, logits, targets, cols, m, z, tsum, td)
}

// expDotRows: per row, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i;
// d_r = Σ w_i·(x_i − m_r).
func (is isa) expDotRows(dst, src, w []float32, cols int, m []float32, z, d []float64) {
	expDotRowsGeneric(dst, src, w, cols, m, z, d)
}

// scaleShiftRows: x_ri = x_ri·c_r − s·w_i.
func (is isa) scaleShiftRows(x, w []float32, cols int, c []float32, s float32) {
	scaleShiftRowsGeneric(x, w, cols, c, s)
}

// crossEntropyShortRowGroup is shortRowGroup for crossEntropyShortRows.
func (is isa) crossEntropyShortRowGroup(cols int) int { return 0 }

// crossEntropyShortRows: CrossEntropyGradWith's gradient on groups of short
// rows; never called where crossEntropyShortRowGroup is 0.
func (is isa) crossEntropyShortRows(dst, src []float32, cols int, labels []int32, xl, wl, k, shift, w, m, logZ, d, losses []float32, sum []float64) {
	panic("kernels: no crossEntropyShortRows")
}

// softGradRows: grad_i = (e_i·c_r − t_i)·invRows.
func (is isa) softGradRows(grad, targets []float32, cols int, c []float32, invRows float32) {
	softGradRowsGeneric(grad, targets, cols, c, invRows)
}

// softmaxBackward is the whole SoftmaxBackward kernel.
func (is isa) softmaxBackward(dx, s, dy []float32, cols int) {
	softmaxBackwardGeneric(dx, s, dy, cols)
}

// logSoftmaxBackward is the whole LogSoftmaxBackward kernel.
func (is isa) logSoftmaxBackward(dx, logp, dy []float32, cols int) {
	logSoftmaxBackwardGeneric(dx, logp, dy, cols)
}

// ger is the whole Ger kernel.
func (is isa) ger(a []float32, lda int, alpha float32, x, y []float32) {
	gerGeneric(a, lda, alpha, x, y)
}

// gerBatch is the whole GerBatch kernel.
func (is isa) gerBatch(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	gerBatchGeneric(a, lda, alpha, x, m, y, n)
}

// gemmShape returns the rows and columns of the register tiles of
// gemmTile and gemmTileT.
func (is isa) gemmShape() (mr, nr, mrT, nrT int) {
	return gemmMRGeneric, gemmNRGeneric, gemmMRGeneric, gemmNRGeneric
}

// gemmTile is the micro-kernel of Gemm, a block of rows of tiles (see
// gemmTileGeneric).
func (is isa) gemmTile(kc int, a []float32, ars, aps, anext int, b []float32, bps, bnext int, c []float32, ldc, m, n int, alpha float32, add bool) {
	gemmTileGeneric(kc, a, ars, aps, anext, b, bps, bnext, c, ldc, m, n, alpha, add)
}

// gemmTileT is gemmTile for a tile of Cᵀ (see gemmTileTGeneric).
func (is isa) gemmTileT(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	gemmTileTGeneric(kc, a, ars, aps, b, bps, c, ldc, mr, nr, alpha, add)
}

// gemmPackT packs a whole panel of B̃ from rows of src (see
// gemmPackTGeneric).
func (is isa) gemmPackT(dst, src []float32, ld, kc int) {
	gemmPackTGeneric(dst, src, ld, kc, gemmNRGeneric)
}

// gemmPackN copies a whole panel of B̃ from columns of src (see
// gemmPackNGeneric).
func (is isa) gemmPackN(dst, src []float32, ld, kc int) {
	gemmPackNGeneric(dst, src, ld, kc, gemmNRGeneric)
}

// gemmDotShape returns the rows of A and of B of gemmDot's tile; 0 where
// the isa has no gemmDot.
func (is isa) gemmDotShape() (mr, nr int) { return 0, 0 }

// gemmDot is the micro-kernel of Gemm for A·Bᵀ with few rows of B (see
// gemmDotGeneric); never called where gemmDotShape is 0.
func (is isa) gemmDot(kk int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	gemmDotGeneric(kk, a, lda, b, ldb, c, ldc, mr, nr, alpha, add)
}
