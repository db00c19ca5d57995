//go:build race

package kernels_test

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put back, so Gemm's reuse of its packing buffers cannot be counted.
const raceEnabled = true
