//go:build !purego

package kernels

import (
	"os"
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
