package kernels

// WithSmallGemmBlocks runs f with every isa's Gemm blocks cut to a few
// tiles, so that the external tests' small products cross every block
// boundary.
func WithSmallGemmBlocks(f func()) { withSmallBlocks(f) }

// EachGemmOrientation runs f with Gemm's products run as chosen, as they
// are, and on Cᵀ.
func EachGemmOrientation(f func()) { eachOrientation(f) }

// WithLinearChunks runs f with LinearCrossEntropy's chunks of rows rows.
func WithLinearChunks(rows int, f func()) { withLinearChunks(rows, f) }

// GemmPackFloats returns the floats of packing buffer that the default
// implementation's Gemm asks for on this product.
func GemmPackFloats(transA, transB bool, m, n, k int) int {
	return gemmPackFloats(defaultImpl.isa, transA, transB, m, n, k)
}

// LinearChunkRows returns the rows of LinearCrossEntropy's chunks.
func LinearChunkRows(rows, classes int) int {
	return linearChunk(rows, classes)
}
