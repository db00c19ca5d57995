// Package reference computes every kernel of package kernels in float64, the
// plain way, so that tests and fuzzers can check the float32 kernels against
// it. Nothing here is fast or clever: each function follows the formula of the
// kernels documentation line by line, with math.Exp and math.Log in float64
// and the row max subtracted first, and applies the special-value rules of the
// package explicitly:
//
//   - a −Inf logit has probability 0 and log-probability −Inf;
//   - a row whose logits are all −Inf is NaN throughout;
//   - a +Inf or a NaN anywhere in a row makes the whole row NaN.
//
// Inputs are float32 (the kernels' types) and outputs float64. A batch is a
// row-major slice of rows×cols values with rows = len/cols; cols == 0 is
// allowed with empty inputs only. The functions panic on shapes the kernels
// would reject; they do not check for overlapping slices since they never
// write to their arguments.
//
// The comparison helpers in check.go turn a float64 reference into a
// pass/fail verdict with a descriptive error; bounds.go derives each
// kernel's per-element float32 error bound from 2⁻²⁴ and a sum tolerance.
package reference

import (
	"fmt"
	"math"
)

// rowsOf returns len/cols, panicking on shapes the kernels reject.
func rowsOf(n, cols int) int {
	switch {
	case cols < 0:
		panic("reference: cols < 0")
	case cols == 0:
		if n != 0 {
			panic("reference: cols == 0 with non-empty input")
		}
		return 0
	case n%cols != 0:
		panic("reference: length is not a multiple of cols")
	}
	return n / cols
}

func sameLen(a, b int, what string) {
	if a != b {
		panic("reference: " + what + " lengths differ")
	}
}

// rowStats describes one row of logits.
type rowStats struct {
	nan  bool    // the row has a NaN or a +Inf, or is all −Inf: every output is NaN
	max  float64 // the row max (finite when !nan)
	logZ float64 // log Σ exp(x_j − max) (≥ 0 when !nan)
}

// stats returns the max and log-sum-exp of a row of logits, and whether the
// row's distribution is undefined.
func stats(x []float32) rowStats {
	m := math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 1) {
			return rowStats{nan: true}
		}
		m = max(m, f)
	}
	if math.IsInf(m, -1) { // only −Inf (or an empty row, which never occurs)
		return rowStats{nan: true}
	}
	var z float64
	for _, v := range x {
		z += math.Exp(float64(v) - m) // exp(−Inf) = 0
	}
	return rowStats{max: m, logZ: math.Log(z)}
}

// Softmax returns softmax of each row of src: exp(x_i − max)/Σ exp(x_j − max).
func Softmax(src []float32, cols int) []float64 {
	rows := rowsOf(len(src), cols)
	out := make([]float64, len(src))
	for r := range rows {
		x, y := src[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			fillNaN(y)
			continue
		}
		var z float64
		for i, v := range x {
			y[i] = math.Exp(float64(v) - st.max)
			z += y[i]
		}
		for i := range y {
			y[i] /= z
		}
	}
	return out
}

// LogSoftmax returns log softmax of each row of src: x_i − max − log Σ exp(x_j − max).
func LogSoftmax(src []float32, cols int) []float64 {
	rows := rowsOf(len(src), cols)
	out := make([]float64, len(src))
	for r := range rows {
		x, y := src[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			fillNaN(y)
			continue
		}
		for i, v := range x {
			y[i] = (float64(v) - st.max) - st.logZ
		}
	}
	return out
}

