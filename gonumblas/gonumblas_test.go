package gonumblas_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/softgrad/softgrad/gonumblas"
	"github.com/softgrad/softgrad/kernels"
)

// TestMain fails the run if a test leaves blas32 using anything but gonum's
// implementation, which every test that installs another must restore.
func TestMain(m *testing.M) {
	code := m.Run()
	if _, ok := blas32.Implementation().(gonum.Implementation); !ok {
		fmt.Fprintf(os.Stderr, "blas32.Implementation() is %T after the tests, want gonum.Implementation\n", blas32.Implementation())
		code = 1
	}
	os.Exit(code)
}

// use installs impl as blas32's implementation until the end of the test.
func use(t *testing.T, impl blas.Float32) {
	prev := blas32.Implementation()
	blas32.Use(impl)
	t.Cleanup(func() { blas32.Use(prev) })
}

// reference is gonum's own implementation, called directly: the results
// and panics Implementation is held to.
var reference gonum.Implementation

var transposes = []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans}

// gemmCase is one product C = alpha·op(A)·op(B) + beta·C; pad is added to the
// tight row stride of each matrix.
type gemmCase struct {
	tA, tB      blas.Transpose
	m, n, k     int
	alpha, beta float32
	pad         int
	nanC        bool // C starts as NaN everywhere (beta = 0 must not read it)
	nanA        bool // A's first element is NaN
}

func (g gemmCase) String() string {
	return fmt.Sprintf("%c%c m=%d n=%d k=%d alpha=%g beta=%g pad=%d nanC=%t nanA=%t",
		g.tA, g.tB, g.m, g.n, g.k, g.alpha, g.beta, g.pad, g.nanC, g.nanA)
}

// gemmOperands holds a case's matrices as blas32.General.
type gemmOperands struct{ a, b, c blas32.General }

// newOperands returns random operands for g, with padding between rows.
func newOperands(g gemmCase, rng *rand.Rand) gemmOperands {
	general := func(rows, cols int) blas32.General {
		stride := max(1, cols) + g.pad
		data := make([]float32, max(0, rows-1)*stride+cols)
		if rows == 0 {
			data = data[:0]
		}
		for i := range data {
			data[i] = float32(2*rng.Float64() - 1)
		}
		return blas32.General{Rows: rows, Cols: cols, Stride: stride, Data: data}
	}
	var ops gemmOperands
	if g.tA == blas.NoTrans {
		ops.a = general(g.m, g.k)
	} else {
		ops.a = general(g.k, g.m)
	}
	if g.tB == blas.NoTrans {
		ops.b = general(g.k, g.n)
	} else {
		ops.b = general(g.n, g.k)
	}
	ops.c = general(g.m, g.n)
	if g.nanC {
		for i := range ops.c.Data {
			ops.c.Data[i] = float32(math.NaN())
		}
	}
	if g.nanA && len(ops.a.Data) > 0 {
		ops.a.Data[0] = float32(math.NaN())
	}
	return ops
}

// gemmBound returns, for element (i, j) of C, twice the error bound
// (3k+2)·2⁻²⁴·(|alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|) that each of two float32
// computations keeps to: the largest difference between them.
func gemmBound(g gemmCase, ops gemmOperands, c0 []float32, i, j int) float64 {
	at := func(i, p int) float64 {
		if g.tA == blas.NoTrans {
			return float64(ops.a.Data[i*ops.a.Stride+p])
		}
		return float64(ops.a.Data[p*ops.a.Stride+i])
	}
	bt := func(p, j int) float64 {
		if g.tB == blas.NoTrans {
			return float64(ops.b.Data[p*ops.b.Stride+j])
		}
		return float64(ops.b.Data[j*ops.b.Stride+p])
	}
	var terms float64
	for p := range g.k {
		terms += math.Abs(at(i, p) * bt(p, j))
	}
	terms *= math.Abs(float64(g.alpha))
	if g.beta != 0 {
		terms += math.Abs(float64(g.beta) * float64(c0[i*ops.c.Stride+j]))
	}
	return 2 * float64(3*g.k+2) * 0x1p-24 * terms
}

