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
