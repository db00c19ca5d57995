//go:build linux || darwin || freebsd

package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

// TestGemmGuardPages runs Gemm with A, B and C each ending exactly at a
// guard page (and then each starting right after one), over every shape
// of up to two tiles and a part in each direction: the micro-kernels read
// and write C themselves, so a load or store of a partial row or column
// past C's last element faults. C's rows are n long with ldc = n or n + 3;
// the result, padding between rows included, must equal bit for bit that
// of the same call on ordinary slices. beta 0 and 1 take the micro-kernels'
// two stores, overwriting C and adding to it; transA both layouts of Ã.
func TestGemmGuardPages(t *testing.T) {
	const maxM, maxN, maxK, pad = 17, 25, 5, 3
	for _, im := range kernels.Available() {
		t.Run(im.Name(), func(t *testing.T) {
			// Per goroutine: the subtest runs in its own.
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			words := [3]int{maxM * maxK, maxK * maxN, (maxM-1)*(maxN+pad) + maxN}
			var allocs [3]*guardedAlloc
			for i, w := range words {
				allocs[i] = newGuardedAlloc(t, 4*w)
			}
			rng := rand.New(rand.NewPCG(7, 8))
			calls := 0
			for _, transA := range []bool{false, true} {
				for m := 1; m <= maxM; m++ {
					for n := 1; n <= maxN; n++ {
						for _, k := range []int{1, maxK} {
							for _, beta := range []float32{0, 1} {
								for _, ldc := range []int{n, n + pad} {
									if testing.Short() && rng.IntN(4) != 0 {
										continue
									}
									lda := k
									if transA {
										lda = m
									}
									g := gemmGuardCase{transA: transA, m: m, n: n, k: k, lda: lda, ldc: ldc, beta: beta}
									for _, atEnd := range []bool{true, false} {
										g.atEnd = atEnd
										g.run(t, im, allocs, rng)
										calls++
									}
								}
							}
						}
					}
				}
			}
			t.Logf("%s: %d guarded calls", im.Name(), calls)
		})
	}
}

// gemmGuardCase is one call of TestGemmGuardPages: op(A) m×k with A
// stored transposed or not, B k×n (ldb = n), C m×n with stride ldc.
type gemmGuardCase struct {
	transA   bool
	m, n, k  int
	lda, ldc int
	beta     float32
	atEnd    bool // the slices end at their trailing guard page, else start after the leading one
}

func (g gemmGuardCase) String() string {
	place := "start after"
	if g.atEnd {
		place = "end at"
	}
	return fmt.Sprintf("transA=%v m=%d n=%d k=%d lda=%d ldc=%d beta=%v, slices %s a guard page",
		g.transA, g.m, g.n, g.k, g.lda, g.ldc, g.beta, place)
}

// run makes the call on ordinary slices and then on guarded ones, and
// compares.
func (g gemmGuardCase) run(t *testing.T, im *kernels.Impl, allocs [3]*guardedAlloc, rng *rand.Rand) {
	t.Helper()
	const alpha = 0.75
	heap := [3][]float32{
		make([]float32, g.m*g.k),
		make([]float32, g.k*g.n),
		make([]float32, (g.m-1)*g.ldc+g.n),
	}
	for _, s := range heap {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	var guarded [3][]float32
	for i, s := range heap {
		if g.atEnd {
			guarded[i] = asF32(allocs[i].atEnd(len(s)))
		} else {
			guarded[i] = asF32(allocs[i].atStart(len(s)))
		}
		copy(guarded[i], s)
	}
	want := append([]float32(nil), heap[2]...)
	im.Gemm(g.transA, false, g.m, g.n, g.k, alpha, heap[0], g.lda, heap[1], g.n, g.beta, want, g.ldc)
	_, _, pv, stack := protect(func() (float64, error) {
		im.Gemm(g.transA, false, g.m, g.n, g.k, alpha, guarded[0], g.lda, guarded[1], g.n, g.beta, guarded[2], g.ldc)
		return 0, nil
	})
	if pv != nil {
		t.Fatalf("%s %v: fault: %v\n%s", im.Name(), g, pv, stack)
	}
	for i, name := range []string{"a", "b"} {
		for j, v := range guarded[i] {
			if math.Float32bits(v) != math.Float32bits(heap[i][j]) {
				t.Fatalf("%s %v: input %s[%d] changed: %v → %v", im.Name(), g, name, j, heap[i][j], v)
			}
		}
	}
	for j, v := range guarded[2] {
		if math.Float32bits(v) != math.Float32bits(want[j]) {
			t.Fatalf("%s %v: c[%d] = %v on guarded memory, %v on the heap", im.Name(), g, j, v, want[j])
		}
	}
}
