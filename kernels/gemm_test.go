package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/softgrad/softgrad/internal/reference"
)

// gemmCase is one product for the tests: shapes, transposes, leading
// dimensions and scalars.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	lda, ldb, ldc  int
	alpha, beta    float32
}

func (g gemmCase) String() string {
	op := func(t bool) string {
		if t {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%v beta=%v",
		op(g.transA), op(g.transB), g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.alpha, g.beta)
}

// dims returns the stored shapes of A and B (rows, columns).
func (g gemmCase) dims() (ra, ca, rb, cb int) {
	ra, ca = g.m, g.k
	if g.transA {
		ra, ca = g.k, g.m
	}
	rb, cb = g.k, g.n
	if g.transB {
		rb, cb = g.n, g.k
	}
	return
}

// withLd sets the leading dimensions to the widths plus extra.
func (g gemmCase) withLd(extra int) gemmCase {
	_, ca, _, cb := g.dims()
	g.lda, g.ldb, g.ldc = max(1, ca)+extra, max(1, cb)+extra, max(1, g.n)+extra
	return g
}

// gemmRef returns the float64 reference of the case (BLAS's rules for beta
// = 0 and alpha = 0) and the error bound of a float32 computation per
// element: (k + 2·⌈k/7⌉ + 4)·2⁻²⁴·(|beta·c| + |alpha|·Σ_p |a_ip·b_pj|).
// Each term is rounded once per multiply-add of its block's sum (k in
// all), C twice per block (alpha·s + c, and the scaling by beta), and the
// smallest blocks the tests make are 7 long.
func gemmRef(g gemmCase, a, b, c []float32) (ref, bound []float64) {
	ref = reference.Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
	bound = reference.GemmMagnitude(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
	for i := range bound {
		bound[i] *= float64(g.k+2*((g.k+6)/7)+4) * 0x1p-24
	}
	return ref, bound
}

// checkGemm runs one case on im and compares C with the float64 reference,
// element by element, padding between C's rows included (it must not
// change).
func checkGemm(t *testing.T, im *Impl, g gemmCase, rng *rand.Rand) {
	t.Helper()
	ra, ca, rb, cb := g.dims()
	fill := func(rows, cols, ld int) []float32 {
		if rows == 0 || cols == 0 {
			return make([]float32, rng.IntN(3))
		}
		s := make([]float32, (rows-1)*ld+cols)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	a, b, c := fill(ra, ca, g.lda), fill(rb, cb, g.ldb), fill(g.m, g.n, g.ldc)
	if g.beta == 0 && len(c) > 0 {
		c[rng.IntN(len(c))] = float32(math.NaN()) // beta = 0 must not read it
	}
	ref, bound := gemmRef(g, a, b, c)
	got := append([]float32(nil), c...)
	im.Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, got, g.ldc)
	for i := range got {
		r, v := ref[i], float64(got[i])
		inTile := g.n > 0 && i%g.ldc < g.n
		if !inTile {
			if math.Float32bits(got[i]) != math.Float32bits(c[i]) {
				t.Fatalf("%s %v: padding element %d changed: %v → %v", im.Name(), g, i, c[i], got[i])
			}
			continue
		}
		if math.IsNaN(r) != math.IsNaN(v) || (!math.IsNaN(r) && math.Abs(v-r) > bound[i]) {
			t.Fatalf("%s %v: c[%d][%d] = %v, want %v ± %.3g", im.Name(), g, i/g.ldc, i%g.ldc, v, r, bound[i])
		}
	}
}

// withSmallBlocks runs f with every isa's blocks cut to a few tiles, so that
// products of a few dozen rows and columns cross every block boundary.
func withSmallBlocks(f func()) {
	saved := gemmTilings
	defer func() { gemmTilings = saved }()
	for k := range gemmTilings {
		for o, t := range gemmTilings[k] {
			if t.mr == 0 {
				continue
			}
			gemmTilings[k][o] = gemmTiling{mr: t.mr, nr: t.nr, kc: 7, mc: 2 * t.mr, nc: 2 * t.nr, kcStream: 11}
		}
	}
	f()
}

func gemmImpls() []*Impl { return Available() }

// eachOrientation runs f four times: with the product run as gemmSwaps
// chooses, as it is, on Cᵀ (where the isa has a tile for it), and, for
// A·Bᵀ, as dot products (gemmDot, where the isa has it).
func eachOrientation(f func()) {
	defer func() { gemmSwapsFor, gemmDotsFor = gemmSwaps, gemmUsesDots }()
	noDots := func(isa, int, int) bool { return false }
	for _, swap := range []func([2]gemmTiling, bool, bool, int, int) bool{
		gemmSwaps,
		func([2]gemmTiling, bool, bool, int, int) bool { return false },
		func(t [2]gemmTiling, _, _ bool, _, _ int) bool { return t[1].mr != 0 },
	} {
		gemmSwapsFor, gemmDotsFor = swap, noDots
		f()
	}
	// A·Bᵀ as dot products, at every width.
	gemmDotsFor = func(is isa, _, _ int) bool { r, _ := is.gemmDotShape(); return r > 0 }
	f()
}

// TestGemmSmall compares every implementation with the float64 reference
// for all four transposes over m, n, k in 1..40 (every combination in full
// runs, a random sample with -short), with tight and loose leading
// dimensions.
func TestGemmSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, im := range gemmImpls() {
		for _, tr := range [4][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for m := 1; m <= 40; m++ {
				for n := 1; n <= 40; n++ {
					for _, k := range []int{1, 2, 3, 5, 8, 13, 16, 17, 31, 40} {
						if testing.Short() && rng.IntN(8) != 0 {
							continue
						}
						g := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0}
						g = g.withLd(rng.IntN(2) * rng.IntN(5))
						if rng.IntN(2) == 0 {
							g.alpha, g.beta = 0.5, -1
						}
						eachOrientation(func() { checkGemm(t, im, g, rng) })
					}
				}
			}
		}
	}
}