func gemmCases(short bool) []gemmCase {
	shapes := [][3]int{
		{0, 3, 2}, {3, 0, 2}, {2, 3, 0}, {1, 1, 1}, {5, 7, 3}, {4, 4, 4},
		{17, 13, 31}, {9, 33, 65},
	}
	type scalars struct {
		alpha, beta float32
		nanC, nanA  bool
	}
	scalarCases := []scalars{
		{alpha: 1, beta: 0}, {alpha: 0.5, beta: 1}, {alpha: -1.5, beta: 0.25},
		{alpha: 0, beta: 0}, {alpha: 0, beta: 2}, {alpha: 0, beta: 1},
		{alpha: 2, beta: 0, nanC: true}, {alpha: 0, beta: 0, nanC: true},
		{alpha: 1, beta: 0.5, nanA: true},
	}
	var cases []gemmCase
	for _, tA := range transposes {
		for _, tB := range transposes {
			for _, s := range shapes {
				for _, sc := range scalarCases {
					for _, pad := range []int{0, 3} {
						cases = append(cases, gemmCase{
							tA: tA, tB: tB, m: s[0], n: s[1], k: s[2],
							alpha: sc.alpha, beta: sc.beta, pad: pad, nanC: sc.nanC, nanA: sc.nanA,
						})
					}
				}
			}
		}
	}
	if !short {
		// Several k blocks and row and column tiles of every implementation,
		// with one pair of scalars.
		for _, tA := range transposes {
			for _, tB := range transposes {
				cases = append(cases, gemmCase{tA: tA, tB: tB, m: 70, n: 40, k: 600, alpha: -1.5, beta: 0.25, pad: 3})
			}
		}
	}
	return cases
}

// TestGemm runs blas32.Gemm on Implementation with each kernels
// implementation and compares C with gonum's result: within the bound of
// gemmBound inside the m×n window, NaN where gonum's is, and the padding
// between rows untouched.
func TestGemm(t *testing.T) {
	cases := gemmCases(testing.Short())
	for _, im := range kernels.Available() {
		use(t, gonumblas.Implementation{Kernels: im})
		rng := rand.New(rand.NewPCG(1, 2))
		for _, g := range cases {
			ops := newOperands(g, rng)
			c0 := slices.Clone(ops.c.Data)
			want := slices.Clone(c0)
			reference.Sgemm(g.tA, g.tB, g.m, g.n, g.k, g.alpha, ops.a.Data, ops.a.Stride,
				ops.b.Data, ops.b.Stride, g.beta, want, ops.c.Stride)

			blas32.Gemm(g.tA, g.tB, g.alpha, ops.a, ops.b, g.beta, ops.c)

			got := ops.c.Data
			for e := range got {
				i, j := e/ops.c.Stride, e%ops.c.Stride
				if j >= g.n {
					if math.Float32bits(got[e]) != math.Float32bits(c0[e]) {
						t.Fatalf("%s %v: padding element %d changed: %v → %v", im, g, e, c0[e], got[e])
					}
					continue
				}
				w, v := float64(want[e]), float64(got[e])
				if g.beta == 0 && !g.nanA && math.IsNaN(v) {
					t.Fatalf("%s %v: c[%d][%d] is NaN with beta = 0", im, g, i, j)
				}
				bound := gemmBound(g, ops, c0, i, j)
				if math.IsNaN(w) != math.IsNaN(v) || (!math.IsNaN(w) && math.Abs(v-w) > bound) {
					t.Fatalf("%s %v: c[%d][%d] = %v, gonum's %v ± %.3g", im, g, i, j, v, w, bound)
				}
			}
		}
	}
}

// TestGemmRunsKernels checks that blas32.Gemm on Implementation computes
// bit for bit what the chosen kernels implementation's Gemm does, and that
// the zero value chooses kernels.Default().
func TestGemmRunsKernels(t *testing.T) {
	g := gemmCase{tA: blas.NoTrans, tB: blas.Trans, m: 13, n: 11, k: 300, alpha: 0.7, beta: 0.3, pad: 2}
	check := func(impl gonumblas.Implementation, gemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int), name string) {
		t.Helper()
		use(t, impl)
		ops := newOperands(g, rand.New(rand.NewPCG(3, 4)))
		want := slices.Clone(ops.c.Data)
		gemm(false, true, g.m, g.n, g.k, g.alpha, ops.a.Data, ops.a.Stride, ops.b.Data, ops.b.Stride, g.beta, want, ops.c.Stride)
		blas32.Gemm(g.tA, g.tB, g.alpha, ops.a, ops.b, g.beta, ops.c)
		for e, v := range ops.c.Data {
			if math.Float32bits(v) != math.Float32bits(want[e]) {
				t.Fatalf("%s: c[%d] = %v, kernels' Gemm gives %v", name, e, v, want[e])
			}
		}
	}
	for _, im := range kernels.Available() {
		check(gonumblas.Implementation{Kernels: im}, im.Gemm, im.Name())
	}
	check(gonumblas.Implementation{}, kernels.Gemm, "zero value")
}

