//go:build race

package kernels_test

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put back, so the reuse of Gemm's packing buffers (GerBatch of a wide Y
// runs on them) cannot be counted.
const raceEnabled = true
