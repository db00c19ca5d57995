//go:build !purego

package peak

import "github.com/klauspost/cpuid/v2"

// asmProbes are the loops of fma_amd64.s this CPU runs, widest first.
var asmProbes = supported(
	probe{"avx512", 16, fmaAVX512, []cpuid.FeatureID{cpuid.AVX512F}},
	probe{"avx2", 8, fmaAVX2, []cpuid.FeatureID{cpuid.AVX2, cpuid.FMA3}},
)