// TestGemmBlocks crosses every block boundary (kc, mc, nc cut small) with
// every transpose and alpha, beta in {0, 1, −1, 0.5, NaN}.
func TestGemmBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scalars := []float32{0, 1, -1, 0.5, float32(math.NaN())}
	withSmallBlocks(func() {
		for _, im := range gemmImpls() {
			for _, tr := range [4][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, alpha := range scalars {
					for _, beta := range scalars {
						for range 4 {
							g := gemmCase{transA: tr[0], transB: tr[1],
								m: 1 + rng.IntN(60), n: 1 + rng.IntN(80), k: rng.IntN(40), alpha: alpha, beta: beta}
							g = g.withLd(rng.IntN(3) * 7)
							eachOrientation(func() { checkGemm(t, im, g, rng) })
						}
					}
				}
			}
		}
	})
}

// TestGerBatchAlphaZero holds GerBatch to its products also where alpha is
// 0: an infinite x makes 0·Inf = NaN, on every implementation and on every
// path (a Y of up to 64 columns on GerBatch's own tiles, a wider one on Gemm's blocks).
func TestGerBatchAlphaZero(t *testing.T) {
	for _, im := range Available() {
		for _, n := range []int{10, 1000} {
			const m, k = 3, 4
			x := make([]float32, k*m)
			y := make([]float32, k*n)
			for i := range y {
				y[i] = 1
			}
			x[1] = float32(math.Inf(1)) // sample 0, row 1
			a := make([]float32, m*n)
			im.GerBatch(a, n, 0, x, m, y, n)
			for j := range n {
				if v := a[n+j]; !math.IsNaN(float64(v)) {
					t.Fatalf("%s n=%d: a[1][%d] = %v, want NaN (0·Inf)", im.Name(), n, j, v)
				}
				if v := a[j]; v != 0 {
					t.Fatalf("%s n=%d: a[0][%d] = %v, want 0", im.Name(), n, j, v)
				}
			}
		}
	}
}