// TestGemmOverlap: where C's rows interleave with A's or B's (spans that
// overlap, elements that do not), the kernels refuse the call and gonum's
// Sgemm computes it, so C is exactly gonum's and nothing panics.
func TestGemmOverlap(t *testing.T) {
	use(t, gonumblas.Implementation{})
	const m, n, k, ld = 4, 3, 4, 8
	rng := rand.New(rand.NewPCG(5, 6))
	for _, withB := range []bool{false, true} {
		// C (m×n) at offset 4 of a buffer with row stride 8, and at offset 0
		// A (m×k) or B (k×n); the other operand is tight, on its own.
		buf := make([]float32, (m-1)*ld+4+n)
		for i := range buf {
			buf[i] = float32(2*rng.Float64() - 1)
		}
		other := make([]float32, m*k)
		for i := range other {
			other[i] = float32(2*rng.Float64() - 1)
		}
		run := func(impl blas.Float32, buf, other []float32) {
			shared, c := buf, buf[4:]
			if withB {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1.5, other, k, shared, ld, 0.5, c, ld)
				return
			}
			impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1.5, shared, ld, other, n, 0.5, c, ld)
		}
		want := slices.Clone(buf)
		run(reference, want, slices.Clone(other))
		got := slices.Clone(buf)
		run(blas32.Implementation(), got, slices.Clone(other))
		for e := range got {
			if math.Float32bits(got[e]) != math.Float32bits(want[e]) {
				t.Fatalf("overlap with B %t: element %d = %v, gonum's %v", withB, e, got[e], want[e])
			}
		}
	}
}

// TestGer runs blas32.Ger on Implementation with each kernels
// implementation: with unit increments within the bound 2·5·2⁻²⁴·(|a_ij| +
// |alpha·x_i·y_j|) of gonum's result, with others (which gonum computes)
// bit for bit gonum's; the padding between rows untouched.
func TestGer(t *testing.T) {
	shapes := [][2]int{{0, 3}, {3, 0}, {1, 1}, {3, 5}, {10, 17}, {33, 100}}
	for _, im := range kernels.Available() {
		use(t, gonumblas.Implementation{Kernels: im})
		rng := rand.New(rand.NewPCG(7, 8))
		for _, s := range shapes {
			for _, alpha := range []float32{1, -0.75, 0} {
				for _, pad := range []int{0, 5} {
					for _, inc := range [][2]int{{1, 1}, {2, 1}, {1, -1}, {-3, 2}} {
						m, n := s[0], s[1]
						vec := func(l, inc int) blas32.Vector {
							d := make([]float32, max(0, (l-1)*abs(inc)+1))
							for i := range d {
								d[i] = float32(2*rng.Float64() - 1)
							}
							return blas32.Vector{N: l, Inc: inc, Data: d}
						}
						x, y := vec(m, inc[0]), vec(n, inc[1])
						if alpha == 0 && len(x.Data) > 0 {
							x.Data[0] = float32(math.Inf(1)) // alpha = 0 leaves A as it is
						}
						lda := max(1, n) + pad
						a := blas32.General{Rows: m, Cols: n, Stride: lda, Data: make([]float32, max(0, (m-1)*lda+n))}
						for i := range a.Data {
							a.Data[i] = float32(2*rng.Float64() - 1)
						}
						a0 := slices.Clone(a.Data)
						want := slices.Clone(a.Data)
						reference.Sger(m, n, alpha, x.Data, x.Inc, y.Data, y.Inc, want, lda)

						blas32.Ger(alpha, x, y, a)

						name := fmt.Sprintf("%s m=%d n=%d alpha=%g lda=%d incX=%d incY=%d", im, m, n, alpha, lda, inc[0], inc[1])
						exact := inc != [2]int{1, 1} || alpha == 0
						for e, v := range a.Data {
							i, j := e/lda, e%lda
							if j >= n || exact {
								if math.Float32bits(v) != math.Float32bits(want[e]) {
									t.Fatalf("%s: a[%d] = %v, gonum's %v", name, e, v, want[e])
								}
								continue
							}
							bound := 2 * 5 * 0x1p-24 * (math.Abs(float64(a0[e])) +
								math.Abs(float64(alpha)*float64(x.Data[i])*float64(y.Data[j])))
							if math.Abs(float64(v)-float64(want[e])) > bound {
								t.Fatalf("%s: a[%d][%d] = %v, gonum's %v ± %.3g", name, i, j, v, want[e], bound)
							}
						}
					}
				}
			}
		}
	}
}

