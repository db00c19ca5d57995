package kernels

import (
	"math"
	"unsafe"
)

// The kernels that need a scalar step between passes over a row (the
// reciprocal of a sum, a logarithm, a loss) run here, once for every
// implementation: each implementation supplies the row primitives (see
// dispatch.go), which take a block of rows and report one value per row
// (max, sum) in arrays on this stack; the block is then finished with a
// second primitive while it is still in cache.

const (
	blockRows  = 64   // rows per block at most: the size of the per-row arrays
	blockElems = 8192 // elements per block at most (32 KB), so the block stays in L1/L2 between passes
)

// rowPathOnly makes shortRowGroup 0 for every row length, so that short
// rows take the row primitives too: tests compare the two paths, and
// bench/mca models both.
var rowPathOnly = false

// rowsPerBlock returns how many rows of cols elements make one block.
func rowsPerBlock(cols int) int {
	return max(1, min(blockRows, blockElems/cols))
}

// softmaxBatch: per block, the max, e_i and their sum Z per row
// (expRows), then dst_i = e_i·(1/Z) (scaleRows). Rows longer than
// twoPassCols take softmaxTwoPass; groups of short rows, softmaxShortRows.
func softmaxBatch(is isa, dst, src []float32, cols int) {
	if cols > twoPassCols {
		softmaxTwoPass(is, dst, src, cols)
		return
	}
	var m, c [blockRows]float32
	if g := is.shortRowGroup(cols); g > 0 {
		// Whole groups of g rows, up to blockRows at a time.
		var z32 [blockRows]float32
		for len(src) >= g*cols {
			n := min(len(src)/(g*cols)*g, blockRows/g*g) * cols
			is.softmaxShortRows(dst[:n], src[:n], cols, 1, m[:], z32[:])
			dst, src = dst[n:], src[n:]
		}
	}
	var z [blockRows]float64
	step := rowsPerBlock(cols) * cols
	for i := 0; i < len(src); i += step {
		j := min(i+step, len(src))
		n := (j - i) / cols
		is.expRows(dst[i:j], src[i:j], cols, m[:n], z[:n])
		for r := range n {
			c[r] = float32(1 / z[r])
		}
		is.scaleRows(dst[i:j], cols, c[:n])
	}
}

// logSoftmaxBatch: per block, the max and Z = Σ e^(x_i − max) per row
// (expSumRows), then dst_i = (x_i − max) − log Z (logSoftmaxRows). Rows
// longer than twoPassCols take logSoftmaxTwoPass.
func logSoftmaxBatch(is isa, dst, src []float32, cols int) {
	if cols > twoPassCols {
		logSoftmaxTwoPass(is, dst, src, cols)
		return
	}
	var m, logZ [blockRows]float32
	var z [blockRows]float64
	step := rowsPerBlock(cols) * cols
	for i := 0; i < len(src); i += step {
		j := min(i+step, len(src))
		n := (j - i) / cols
		is.expSumRows(src[i:j], cols, m[:n], z[:n])
		for r := range n {
			logZ[r] = float32(math.Log(z[r]))
		}
		is.logSoftmaxRows(dst[i:j], src[i:j], cols, m[:n], logZ[:n])
	}
}

