// Package peak measures the multiply-add throughput of one core at each
// vector width the CPU runs: a loop of independent FMA chains with every
// operand in a register, so that nothing but the FMA pipes bounds it. Its
// assembly comes from the kernels' generator (kernels/asm_gen -probe), from
// the same descriptions of the instruction sets; a kernel's GFLOP/s read
// against the peak measured in the same run is the fraction of the machine
// it uses.
//
// The instruction sets carry the names of package kernels' implementations
// ("avx512", "avx2", "generic"). "generic" is the same loop in scalar Go,
// on every architecture and build: the ceiling of pure-Go code such as the
// generic implementation (on amd64 a multiply and an add per step of a
// chain, fused where the compiler fuses them, as on arm64).
package peak

import (
	"fmt"

	"github.com/klauspost/cpuid/v2"
)

// Chains is the number of independent multiply-add chains of the loop: one
// vector FMA each per step.
const Chains = 12

// probe is the loop at one vector width.
type probe struct {
	isa   string // an implementation name of package kernels
	lanes int    // float32 lanes per vector
	run   func(iters int)
	needs []cpuid.FeatureID // the CPU features run executes
}

// supported returns the probes this CPU runs. cpuid reports AVX and AVX-512
// only when the OS saves their registers.
func supported(all ...probe) []probe {
	var ps []probe
	for _, p := range all {
		if cpuid.CPU.Supports(p.needs...) {
			ps = append(ps, p)
		}
	}
	return ps
}

// probes are the loops this CPU and build run: the assembly ones, widest
// first, then scalar Go.
var probes = append(asmProbes, probe{"generic", 1, mulAddGeneric, nil})

// mulAddGeneric is the loop in scalar Go: Chains independent chains of
// c = c·a + b, in variables the compiler keeps in registers. a and b come
// from memory so that the compiler cannot fold the chains.
func mulAddGeneric(iters int) {
	a, b := genericOperands[0], genericOperands[1]
	var c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11 float32
	for range iters {
		c0 = c0*a + b
		c1 = c1*a + b
		c2 = c2*a + b
		c3 = c3*a + b
		c4 = c4*a + b
		c5 = c5*a + b
		c6 = c6*a + b
		c7 = c7*a + b
		c8 = c8*a + b
		c9 = c9*a + b
		c10 = c10*a + b
		c11 = c11*a + b
	}
	genericSink = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11
}

// genericOperands and genericSink keep mulAddGeneric's loop from being
// computed at compile time or dropped: factors below 1 keep the chains
// finite.
var (
	genericOperands = [2]float32{0.999, 0.001}
	genericSink     float32
)

// ISAs returns the instruction sets this CPU and build run the probe with,
// widest first.
func ISAs() []string {
	names := make([]string, len(probes))
	for i, p := range probes {
		names[i] = p.isa
	}
	return names
}

func lookup(isa string) (probe, bool) {
	for _, p := range probes {
		if p.isa == isa {
			return p, true
		}
	}
	return probe{}, false
}

// Lanes returns the float32 lanes of a vector of isa, 0 for an isa not in
// [ISAs].
func Lanes(isa string) int {
	p, _ := lookup(isa)
	return p.lanes
}

// Flops returns the floating-point operations of iters steps of the loop on
// isa: a multiply and an add per lane of each of the Chains FMAs of a step.
func Flops(isa string, iters int) int64 {
	return 2 * int64(Lanes(isa)) * Chains * int64(max(iters, 0))
}

// FMA runs iters steps of the loop on isa. It panics if isa is not one of
// [ISAs].
func FMA(isa string, iters int) {
	p, ok := lookup(isa)
	if !ok {
		panic(fmt.Sprintf("peak: no FMA loop for %q on this CPU and build (have %v)", isa, ISAs()))
	}
	if iters > 0 {
		p.run(iters)
	}
}