func abs(v int) int { return max(v, -v) }

// TestGerRunsKernels checks that blas32.Ger on Implementation computes bit
// for bit what the chosen kernels implementation's Ger does, and that the
// zero value chooses kernels.Default().
func TestGerRunsKernels(t *testing.T) {
	const m, n, lda = 9, 37, 40
	check := func(impl gonumblas.Implementation, ger func(a []float32, lda int, alpha float32, x, y []float32), name string) {
		t.Helper()
		use(t, impl)
		rng := rand.New(rand.NewPCG(9, 10))
		rand32 := func(l int) []float32 {
			s := make([]float32, l)
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
			return s
		}
		x, y, a := rand32(m), rand32(n), rand32((m-1)*lda+n)
		want := slices.Clone(a)
		ger(want, lda, 0.3, x, y)
		blas32.Ger(0.3, blas32.Vector{N: m, Inc: 1, Data: x}, blas32.Vector{N: n, Inc: 1, Data: y},
			blas32.General{Rows: m, Cols: n, Stride: lda, Data: a})
		for e, v := range a {
			if math.Float32bits(v) != math.Float32bits(want[e]) {
				t.Fatalf("%s: a[%d] = %v, kernels' Ger gives %v", name, e, v, want[e])
			}
		}
	}
	for _, im := range kernels.Available() {
		check(gonumblas.Implementation{Kernels: im}, im.Ger, im.Name())
	}
	check(gonumblas.Implementation{}, kernels.Ger, "zero value")
}

// TestGerOverlap: where x or y lies in the padding between A's rows (spans
// that overlap, elements that do not), the kernels refuse the call and
// gonum's Sger computes it, so A is exactly gonum's and nothing panics.
func TestGerOverlap(t *testing.T) {
	use(t, gonumblas.Implementation{})
	const m, n, lda = 4, 3, 6
	rng := rand.New(rand.NewPCG(11, 12))
	for _, xInA := range []bool{true, false} {
		buf := make([]float32, (m-1)*lda+n+lda)
		for i := range buf {
			buf[i] = float32(2*rng.Float64() - 1)
		}
		other := []float32{0.5, -2, 1.25, 3}
		run := func(impl blas.Float32, buf, other []float32) {
			// Rows of A at 0, 6, 12, 18; a vector of 3 at 3, in the padding
			// of the first row.
			a, inside := buf, buf[n:2*n]
			if xInA {
				impl.Sger(n, n, 0.75, inside, 1, other, 1, a, lda)
				return
			}
			impl.Sger(m, n, 0.75, other, 1, inside, 1, a, lda)
		}
		want := slices.Clone(buf)
		run(reference, want, other)
		got := slices.Clone(buf)
		run(blas32.Implementation(), got, other)
		for e := range got {
			if math.Float32bits(got[e]) != math.Float32bits(want[e]) {
				t.Fatalf("x in A %t: element %d = %v, gonum's %v", xInA, e, got[e], want[e])
			}
		}
	}
}