// crossEntropyGradBatch: per block, the max, e_i and Z per row (expRows,
// or softmaxShortRows for groups of short rows); grad_i = e_i·c with c =
// 1/(Z·n) (scaleRows); then, per row, grad_label −= 1/n, or a zero row for
// an ignored one. It returns the sum over counted rows of log Z − (x_label
// − max). The label's logit is read in that last loop, unless grad is
// logits (in place), when it must be read before the block is written: on
// short rows, one loop over the rows instead of three measured faster
// (docs/performance.md).
func crossEntropyGradBatch(is isa, grad, logits []float32, labels []int32, cols, counted int) float64 {
	var m, c, xl, z32 [blockRows]float32
	var z [blockRows]float64
	invN := float32(1 / float64(counted))
	var loss float64
	logZ := logSum{mant: 1}
	rows := rowsPerBlock(cols)
	inPlace := unsafe.SliceData(grad) == unsafe.SliceData(logits)
	for r0 := 0; r0 < len(labels); r0 += rows {
		n := min(rows, len(labels)-r0)
		i, j := r0*cols, (r0+n)*cols
		lab := labels[r0 : r0+n]
		if inPlace {
			for r, l := range lab {
				if l != IgnoreLabel {
					xl[r] = logits[i+r*cols+int(l)]
				}
			}
		}
		// Whole groups of short rows: grad = softmax/counted, with m and Z
		// (rows is a multiple of g, and so is n unless this is the last
		// block).
		g := is.shortRowGroup(cols)
		short := g > 0 && n%g == 0
		if short {
			is.softmaxShortRows(grad[i:j], logits[i:j], cols, float32(counted), m[:n], z32[:n])
		} else {
			is.expRows(grad[i:j], logits[i:j], cols, m[:n], z[:n])
			for r := range n {
				c[r] = float32(1 / (z[r] * float64(counted)))
			}
			is.scaleRows(grad[i:j], cols, c[:n])
		}
		prod := 1.0 // Π Z_r over up to 8 rows: at most cols⁸ < 2²⁴⁸
		for r, l := range lab {
			row := i + r*cols
			if l == IgnoreLabel {
				clear(grad[row : row+cols])
				continue
			}
			x := xl[r]
			if !inPlace {
				x = logits[row+int(l)]
			}
			grad[row+int(l)] -= invN
			if short {
				prod *= float64(z32[r])
			} else {
				prod *= z[r]
			}
			if r%8 == 7 {
				logZ.add(prod)
				prod = 1
			}
			loss -= float64(x) - float64(m[r])
		}
		logZ.add(prod)
	}
	return loss + logZ.value()
}

// logSum adds logarithms as the logarithm of their product, so that a
// batch of short rows costs one math.Log instead of one per row (on 10
// classes, a log per row cost a third of the kernel). The product is kept
// as a mantissa in [1, 2) and a binary exponent; each factor is a product
// of row sums Z ≥ 1 below 2²⁴⁸, or NaN for a NaN row, which then makes the
// sum NaN.
type logSum struct {
	mant float64 // start at 1
	exp  int
}

func (s *logSum) add(z float64) {
	s.mant *= z
	b := math.Float64bits(s.mant)
	if e := int(b >> 52 & 0x7ff); e != 0 && e != 0x7ff {
		s.exp += e - 1023
		s.mant = math.Float64frombits(b&^(0x7ff<<52) | 1023<<52)
	}
}

func (s *logSum) value() float64 { return math.Log(s.mant) + float64(s.exp)*math.Ln2 }

// crossEntropyGradSoftBatch: per block, the max, T = Σ t_i,
// D = Σ t_i·(x_i − max), e_i and Z per row (softTargetRows); then
// grad_i = (e_i·(T/Z) − t_i)·(1/rows) (softGradRows), rows being the
// whole call's. It returns the sum over
// rows of T·log Z − D, the row's −Σ t_i·log softmax(x)_i.
func crossEntropyGradSoftBatch(is isa, grad, logits, targets []float32, cols, rows int) float64 {
	var m, c [blockRows]float32
	var z, tsum, td [blockRows]float64
	invRows := float32(1 / float64(rows))
	var loss float64
	step := rowsPerBlock(cols) * cols
	for i := 0; i < len(logits); i += step {
		j := min(i+step, len(logits))
		n := (j - i) / cols
		is.softTargetRows(grad[i:j], logits[i:j], targets[i:j], cols, m[:n], z[:n], tsum[:n], td[:n])
		for r := range n {
			c[r] = float32(tsum[r] / z[r])
			loss += tsum[r]*math.Log(z[r]) - td[r]
		}
		is.softGradRows(grad[i:j], targets[i:j], cols, c[:n], invRows)
	}
	return loss
}
