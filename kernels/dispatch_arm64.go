//go:build !purego

package kernels

// simdImpls lists the arm64 SIMD implementations, fastest first.
var simdImpls []*Impl