// SoftmaxBackward returns s ⊙ (dy − ⟨dy, s⟩) for each row. Special values
// follow float64 arithmetic: a NaN or an infinity in s or dy spreads through
// the dot product to the whole row.
func SoftmaxBackward(s, dy []float32, cols int) []float64 {
	rows := rowsOf(len(s), cols)
	sameLen(len(dy), len(s), "s and dy")
	out := make([]float64, len(s))
	for r := range rows {
		sr, g, y := s[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		var d float64
		for i := range sr {
			d += float64(sr[i]) * float64(g[i])
		}
		for i := range sr {
			y[i] = float64(sr[i]) * (float64(g[i]) - d)
		}
	}
	return out
}

// LogSoftmaxBackward returns dy − exp(min(logp, 0))·Σ dy for each row: an
// entry of logp above 0 is not a log-probability and counts as 0, as in the
// kernel. A NaN in logp stays NaN.
func LogSoftmaxBackward(logp, dy []float32, cols int) []float64 {
	rows := rowsOf(len(logp), cols)
	sameLen(len(dy), len(logp), "logp and dy")
	out := make([]float64, len(logp))
	for r := range rows {
		lp, g, y := logp[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		var d float64
		for _, v := range g {
			d += float64(v)
		}
		for i, v := range lp {
			l := float64(v)
			if l > 0 {
				l = 0
			}
			y[i] = float64(g[i]) - math.Exp(l)*d
		}
	}
	return out
}

// IgnoreLabel is the label of a row CrossEntropyGrad skips, as in package
// kernels.
const IgnoreLabel = -1

// CrossEntropyGrad returns the gradient (softmax(x_r) − onehot(label_r))/n of
// the mean cross-entropy and the loss (1/n)·Σ_r (logsumexp(x_r) − x_r[label_r]),
// with n the number of rows whose label is not IgnoreLabel. Ignored rows get a
// zero gradient. A row with an undefined softmax (a NaN, a +Inf, or only
// −Inf) gets a NaN gradient and makes the loss NaN; a label on a −Inf logit
// of an otherwise valid row makes the loss +Inf. The loss is NaN when n is 0,
// and the gradient is then zero. Labels are assumed valid: one outside
// [0, cols) that is not IgnoreLabel panics.
func CrossEntropyGrad(logits []float32, labels []int32, cols int) (grad []float64, loss float64) {
	rows := rowsOf(len(logits), cols)
	sameLen(len(labels), rows, "labels and rows")
	grad = make([]float64, len(logits))
	n := 0
	for _, l := range labels {
		switch {
		case l == IgnoreLabel:
		case l < 0 || int(l) >= cols:
			panic(fmt.Sprintf("reference: label %d out of range [0, %d)", l, cols))
		default:
			n++
		}
	}
	if n == 0 {
		return grad, math.NaN()
	}
	var sum float64
	for r, l := range labels {
		if l == IgnoreLabel {
			continue
		}
		x, g := logits[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			fillNaN(g)
			sum = math.NaN()
			continue
		}
		for i, v := range x {
			g[i] = math.Exp(float64(v)-st.max-st.logZ) / float64(n)
		}
		g[l] -= 1 / float64(n)
		// logsumexp(x) − x_l = log Z − (x_l − max); +Inf when x_l is −Inf.
		sum += st.logZ - (float64(x[l]) - st.max)
	}
	return grad, sum / float64(n)
}

// CrossEntropyGradSoft returns the gradient (softmax(x_r)·Σ_i t_ri − t_r)/rows
// and the loss (1/rows)·Σ_r −Σ_i t_ri·log softmax(x_r)_i for soft targets t.
// As in PyTorch, a −Inf logit makes its row's loss NaN even where its target
// is 0 (0·−Inf); a row with an undefined softmax gets a NaN gradient and a NaN
// loss. The loss is NaN when there are no rows.
func CrossEntropyGradSoft(logits, targets []float32, cols int) (grad []float64, loss float64) {
	rows := rowsOf(len(logits), cols)
	sameLen(len(targets), len(logits), "logits and targets")
	grad = make([]float64, len(logits))
	if rows == 0 {
		return grad, math.NaN()
	}
	var sum float64
	for r := range rows {
		x, t, g := logits[r*cols:(r+1)*cols], targets[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			fillNaN(g)
			sum = math.NaN()
			continue
		}
		var tsum, rowLoss float64
		for _, v := range t {
			tsum += float64(v)
		}
		for i, v := range x {
			logp := (float64(v) - st.max) - st.logZ // −Inf for a −Inf logit
			g[i] = (math.Exp(logp)*tsum - float64(t[i])) / float64(rows)
			rowLoss -= float64(t[i]) * logp // 0·−Inf = NaN, as specified
		}
		sum += rowLoss
	}
	return grad, sum / float64(rows)
}

// Ger returns a copy of all of a, converted to float64, with
// a[i*lda+j] += alpha·x[i]·y[j] applied for i < len(x), j < len(y); the
// elements between rows (j ≥ len(y)) and past the matrix are copied
// unchanged. It panics if lda < max(1, len(y)) or a is too short.
func Ger(a []float32, lda int, alpha float32, x, y []float32) []float64 {
	m, n := len(x), len(y)
	checkMatrix("a", len(a), lda, m, n)
	out := toFloat64(a)
	for i := range m {
		for j := range n {
			out[i*lda+j] += float64(alpha) * float64(x[i]) * float64(y[j])
		}
	}
	return out
}

// GerBatch returns a copy of all of a, converted to float64, with the rank-k
// update a[i*lda+j] += alpha·Σ_p x[p*m+i]·y[p*n+j] applied for i < m, j < n,
// where X is k×m and Y is k×n (k = len(x)/m = len(y)/n). It panics on
// inconsistent shapes.
func GerBatch(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) []float64 {
	k := batchK(len(x), m, len(y), n)
	checkMatrix("a", len(a), lda, m, n)
	out := toFloat64(a)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(x[p*m+i]) * float64(y[p*n+j])
			}
			out[i*lda+j] += float64(alpha) * s
		}
	}
	return out
}

