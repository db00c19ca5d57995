package main

import (
	"flag"
	"fmt"
	"os"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// probe selects the second output of the generator: the FMA throughput
// probe of internal/peak instead of the kernels.
var probe = flag.Bool("probe", false, "generate the FMA throughput probe of internal/peak (peak.go) instead of the kernels")

// peakChains is the number of independent multiply-add chains the probe
// keeps in flight: more than the two FMA pipes × four cycles of latency of
// current x86 cores need to keep every pipe busy, and few enough to leave
// registers to spare on AVX2's 16. internal/peak reads the count back
// from the generated assembly (its test checks it).
const peakChains = 12

// peakStep is x·x = 2⁻²⁰, the amount each step adds to a chain: the sums
// stay normal and finite whatever the step count (each stops growing at 16,
// where 2⁻²⁰ is below half an ulp), so no step takes a slow path.
const peakStep = 0x3a800000 // x = 2⁻¹⁰ as float32 bits

// generateProbe writes the probe for every isa and checks its registers.
func generateProbe() {
	ConstraintExpr("!purego")
	for _, is := range isas {
		fmaPeak(is)
	}
	Generate()
	if err := checkRegisters(flag.Lookup("out").Value.String()); err != nil {
		fmt.Fprintln(os.Stderr, "asm_gen:", err)
		os.Exit(1)
	}
}

// fmaPeak emits fma<ISA>(iters int): iters steps of peakChains independent
// chains acc += x·x, one VFMADD231PS per chain and step, every operand in a
// register. No chain waits on another and nothing touches memory, so the
// loop runs at the core's multiply-add throughput at this vector width: the
// peak a kernel's GFLOP/s is read against.
func fmaPeak(is *isa) {
	TEXT("fma"+is.suffix, NOSPLIT, "func(iters int)")
	Doc(fmt.Sprintf("fma%s runs iters steps of %d independent chains of VFMADD231PS on %d-lane vectors in registers.",
		is.suffix, peakChains, is.lanes))
	n := load(Param("iters"))
	x := is.vec()
	bits := GP32()
	MOVL(U32(peakStep), bits)
	VMOVD(bits, x.AsX())
	VBROADCASTSS(x.AsX(), x)
	// Each chain starts at x: a copy needs AVX512F alone, where clearing
	// a ZMM register with VXORPS needs AVX512DQ.
	accs := is.vecs(peakChains)
	for _, a := range accs {
		VMOVAPS(x, a)
	}
	TESTQ(n, n)
	JLE(LabelRef("done"))
	Label("step")
	for _, a := range accs {
		VFMADD231PS(x, x, a) // a += x·x
	}
	DECQ(n)
	JNZ(LabelRef("step"))
	Label("done")
	ret()
}
