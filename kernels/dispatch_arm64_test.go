//go:build !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestSIMDSelected proves that dispatch really picks the assembly on arm64
// (CI runs it under qemu-aarch64): every arm64 CPU has NEON, so neon must
// be available and, unless SOFTGRAD_IMPL says otherwise, the default; else
// every other test would exercise generic alone. The log names the
// implementations the other tests exercise (all of Available()).
func TestSIMDSelected(t *testing.T) {
	if _, err := Lookup("neon"); err != nil {
		t.Fatalf("Lookup(neon) on arm64: %v", err)
	}
	avail := Available()
	if avail[0].Name() != "neon" {
		t.Fatalf("Available() = %v, want neon first", avail)
	}
	if Default().Name() != "neon" && os.Getenv(EnvVar) == "" {
		t.Errorf("Default() = %s on arm64, want neon", Default().Name())
	}
	t.Logf("arm64: default %s; implementations exercised (Available()): %v", Default(), avail)
}

// TestGerBatchBitsNEON holds NEON's GerBatch to generic's bits on every m
// and n up to 21 (every tile edge of gerBatchNEON and of the transposed
// tiles of gerBatchTransposedNEON, whose overlapping last block computes
// some columns twice): both sum each element's products alpha·x_pi·y_pj in
// generic's order, one rounding each, as their docs say.
func TestGerBatchBitsNEON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 21; n++ {
		for m := 1; m <= 21; m++ {
			for _, k := range []int{1, 2, 9} {
				lda := n + m%3
				x, y := make([]float32, k*m), make([]float32, k*n)
				a := make([]float32, (m-1)*lda+n)
				for _, s := range [][]float32{x, y, a} {
					for i := range s {
						s[i] = float32(r.NormFloat64())
					}
				}
				want := slices.Clone(a)
				neonImpl.GerBatch(a, lda, 0.7, x, m, y, n)
				genericImpl.GerBatch(want, lda, 0.7, x, m, y, n)
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(want[i]) {
						t.Errorf("m=%d n=%d k=%d: a[%d] = %v, generic's %v", m, n, k, i, a[i], want[i])
						break
					}
				}
			}
		}
	}
}
