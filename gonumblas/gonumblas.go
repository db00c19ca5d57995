// Package gonumblas makes gonum's float32 BLAS run softgrad's kernels: its
// [Implementation] satisfies gonum's [blas.Float32] and, installed with
// blas32.Use, routes existing code that calls gonum's blas32.Gemm and
// blas32.Ger (or Sgemm and Sger on blas32.Implementation()) to
// [kernels.Impl.Gemm] and [kernels.Impl.Ger]:
//
//	blas32.Use(gonumblas.Implementation{})
//
// Every other routine is gonum's own (gonum.org/v1/gonum/blas/gonum),
// embedded. gonum's mat package works in float64 through blas64 and is not
// affected.
//
// # Semantics
//
// Sgemm and Sger check their arguments as gonum does, in the same order,
// and a bad argument panics with gonum's own message ("blas: illegal
// transpose", "blas: insufficient length of a", …): such a call is handed
// to gonum's routine, which raises it. The quick returns are gonum's too:
// nothing is read or written when m or n is 0, and Sger writes nothing when
// alpha is 0. As in gonum, blas.Trans and blas.ConjTrans both mean the
// transpose, and Sgemm with beta = 0 writes C without reading it, so a NaN
// in C does not survive.
//
// The kernels do not accept every call gonum does; these calls run gonum's
// code instead:
//
//   - Sgemm with k > 0 where the memory spanned by C overlaps that of A or B
//     (the kernels read op(A) and op(B) in packed blocks while writing C);
//   - Sger with an increment of x or y other than 1 (the kernels take
//     contiguous vectors), or where A's memory overlaps x or y.
//
// # Results
//
// The results are not bit-identical to gonum's: the kernels sum in another
// order, and some of them with fused multiply-adds. Each element of C is
// within (3k+2)·2⁻²⁴·(|alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|) of the exact
// result (the kernels' documented bound), and in practice far closer. One difference goes beyond rounding: gonum skips the zero
// elements of alpha·A in three of its four transpose cases, so an Inf or
// NaN in B meets a zero of A without effect there, while the kernels
// compute every product (0·Inf is NaN), as the formula does.
//
// gonum's Sgemm splits a large product among GOMAXPROCS goroutines; the
// kernels' Gemm runs on the calling goroutine.
package gonumblas

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/softgrad/softgrad/kernels"
)

// Implementation is gonum's float32 BLAS with Sgemm and Sger computed by
// softgrad's kernels. The zero value uses kernels.Default(). It is safe for
// concurrent use, as gonum's is.
type Implementation struct {
	gonum.Implementation

	// Kernels is the implementation that runs Sgemm and Sger: one of
	// kernels.Available(), or nil for kernels.Default().
	Kernels *kernels.Impl
}

var _ blas.Float32 = Implementation{}

func (im Implementation) kernels() *kernels.Impl {
	if im.Kernels == nil {
		return kernels.Default()
	}
	return im.Kernels
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, as
// gonum's Sgemm does: op(A) is m×k, op(B) is k×n and C is m×n. It runs
// kernels' Gemm, or gonum's Sgemm for the calls listed in the package
// documentation.
func (im Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !sgemmArgsValid(tA, tB, m, n, k, a, lda, b, ldb, c, ldc) {
		// gonum panics with its message for the first bad argument.
		im.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m == 0 || n == 0 {
		// gonum returns before checking the lengths of a and b; the kernels
		// check them whatever m and n are.
		return
	}
	transA, transB := tA != blas.NoTrans, tB != blas.NoTrans
	if k > 0 {
		rowsA, colsA := m, k
		if transA {
			rowsA, colsA = k, m
		}
		rowsB, colsB := k, n
		if transB {
			rowsB, colsB = n, k
		}
		cUsed := c[:(m-1)*ldc+n]
		if overlaps(cUsed, a[:(rowsA-1)*lda+colsA]) || overlaps(cUsed, b[:(rowsB-1)*ldb+colsB]) {
			im.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
	}
	im.kernels().Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmArgsValid reports whether gonum's Sgemm accepts the arguments: the
// checks of gonum's sgemm.go, in its order.
func sgemmArgsValid(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	if !isTranspose(tA) || !isTranspose(tB) || m < 0 || n < 0 || k < 0 {
		return false
	}
	transA, transB := tA != blas.NoTrans, tB != blas.NoTrans
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	if lda < max(1, colsA) || ldb < max(1, colsB) || ldc < max(1, n) {
		return false
	}
	if m == 0 || n == 0 {
		return true
	}
	return len(a) >= (rowsA-1)*lda+colsA &&
		len(b) >= (rowsB-1)*ldb+colsB &&
		len(c) >= (m-1)*ldc+n
}

func isTranspose(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}

// Sger performs the rank-1 update A += alpha·x·yᵀ, with A m×n, as gonum's
// Sger does. It runs kernels' Ger, or gonum's Sger for the calls listed in
// the package documentation.
func (im Implementation) Sger(m, n int, alpha float32, x []float32, incX int, y []float32, incY int, a []float32, lda int) {
	if incX != 1 || incY != 1 || !sgerArgsValid(m, n, len(x), len(y), a, lda) {
		// gonum panics with its message for a bad argument, and walks
		// strided vectors itself.
		im.Implementation.Sger(m, n, alpha, x, incX, y, incY, a, lda)
		return
	}
	if m == 0 || n == 0 || alpha == 0 {
		// gonum's quick returns: with alpha = 0, an Inf or NaN in x or y
		// leaves A as it is.
		return
	}
	x, y = x[:m], y[:n]
	aUsed := a[:(m-1)*lda+n]
	if overlaps(aUsed, x) || overlaps(aUsed, y) {
		im.Implementation.Sger(m, n, alpha, x, incX, y, incY, a, lda)
		return
	}
	im.kernels().Ger(a, lda, alpha, x, y)
}

// sgerArgsValid reports whether gonum's Sger accepts the arguments with unit
// increments: the checks of gonum's level2float32.go.
func sgerArgsValid(m, n, lenX, lenY int, a []float32, lda int) bool {
	if m < 0 || n < 0 || lda < max(1, n) {
		return false
	}
	if m == 0 || n == 0 {
		return true
	}
	return lenX >= m && lenY >= n && len(a) >= (m-1)*lda+n
}

// overlaps reports whether the memory of a and b overlaps.
func overlaps(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	const size = unsafe.Sizeof(float32(0))
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b))*size && b0 < a0+uintptr(len(a))*size
}
