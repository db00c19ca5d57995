// Package peak measures the multiply-add throughput of one core at each
// vector width the CPU runs: a loop of independent FMA chains with every
// operand in a register, so that nothing but the FMA pipes bounds it. Its
// assembly comes from the kernels' generator (kernels/asm_gen -probe), from
// the same descriptions of the instruction sets; a kernel's GFLOP/s read
// against the peak measured in the same run is the fraction of the machine
// it uses.
//
// The instruction sets carry the names of package kernels' implementations
// ("avx512", "avx2"). With -tags purego, and off amd64, there are none.
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
