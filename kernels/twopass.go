package kernels

import (
	"math"
	"unsafe"
)

// Rows too large for the cache. The three-pass softmax of rows.go reads a
// row for its max, again for e^(x_i − max) and its sum, and then rescales
// what it wrote: from memory, once the row no longer fits in L2, that is
// three reads and two writes of every element (two reads and one write for
// log-softmax, plus the max's read). The two-pass path reads each row from
// memory twice and writes it once:
//
//  1. rowStats: the max m and Z = Σ e^(x_i − m) in one sweep, block by
//     block. Each block of statsBlock elements gets its own max b and sum
//     Σ e^(x_i − b) (expSumRows: two reads, the second from L1), folded
//     into the running pair by rescaling the sum with the smaller max by
//     e^(its max − the larger), in float64 (the online normalizer of
//     Milakov and Gimelshein, arXiv 1805.02867, applied per block).
//  2. per block, dst_i = e^(x_i − m) (expMinusMax) and dst_i ·= 1/Z
//     (scaleRows) while the block is in L1; for log-softmax, dst_i =
//     (x_i − m) − log Z (logSoftmaxRows).
//
// Pass 2 is the three-pass path's own arithmetic with the same m, so the
// outputs differ only through Z, which sums the same terms grouped
// differently: within a few ULP, with the same zeros, NaNs and infinities
// (TestTwoPass, FuzzTwoPass). The exp of the numerics reference's
// two-pass algorithm (Dukhan and Ablavatski, arXiv 2001.04438) avoids the
// max altogether by carrying (mantissa, exponent) pairs; the per-block max
// costs one read from L1 instead and reuses the kernels' one exp, so that
// the special values behave exactly as on the three-pass path.

// twoPassCols is the row length above which Softmax and LogSoftmax take the
// two-pass path. The two-pass path computes every exp twice: while rows fit
// in L2 it is slower (by 4–18% on 64 MB batches of rows of 2¹³ … 2¹⁶
// elements, Ice Lake server), and from rows of 2¹⁷ (512 KB, with the output
// past this machine's 1.25 MB L2) on it is as fast or up to 2.5% faster
// (medians of 5 interleaved runs, thread CPU time; see
// docs/performance.md). It reads 2 rows' worth where three passes read 3: the
// margin grows where a core's share of memory bandwidth is smaller than on
// this 2-core machine.
const twoPassCols = 1 << 17

// statsBlock is the block of rowStats: 8 KB, read a second time from L1.
const statsBlock = 2048

// rowStats returns the max m of row and Z = Σ e^(x_i − m), reading the row
// once from memory. A NaN or a +Inf makes both NaN; blocks of only −Inf add
// nothing (a row of only −Inf gives m = −Inf and Z = 0, which pass 2 turns
// into NaN as the three-pass path does).
func rowStats(is isa, row []float32) (m float32, z float64) {
	var bm [1]float32
	var bz [1]float64
	m = float32(math.Inf(-1))
	for j := 0; j < len(row); j += statsBlock {
		blk := row[j:min(j+statsBlock, len(row))]
		is.expSumRows(blk, len(blk), bm[:], bz[:])
		b, s := bm[0], bz[0]
		switch {
		case s != s:
			// A NaN or a +Inf in the block (the SIMD maxima skip NaNs, the
			// sum does not), or a block of only −Inf (e^(−Inf − −Inf)),
			// which adds nothing; the rest give a NaN row.
			if math.IsInf(float64(b), -1) && !hasNaN(blk) {
				continue
			}
			return float32(math.NaN()), math.NaN()
		case b > m:
			z = z*math.Exp(float64(m)-float64(b)) + s
			m = b
		default:
			z += s * math.Exp(float64(b)-float64(m))
		}
	}
	return m, z
}

// softmaxTwoPass is Softmax for rows longer than twoPassCols. When the
// output is larger than the cache (k.streams), each block's exps go to a
// buffer in L1 and reach dst scaled, with non-temporal stores
// (scaleStreamBlock): dst is then written to memory without being read
// from it first, 3 row-sized transfers per row instead of 4 (18% faster on
// 64×2²⁰ here, see docs/performance.md).
func softmaxTwoPass(is isa, dst, src []float32, cols int) {
	var c [1]float32
	var buf [statsBlock]float32
	stream := is.streams(len(src))
	for i := 0; i < len(src); i += cols {
		row, out := src[i:i+cols], dst[i:i+cols]
		m, z := rowStats(is, row)
		c[0] = float32(1 / z)
		for j := 0; j < cols; j += statsBlock {
			e := min(j+statsBlock, cols)
			if stream {
				is.expMinusMax(buf[:e-j], row[j:e], m)
				scaleStreamBlock(is, out[j:e], buf[:e-j], c[0])
				continue
			}
			is.expMinusMax(out[j:e], row[j:e], m)
			is.scaleRows(out[j:e], e-j, c[:])
		}
	}
}

// scaleStreamBlock writes dst_i = src_i·c: the elements before dst's first
// 64-byte boundary and after its last whole 64 bytes with the pure-Go twin
// (the same rounded product), the rest with k.scaleStream.
func scaleStreamBlock(is isa, dst, src []float32, c float32) {
	dst = dst[:len(src)]
	head := min(len(src), int(-uintptr(unsafe.Pointer(unsafe.SliceData(dst)))%64/4))
	tail := head + (len(src)-head)&^15
	scaleStreamGeneric(dst[:head], src[:head], c)
	if tail > head {
		is.scaleStream(dst[head:tail], src[head:tail], c)
	}
	scaleStreamGeneric(dst[tail:], src[tail:], c)
}

// logSoftmaxTwoPass is LogSoftmax for rows longer than twoPassCols.
func logSoftmaxTwoPass(is isa, dst, src []float32, cols int) {
	var m, logZ [1]float32
	for i := 0; i < len(src); i += cols {
		var z float64
		m[0], z = rowStats(is, src[i:i+cols])
		logZ[0] = float32(math.Log(z))
		is.logSoftmaxRows(dst[i:i+cols], src[i:i+cols], cols, m[:], logZ[:])
	}
}

// hasNaN reports whether x holds a NaN.
func hasNaN(x []float32) bool {
	for _, v := range x {
		if v != v {
			return true
		}
	}
	return false
}
