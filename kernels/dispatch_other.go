//go:build purego || !(amd64 || arm64)

package kernels

// simdImpls is empty where no assembly is compiled.
var simdImpls []*Impl
