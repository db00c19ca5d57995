package kernels

// The rank-k update's cache blocking. Each SIMD gerBatch is a
// register-blocked micro-kernel (see asm_gen/ger.go) that streams X (stride
// m) and Y (stride n) past tiles of A held in registers. That is at its best
// when the samples of a tile sit in L1: true for a narrow Y (a 10-class
// head), false for a wide one, whose rows are n·4 bytes apart, so that a
// tile's k loads of Y land on k different lines, all in the same L1 set
// when n·4 is a multiple of 4 KB. For n > gerPackCols the update is cut
// into blocks of gerBlockK samples × gerBlockM rows × gerBlockN columns,
// and each block's slices of X and Y are copied into contiguous arrays
// first (packed): the micro-kernel then reads gerBlockK·gerBlockN
// floats of Y, 32 KB, from L1 for every group of rows, and the copies cost
// 1/(2·gerBlockM) of the arithmetic.
//
// GerBatch is Gemm(true, false, …, beta = 1) but for alpha = 0 (which still
// computes its products here); on Gemm's blocks and micro-kernel it
// measured level on AVX2 and faster for k ≥ 128, but 3–8% slower on
// AVX-512 for k of 16 to 64 (docs/gemm.md), so it keeps its own.
//
// The block sizes were picked by measuring 1024×1024 with k = 32 and 128 and
// 4096×1000 with k = 64 (bench/, shape 1024x1024xk32 …) over a grid of
// sizes; see docs/performance.md.
const (
	gerPackCols = 64  // widest Y used in place
	gerBlockK   = 64  // samples per block
	gerBlockM   = 192 // rows of A per block
	gerBlockN   = 128 // columns of A per block
)

// gerBatchBlocked is GerBatch for isa k after the argument checks: k = 1 is
// a rank-1 update (ger), a narrow Y or the generic isa is one call of
// gerBatch, and a wide Y goes through packed blocks.
func gerBatchBlocked(k isa, a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	switch {
	case len(x) == m:
		k.ger(a, lda, alpha, x, y)
	case n <= gerPackCols || k == isaGeneric:
		k.gerBatch(a, lda, alpha, x, m, y, n)
	default:
		gerBatchPacked(k, a, lda, alpha, x, m, y, n)
	}
}

// gerBatchPacked runs gerBatch on packed blocks: for each chunk of samples
// and each block of rows, X's block is copied once; then for each block of
// columns, Y's block, and the micro-kernel updates that block of A. Each
// element of A still receives its k products in sample order, chunk after
// chunk.
func gerBatchPacked(k isa, a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	// The blocks come from Gemm's pool of packing buffers: arrays on the
	// stack (80 KB) would be zeroed on every call.
	buf := getGemmBuf(gerBlockK*gerBlockM, gerBlockK*gerBlockN)
	defer gemmBufs.Put(buf)
	xb, yb := buf.a, buf.b
	samples := len(x) / m
	for p0 := 0; p0 < samples; p0 += gerBlockK {
		kc := min(gerBlockK, samples-p0)
		for i0 := 0; i0 < m; i0 += gerBlockM {
			mc := min(gerBlockM, m-i0)
			xs := xb[:kc*mc]
			for p := range kc {
				copy(xs[p*mc:(p+1)*mc], x[(p0+p)*m+i0:])
			}
			for j0 := 0; j0 < n; j0 += gerBlockN {
				nc := min(gerBlockN, n-j0)
				ys := yb[:kc*nc]
				for p := range kc {
					copy(ys[p*nc:(p+1)*nc], y[(p0+p)*n+j0:])
				}
				k.gerBatch(a[i0*lda+j0:(i0+mc-1)*lda+j0+nc], lda, alpha, xs, mc, ys, nc)
			}
		}
	}
}
