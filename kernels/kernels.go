package kernels

import (
	"fmt"
	"unsafe"
)

// IgnoreLabel is the label of a row that [CrossEntropyGrad] skips: the row
// gets a zero gradient, adds nothing to the loss and is not counted in the
// mean (PyTorch's ignore_index).
const IgnoreLabel = -1

// LabelError reports a label that is neither in [0, Cols) nor IgnoreLabel.
// [CrossEntropyGrad] returns it before writing anything.
type LabelError struct {
	Row   int   // the row holding the label
	Label int32 // the offending label
	Cols  int   // the number of classes
}

// Error says which row holds which bad label, and the valid range.
func (e *LabelError) Error() string {
	return fmt.Sprintf("kernels: row %d: label %d out of range [0, %d)", e.Row, e.Label, e.Cols)
}

// Softmax writes softmax(src) to dst, row by row: each row of cols logits
// becomes a probability distribution. dst may be src itself (in place) and
// must not partially overlap it; len(dst) ≥ len(src), and only the first
// len(src) elements of dst are written.
func Softmax(dst, src []float32, cols int) { defaultImpl.Softmax(dst, src, cols) }

// LogSoftmax writes log(softmax(src)) to dst, row by row, without computing
// the softmax first: x_i − max − log Σ exp(x_j − max). dst may be src itself.
func LogSoftmax(dst, src []float32, cols int) { defaultImpl.LogSoftmax(dst, src, cols) }

// SoftmaxBackward writes the gradient with respect to the logits of a softmax
// whose output is s, given the upstream gradient dy: dx = s ⊙ (dy − ⟨dy, s⟩)
// per row. dx may be s or dy itself.
func SoftmaxBackward(dx, s, dy []float32, cols int) { defaultImpl.SoftmaxBackward(dx, s, dy, cols) }

// LogSoftmaxBackward writes the gradient with respect to the logits of a
// log-softmax whose output is logp, given the upstream gradient dy:
// dx = dy − exp(logp)·Σ dy per row. logp holds log-probabilities, as
// LogSoftmax writes them; an entry above 0 is not one and is taken as 0. dx
// may be logp or dy itself.
func LogSoftmaxBackward(dx, logp, dy []float32, cols int) {
	defaultImpl.LogSoftmaxBackward(dx, logp, dy, cols)
}

// CrossEntropyGrad computes the mean cross-entropy loss of the logits against
// integer class labels, and its gradient with respect to the logits, in one
// fused pass: grad_r = (softmax(logits_r) − onehot(labels_r)) / n, where n
// counts the rows whose label is not IgnoreLabel. Ignored rows get a zero
// gradient. The loss is NaN when n is 0, as in PyTorch.
//
// len(labels) must equal the number of rows. A label outside [0, cols) that is
// not IgnoreLabel is bad data: CrossEntropyGrad then returns a *LabelError and
// writes nothing. grad may be logits itself.
func CrossEntropyGrad(grad, logits []float32, labels []int32, cols int) (loss float64, err error) {
	return defaultImpl.CrossEntropyGrad(grad, logits, labels, cols)
}

// CrossEntropyGradSoft is CrossEntropyGrad for soft targets (one distribution
// per row, for label smoothing or distillation): it returns the mean over rows
// of −Σ t·log softmax(logits) and writes
// grad_r = (softmax(logits_r)·Σ t_r − t_r) / rows. As in PyTorch, a −Inf logit
// makes its row's loss NaN even where its target is 0 (0·−Inf). grad may be
// logits itself but must not overlap targets.
func CrossEntropyGradSoft(grad, logits, targets []float32, cols int) (loss float64) {
	return defaultImpl.CrossEntropyGradSoft(grad, logits, targets, cols)
}

// Ger performs the rank-1 update a[i*lda+j] += alpha·x[i]·y[j] for i < len(x),
// j < len(y): the weight gradient x ⊗ (s − y) of one sample. a is a
// len(x)×len(y) matrix with row stride lda ≥ len(y); it must not overlap x
// or y.
func Ger(a []float32, lda int, alpha float32, x, y []float32) { defaultImpl.Ger(a, lda, alpha, x, y) }

// GerBatch performs the rank-k update A += alpha·Xᵀ·Y, the sum of k rank-1
// updates: a[i*lda+j] += alpha·Σ_p x[p*m+i]·y[p*n+j]. X is k×m and Y is k×n,
// row-major with one sample per row, so k = len(x)/m = len(y)/n; A is m×n with
// row stride lda ≥ n and must not overlap x or y.
func GerBatch(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	defaultImpl.GerBatch(a, lda, alpha, x, m, y, n)
}

