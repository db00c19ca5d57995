//go:build !purego

package kernels

// simdImpls lists the amd64 SIMD implementations, fastest first. Each gets
// its CPU check from cpuMissing.
var simdImpls []*Impl
