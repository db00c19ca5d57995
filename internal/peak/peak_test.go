package peak

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAssembly checks the generated loops against what the Go side counts:
// Chains FMAs per step, on registers of the width Lanes gives.
func TestAssembly(t *testing.T) {
	src, err := os.ReadFile("fma_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	routines := regexp.MustCompile(`(?m)^TEXT ·fma(\w+)\(SB\)`).FindAllStringSubmatchIndex(string(src), -1)
	if len(routines) != 2 {
		t.Fatalf("%d routines in fma_amd64.s, want 2", len(routines))
	}
	fma := regexp.MustCompile(`(?m)^\s*VFMADD231PS ([XYZ])\d+, ([XYZ])\d+, ([XYZ])\d+$`)
	for i, r := range routines {
		end := len(src)
		if i+1 < len(routines) {
			end = routines[i+1][0]
		}
		name := strings.ToLower(string(src[r[2]:r[3]]))
		body := string(src[r[1]:end])
		lanes, ok := map[string]int{"avx2": 8, "avx512": 16}[name]
		if !ok {
			t.Errorf("fma%s: an unknown isa", name)
			continue
		}
		width := map[int]string{8: "Y", 16: "Z"}[lanes]
		ms := fma.FindAllStringSubmatch(body, -1)
		if len(ms) != Chains {
			t.Errorf("fma%s: %d VFMADD231PS, want %d", name, len(ms), Chains)
		}
		for _, m := range ms {
			if m[1] != width || m[2] != width || m[3] != width {
				t.Errorf("fma%s: %s, want %s registers", name, strings.TrimSpace(m[0]), width)
			}
		}
		if l := Lanes(name); l != 0 && l != lanes {
			t.Errorf("Lanes(%q) = %d, want %d", name, l, lanes)
		}
	}
}

// TestFMA runs the loop on every isa and checks the flop count.
func TestFMA(t *testing.T) {
	for _, isa := range ISAs() {
		FMA(isa, 0)
		FMA(isa, -1)
		FMA(isa, 1000)
		if got, want := Flops(isa, 1000), int64(2*Lanes(isa)*Chains*1000); got != want || want == 0 {
			t.Errorf("Flops(%q, 1000) = %d, want %d", isa, got, want)
		}
	}
	t.Logf("isas: %v", ISAs())
	if Flops("sse9", 1000) != 0 || Lanes("sse9") != 0 || slices.Contains(ISAs(), "") {
		t.Errorf("an unknown isa has lanes")
	}
	defer func() {
		if recover() == nil {
			t.Error("FMA of an unknown isa did not panic")
		}
	}()
	FMA("sse9", 1)
}

// TestGeneric checks that the scalar loop runs its chains: from 0, each
// step takes every chain to c·a + b.
func TestGeneric(t *testing.T) {
	genericSink = -1
	FMA("generic", 1)
	var want float32 // the chains' sum, in the loop's order
	for range Chains {
		want += genericOperands[1]
	}
	if genericSink != want {
		t.Errorf("one step: sum of the chains %g, want %g", genericSink, want)
	}
	if !slices.Contains(ISAs(), "generic") || Lanes("generic") != 1 {
		t.Errorf("ISAs() = %v, Lanes(generic) = %d: want generic with 1 lane", ISAs(), Lanes("generic"))
	}
}
