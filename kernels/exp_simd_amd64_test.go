//go:build !purego

package kernels

// simdExps lists the element-wise exp routine of each amd64 SIMD
// implementation.
var simdExps = []simdExp{
	{"avx512", expMinusMaxAVX512},
	{"avx2", expMinusMaxAVX2},
}