// GerBatchMagnitude returns, for each element of a, |a[i*lda+j]| +
// |alpha|·Σ_p |x[p*m+i]·y[p*n+j]| (just |a| outside the m×n matrix): the
// scale against which the rounding error of a float32 GerBatch (or Ger, with
// k = 1) is measured. Each of the k fused multiply-adds rounds once, so a
// float32 result is within about (k+1)·2⁻²⁴ times this magnitude of the exact
// one.
func GerBatchMagnitude(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) []float64 {
	k := batchK(len(x), m, len(y), n)
	checkMatrix("a", len(a), lda, m, n)
	out := make([]float64, len(a))
	for i, v := range a {
		out[i] = math.Abs(float64(v))
	}
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += math.Abs(float64(x[p*m+i]) * float64(y[p*n+j]))
			}
			out[i*lda+j] += math.Abs(float64(alpha)) * s
		}
	}
	return out
}

// Gemm returns a copy of all of c, converted to float64, with its m×n
// matrix (row stride ldc) replaced by alpha·op(A)·op(B) + beta·C, where
// op(A) is A (m×k, row stride lda) or, with transA, Aᵀ (A stored k×m), and
// likewise op(B) is k×n. The rules are BLAS sgemm's: when beta is 0, C is
// not read (a NaN in it does not survive); when alpha is 0 or k is 0, A and
// B are not read and the result is beta·C. The elements between rows and
// past the matrix are copied unchanged. It panics on the shapes and lengths
// the kernel rejects.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	opA, opB := gemmOperands(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	out := toFloat64(c)
	for i := range m {
		for j := range n {
			var v float64
			if beta != 0 {
				v = float64(beta) * float64(c[i*ldc+j])
			}
			if alpha != 0 && k > 0 {
				var s float64
				for p := range k {
					s += opA(i, p) * opB(p, j)
				}
				v += float64(alpha) * s
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

// GemmMagnitude returns, for each element of c, |beta·c_ij| +
// |alpha|·Σ_p |op(A)_ip·op(B)_pj| (just |c| outside the m×n matrix), with
// Gemm's rules: the first term is 0 when beta is 0, the second when alpha
// or k is 0. It is the scale against which the rounding error of a float32
// Gemm is measured: every partial sum and every update of C that a float32
// computation rounds is at most this large (to first order), so each
// rounding errs by at most 2⁻²⁴ of it.
func GemmMagnitude(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	opA, opB := gemmOperands(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	out := make([]float64, len(c))
	for i, v := range c {
		out[i] = math.Abs(float64(v))
	}
	for i := range m {
		for j := range n {
			var v float64
			if beta != 0 {
				v = math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			if alpha != 0 && k > 0 {
				var s float64
				for p := range k {
					s += math.Abs(opA(i, p) * opB(p, j))
				}
				v += math.Abs(float64(alpha)) * s
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

// gemmOperands checks Gemm's shapes and returns the elements of op(A) and
// op(B) by their row and column.
func gemmOperands(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (opA, opB func(r, col int) float64) {
	if m < 0 || n < 0 || k < 0 {
		panic("reference: m, n or k < 0")
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	checkMatrix("a", len(a), lda, rowsA, colsA)
	checkMatrix("b", len(b), ldb, rowsB, colsB)
	checkMatrix("c", len(c), ldc, m, n)
	opA = func(i, p int) float64 { return float64(a[i*lda+p]) }
	if transA {
		opA = func(i, p int) float64 { return float64(a[p*lda+i]) }
	}
	opB = func(p, j int) float64 { return float64(b[p*ldb+j]) }
	if transB {
		opB = func(p, j int) float64 { return float64(b[j*ldb+p]) }
	}
	return opA, opB
}

func batchK(lx, m, ly, n int) int {
	if m < 0 || n < 0 {
		panic("reference: m < 0 or n < 0")
	}
	var k int
	switch {
	case m > 0:
		k = lx / m
	case n > 0:
		k = ly / n
	}
	if lx != k*m || ly != k*n {
		panic("reference: len(x) != k*m or len(y) != k*n")
	}
	return k
}

// checkMatrix panics unless a slice of length l holds a rows×cols matrix
// with row stride ld ≥ max(1, cols); name is the slice's name.
func checkMatrix(name string, l, ld, rows, cols int) {
	if ld < max(1, cols) {
		panic("reference: ld" + name + " < max(1, columns of " + name + ")")
	}
	if rows > 0 && cols > 0 && l < (rows-1)*ld+cols {
		panic("reference: " + name + " is too short")
	}
}

func toFloat64(a []float32) []float64 {
	out := make([]float64, len(a))
	for i, v := range a {
		out[i] = float64(v)
	}
	return out
}

func fillNaN(y []float64) {
	for i := range y {
		y[i] = math.NaN()
	}
}
