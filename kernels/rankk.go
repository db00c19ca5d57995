package kernels

// The rank-k update A += alpha·Xᵀ·Y is Gemm(true, false, …, beta = 1), X
// the stored k×m A and Y the k×n B, except that alpha = 0 still computes
// the products (0·Inf is NaN, as in Ger and the generic GerBatch). Each SIMD isa also has a micro-kernel of
// its own for it (see asm_gen/ger.go), which streams X (stride m) and Y
// (stride n) past tiles of A held in registers, unblocked and unpacked. It
// measured faster than Gemm's packed blocks where Y is narrow (n ≤
// gerOwnCols: a 10-class head, 64 classes), as fast where Y is wide
// (1024×1024 with k = 16 to 128, 4096×1000 with k = 64), and only Gemm's
// blocking keeps the samples of a wide Y in L1; see docs/gemm.md.
const gerOwnCols = 64

// gerBatchBlocked is GerBatch for isa k after the argument checks: k = 1 is
// a rank-1 update (ger), a narrow Y or the generic isa is one call of
// gerBatch, and a wide Y runs on Gemm's blocks.
func gerBatchBlocked(k isa, a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	switch {
	case len(x) == m:
		k.ger(a, lda, alpha, x, y)
	case n <= gerOwnCols || k == isaGeneric:
		k.gerBatch(a, lda, alpha, x, m, y, n)
	default:
		gemmAdd(k, true, false, m, n, len(x)/m, alpha, x, m, y, n, true, a, lda)
	}
}
