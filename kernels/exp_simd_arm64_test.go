//go:build !purego

package kernels

// simdExps lists the element-wise exp routine of each arm64 SIMD
// implementation.
var simdExps = []simdExp{
	{"neon", expMinusMaxNEON},
}
