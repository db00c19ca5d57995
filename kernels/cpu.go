//go:build !purego && (amd64 || arm64)

package kernels

import "github.com/klauspost/cpuid/v2"

// cpuMissing returns an Impl.missing function for an implementation that
// needs the given CPU features.
func cpuMissing(features ...cpuid.FeatureID) func() []string {
	return func() []string {
		var miss []string
		for _, f := range features {
			if !cpuid.CPU.Supports(f) {
				miss = append(miss, f.String())
			}
		}
		return miss
	}
}
