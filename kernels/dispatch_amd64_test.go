//go:build !purego

package kernels

import (
	"os"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// TestSIMDSelected proves that dispatch really picks the assembly on a CPU
// that can run it (CI runs it natively and under qemu -cpu Haswell): an
// implementation missing from Available() would leave every other test
// exercising generic alone.
func TestSIMDSelected(t *testing.T) {
	want := "generic"
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		want = "avx2"
		if _, err := Lookup("avx2"); err != nil {
			t.Fatalf("the CPU has AVX2 and FMA but Lookup(avx2): %v", err)
		}
	}
	if Default().Name() != want && os.Getenv(EnvVar) == "" {
		t.Errorf("Default() = %s on a CPU with %v, want %s", Default().Name(), cpuid.CPU.FeatureSet(), want)
	}
	t.Logf("CPU %q: default %s, available %v", cpuid.CPU.BrandName, Default(), Available())
}