// TestPanics checks that a bad argument makes Sgemm and Sger panic with
// the value gonum's do, and that the calls gonum accepts without looking at
// a short slice (m or n of 0) do not panic, though the kernels' own checks
// would refuse them.
func TestPanics(t *testing.T) {
	use(t, gonumblas.Implementation{})
	f := func(l int) []float32 { return make([]float32, l) }
	sgemm := func(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) func(blas.Float32) {
		return func(impl blas.Float32) {
			impl.Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
		}
	}
	sger := func(m, n int, x []float32, incX int, y []float32, incY int, a []float32, lda int) func(blas.Float32) {
		return func(impl blas.Float32) {
			impl.Sger(m, n, 1, x, incX, y, incY, a, lda)
		}
	}
	N, T := blas.NoTrans, blas.Trans
	cases := []struct {
		name   string
		call   func(blas.Float32)
		panics bool
	}{
		{"Sgemm tA", sgemm('X', N, 2, 2, 2, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm tB", sgemm(N, 0, 2, 2, 2, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm tA before m", sgemm('X', N, -1, 2, 2, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm m", sgemm(N, N, -1, 2, 2, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm n", sgemm(N, N, 2, -1, 2, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm k", sgemm(N, N, 2, 2, -1, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm m before n", sgemm(N, N, -1, -1, 2, f(4), 2, f(4), 2, f(4), 2), true},
		{"Sgemm lda", sgemm(N, N, 2, 2, 3, f(6), 2, f(6), 2, f(4), 2), true},
		{"Sgemm lda Trans", sgemm(T, N, 3, 2, 2, f(6), 2, f(4), 2, f(6), 2), true},
		{"Sgemm lda k=0", sgemm(N, N, 2, 2, 0, f(4), 0, f(4), 2, f(4), 2), true},
		{"Sgemm ldb", sgemm(N, N, 2, 3, 2, f(4), 2, f(6), 2, f(6), 3), true},
		{"Sgemm ldb Trans", sgemm(N, T, 2, 2, 3, f(6), 3, f(6), 2, f(4), 2), true},
		{"Sgemm ldc", sgemm(N, N, 2, 3, 2, f(4), 2, f(6), 3, f(6), 2), true},
		{"Sgemm lda before short a", sgemm(N, N, 2, 2, 3, f(1), 2, f(6), 2, f(4), 2), true},
		{"Sgemm short a", sgemm(N, N, 2, 2, 2, f(3), 2, f(4), 2, f(4), 2), true},
		{"Sgemm short a Trans", sgemm(T, N, 3, 2, 2, f(5), 3, f(4), 2, f(6), 2), true},
		{"Sgemm short b", sgemm(N, N, 2, 2, 2, f(4), 2, f(3), 2, f(4), 2), true},
		{"Sgemm short b Trans", sgemm(N, T, 2, 3, 2, f(4), 2, f(5), 2, f(6), 3), true},
		{"Sgemm short c", sgemm(N, N, 2, 2, 2, f(4), 2, f(4), 2, f(3), 2), true},
		{"Sgemm short a before short c", sgemm(N, N, 2, 2, 2, f(3), 2, f(4), 2, f(3), 2), true},
		{"Sgemm short a with k=0", sgemm(N, N, 3, 2, 0, f(1), 1, f(0), 2, f(6), 2), true},
		{"Sgemm n=0 with short a, b, c", sgemm(N, N, 3, 0, 2, f(1), 2, f(0), 1, f(0), 1), false},
		{"Sgemm m=0 with short a, b, c", sgemm(N, N, 0, 3, 2, f(0), 2, f(1), 3, f(0), 3), false},
		{"Sgemm k=0", sgemm(N, N, 2, 2, 0, f(1), 1, f(0), 2, f(4), 2), false},
		{"Sger m", sger(-1, 2, f(2), 1, f(2), 1, f(4), 2), true},
		{"Sger n", sger(2, -1, f(2), 1, f(2), 1, f(4), 2), true},
		{"Sger lda", sger(2, 3, f(2), 1, f(3), 1, f(6), 2), true},
		{"Sger lda n=0", sger(2, 0, f(2), 1, f(0), 1, f(0), 0), true},
		{"Sger incX", sger(2, 2, f(2), 0, f(2), 1, f(4), 2), true},
		{"Sger incY", sger(2, 2, f(2), 1, f(2), 0, f(4), 2), true},
		{"Sger m before incX", sger(-1, 2, f(2), 0, f(2), 1, f(4), 2), true},
		{"Sger short x", sger(3, 2, f(2), 1, f(2), 1, f(6), 2), true},
		{"Sger short x incX=2", sger(2, 2, f(2), 2, f(2), 1, f(4), 2), true},
		{"Sger short y", sger(2, 3, f(2), 1, f(2), 1, f(6), 3), true},
		{"Sger short y incY=-2", sger(2, 2, f(2), 1, f(2), -2, f(4), 2), true},
		{"Sger short a", sger(2, 2, f(2), 1, f(2), 1, f(3), 2), true},
		{"Sger short x before short a", sger(3, 2, f(2), 1, f(2), 1, f(3), 2), true},
		{"Sger m=0 with short x, y, a", sger(0, 3, f(0), 1, f(1), 1, f(0), 3), false},
	}
	for _, c := range cases {
		want := panicValue(func() { c.call(reference) })
		got := panicValue(func() { c.call(blas32.Implementation()) })
		if (want != nil) != c.panics {
			t.Errorf("%s: gonum's panic is %v; the test expects a panic: %t", c.name, want, c.panics)
		}
		if got != want {
			t.Errorf("%s: panic %v, gonum's %v", c.name, got, want)
		}
	}
}

// panicValue returns the value f panics with, or nil.
func panicValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