// Gemm computes the general matrix product C = alpha·op(A)·op(B) + beta·C
// on row-major matrices, with BLAS sgemm's semantics (cblas with
// CblasRowMajor, gonum's Sgemm): op(A) is A, or Aᵀ when transA is set, and
// is m×k; op(B) is B, or Bᵀ when transB is set, and is k×n; C is m×n with row
// stride ldc ≥ max(1, n). A is stored m×k (k×m when transA) with row stride
// lda ≥ max(1, its number of columns), and likewise B with ldb.
//
// When beta is 0, C is written without being read, so a NaN in C does not
// survive; when alpha is 0 or k is 0, C is only scaled by beta. C must not
// overlap A or B.
//
// In a linear layer with weights W (classes×features, nn.Linear's layout)
// and a batch X (samples×features), the logits are Gemm(false, true, …, X, W)
// and the gradient with respect to the batch is Gemm(false, false, …, G, W).
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	defaultImpl.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm is the package-level [Gemm] run by this implementation.
func (im *Impl) Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	switch {
	case m < 0:
		panic("kernels: m < 0")
	case n < 0:
		panic("kernels: n < 0")
	case k < 0:
		panic("kernels: k < 0")
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	if lda < max(1, colsA) {
		panic("kernels: lda < max(1, columns of A)")
	}
	if ldb < max(1, colsB) {
		panic("kernels: ldb < max(1, columns of B)")
	}
	if ldc < max(1, n) {
		panic("kernels: ldc < max(1, n)")
	}
	if rowsA > 0 && colsA > 0 && len(a) < (rowsA-1)*lda+colsA {
		panic("kernels: a is shorter than (rows-1)*lda+columns of A")
	}
	if rowsB > 0 && colsB > 0 && len(b) < (rowsB-1)*ldb+colsB {
		panic("kernels: b is shorter than (rows-1)*ldb+columns of B")
	}
	if m == 0 || n == 0 {
		return
	}
	if len(c) < (m-1)*ldc+n {
		panic("kernels: c is shorter than (m-1)*ldc+n")
	}
	c = c[:(m-1)*ldc+n]
	if k > 0 {
		checkDisjoint(c, a[:(rowsA-1)*lda+colsA], "c", "a")
		checkDisjoint(c, b[:(rowsB-1)*ldb+colsB], "c", "b")
	}
	gemm(im.isa, im.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Softmax is the package-level [Softmax] run by this implementation.
func (im *Impl) Softmax(dst, src []float32, cols int) {
	rows := checkRows(len(src), cols, "src")
	checkOut(dst, src, "dst", "src")
	if rows > 0 {
		rowsJob{kernel: rowsSoftmax, is: im.isa, cols: cols, out: dst[:len(src)], in: src}.split(im.Threads())
	}
}

// LogSoftmax is the package-level [LogSoftmax] run by this implementation.
func (im *Impl) LogSoftmax(dst, src []float32, cols int) {
	rows := checkRows(len(src), cols, "src")
	checkOut(dst, src, "dst", "src")
	if rows > 0 {
		rowsJob{kernel: rowsLogSoftmax, is: im.isa, cols: cols, out: dst[:len(src)], in: src}.split(im.Threads())
	}
}

// SoftmaxBackward is the package-level [SoftmaxBackward] run by this
// implementation.
func (im *Impl) SoftmaxBackward(dx, s, dy []float32, cols int) {
	rows := checkRows(len(s), cols, "s")
	checkSameLen(len(dy), len(s), "dy", "s")
	checkOut(dx, s, "dx", "s")
	checkOut(dx, dy, "dx", "dy")
	if rows > 0 {
		rowsJob{kernel: rowsSoftmaxBackward, is: im.isa, cols: cols, out: dx[:len(s)], in: s, in2: dy}.split(im.Threads())
	}
}

// LogSoftmaxBackward is the package-level [LogSoftmaxBackward] run by this
// implementation.
func (im *Impl) LogSoftmaxBackward(dx, logp, dy []float32, cols int) {
	rows := checkRows(len(logp), cols, "logp")
	checkSameLen(len(dy), len(logp), "dy", "logp")
	checkOut(dx, logp, "dx", "logp")
	checkOut(dx, dy, "dx", "dy")
	if rows > 0 {
		rowsJob{kernel: rowsLogSoftmaxBackward, is: im.isa, cols: cols, out: dx[:len(logp)], in: logp, in2: dy}.split(im.Threads())
	}
}

// CrossEntropyGrad is the package-level [CrossEntropyGrad] run by this
// implementation.
func (im *Impl) CrossEntropyGrad(grad, logits []float32, labels []int32, cols int) (loss float64, err error) {
	rows := checkRows(len(logits), cols, "logits")
	checkSameLen(len(labels), rows, "labels", "rows")
	checkOut(grad, logits, "grad", "logits")
	counted, err := countLabels(labels, cols)
	if err != nil {
		return 0, err
	}
	if counted == 0 {
		clear(grad[:len(logits)])
		return nan(), nil
	}
	sum := rowsJob{kernel: rowsCrossEntropyGrad, is: im.isa, cols: cols, out: grad[:len(logits)], in: logits,
		labels: labels, counted: counted}.split(im.Threads())
	return sum / float64(counted), nil
}

// CrossEntropyGradSoft is the package-level [CrossEntropyGradSoft] run by this
// implementation.
func (im *Impl) CrossEntropyGradSoft(grad, logits, targets []float32, cols int) (loss float64) {
	rows := checkRows(len(logits), cols, "logits")
	checkSameLen(len(targets), len(logits), "targets", "logits")
	checkOut(grad, logits, "grad", "logits")
	checkDisjoint(grad[:len(logits)], targets, "grad", "targets")
	if rows == 0 {
		return nan()
	}
	sum := rowsJob{kernel: rowsCrossEntropyGradSoft, is: im.isa, cols: cols, out: grad[:len(logits)], in: logits,
		in2: targets}.split(im.Threads())
	return sum / float64(rows)
}

// Ger is the package-level [Ger] run by this implementation.
func (im *Impl) Ger(a []float32, lda int, alpha float32, x, y []float32) {
	m, n := len(x), len(y)
	checkMatrix(a, lda, m, n)
	if m == 0 || n == 0 {
		return
	}
	a = a[:(m-1)*lda+n]
	checkDisjoint(a, x, "a", "x")
	checkDisjoint(a, y, "a", "y")
	gerSplit(im.isa, im.Threads(), a, lda, alpha, x, y)
}

// GerBatch is the package-level [GerBatch] run by this implementation.
func (im *Impl) GerBatch(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	if m < 0 {
		panic("kernels: m < 0")
	}
	if n < 0 {
		panic("kernels: n < 0")
	}
	var k int
	switch {
	case m > 0:
		k = len(x) / m
	case n > 0:
		k = len(y) / n
	}
	if len(x) != k*m {
		panic("kernels: len(x) is not k*m")
	}
	if len(y) != k*n {
		panic("kernels: len(y) is not k*n: k differs between x and y")
	}
	checkMatrix(a, lda, m, n)
	if m == 0 || n == 0 || k == 0 {
		return
	}
	a = a[:(m-1)*lda+n]
	checkDisjoint(a, x, "a", "x")
	checkDisjoint(a, y, "a", "y")
	gerBatchBlocked(im.isa, im.Threads(), a, lda, alpha, x, m, y, n)
}

// countLabels returns the number of labels that are not IgnoreLabel, or the
// *LabelError of the first that is neither that nor in [0, cols).
func countLabels(labels []int32, cols int) (int, error) {
	counted := 0
	for r, l := range labels {
		switch {
		case l == IgnoreLabel:
		case l < 0 || int(l) >= cols:
			return 0, &LabelError{Row: r, Label: l, Cols: cols}
		default:
			counted++
		}
	}
	return counted, nil
}

// checkRows validates a batch of length l with cols columns and returns its
// row count. cols == 0 is allowed for an empty batch only.
func checkRows(l, cols int, name string) int {
	switch {
	case cols < 0:
		panic("kernels: cols < 0")
	case cols == 0:
		if l != 0 {
			panic("kernels: cols == 0 with a non-empty " + name)
		}
		return 0
	case l%cols != 0:
		panic("kernels: len(" + name + ") is not a multiple of cols")
	}
	return l / cols
}

func checkSameLen(got, want int, name, other string) {
	if got != want {
		panic("kernels: len(" + name + ") != " + lenName(other))
	}
}

func lenName(name string) string {
	if name == "rows" {
		return name
	}
	return "len(" + name + ")"
}

// checkOut checks that out can take an output as long as in, and that it is
// either in itself or disjoint from it.
func checkOut(out, in []float32, outName, inName string) {
	if len(out) < len(in) {
		panic("kernels: " + outName + " is shorter than " + inName)
	}
	if len(in) > 0 && unsafe.SliceData(out) != unsafe.SliceData(in) {
		checkDisjoint(out[:len(in)], in, outName, inName)
	}
}

// checkDisjoint panics if the memory of a and b overlaps.
func checkDisjoint[T any](a []float32, b []T, aName, bName string) {
	if len(a) == 0 || len(b) == 0 {
		return
	}
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	a1 := a0 + uintptr(len(a))*unsafe.Sizeof(a[0])
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	b1 := b0 + uintptr(len(b))*unsafe.Sizeof(b[0])
	if a0 < b1 && b0 < a1 {
		panic("kernels: " + aName + " overlaps " + bName)
	}
}

// checkMatrix validates an m×n matrix a with row stride lda.
func checkMatrix(a []float32, lda, m, n int) {
	if lda < max(1, n) {
		panic("kernels: lda < max(1, n)")
	}
	if m > 0 && n > 0 && len(a) < (m-1)*lda+n {
		panic("kernels: a is shorter than (m-1)*lda+n")
	}
}
