package kernels

// gerBatchPackCols is the widest Y that GerBatch's own micro-kernel takes;
// wider ones go through Gemm's blocks.
//
// GerBatch is Gemm(true, false, …, beta = 1) but for alpha = 0 (which still
// computes its products here). A Y of up to 64 columns is read in place (a
// tile's k rows of Y fit in L1) by GerBatch's own micro-kernel
// (asm_gen/ger.go), which measured faster there than Gemm's blocks
// (docs/gemm.md). A wider Y, whose rows are far apart (4 KB for n = 1024,
// all in one L1 set), needs its blocks packed: Gemm's blocking and packing
// do that.
const gerBatchPackCols = 64

// gerBatchBlocked is GerBatch on the instruction set is after the argument
// checks: one sample (k = 1) is a rank-1 update (ger), a Y of up to 64
// columns one call of gerBatch, and a wider Y a Gemm product that adds to A.
func gerBatchBlocked(is isa, threads int, a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	switch {
	case len(x) == m:
		gerSplit(is, threads, a, lda, alpha, x, y)
	case n <= gerBatchPackCols:
		is.gerBatch(a, lda, alpha, x, m, y, n)
	default:
		gemmAdd(is, threads, true, false, m, n, len(x)/m, alpha, x, m, y, n, true, a, lda)
	}
}
