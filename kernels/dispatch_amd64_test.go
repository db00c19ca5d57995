//go:build !purego

package kernels

import (
	"os"
	"slices"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// TestSIMDSelected proves that dispatch really picks the assembly on a CPU
// that can run it (CI runs it natively and under qemu -cpu Haswell): an
// implementation missing from Available() would leave every other test
// exercising generic alone. The log names the implementations the other
// tests exercise (all of Available()).
func TestSIMDSelected(t *testing.T) {
	want := "generic"
	var needed []string // the SIMD implementations this CPU must offer
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		want = "avx2"
		needed = append(needed, "avx2")
	}
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512DQ, cpuid.AVX512VL, cpuid.BMI2) {
		want = "avx512"
		needed = append(needed, "avx512")
	}
	avail := Available()
	for _, name := range needed {
		if _, err := Lookup(name); err != nil {
			t.Fatalf("the CPU has the features of %s but Lookup(%s): %v", name, name, err)
		}
		if !slices.ContainsFunc(avail, func(im *Impl) bool { return im.Name() == name }) {
			t.Fatalf("the CPU has the features of %s but Available() = %v omits it", name, avail)
		}
	}
	if Default().Name() != want && os.Getenv(EnvVar) == "" {
		t.Errorf("Default() = %s on a CPU with %v, want %s", Default().Name(), cpuid.CPU.FeatureSet(), want)
	}
	t.Logf("CPU %q: default %s; implementations exercised (Available()): %v", cpuid.CPU.BrandName, Default(), avail)
}
