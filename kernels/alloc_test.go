package kernels_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

// TestNoAllocations holds the package doc's promise that the kernels
// allocate nothing, for every implementation and both small and large rows.
func TestNoAllocations(t *testing.T) {
	for _, im := range kernels.Available() {
		for _, cols := range []int{10, 1000, 20000} {
			const rows = 3
			x := make([]float32, rows*cols)
			y := make([]float32, rows*cols)
			z := make([]float32, rows*cols)
			for i := range x {
				x[i] = float32(i%7) - 3
				y[i] = float32(i%5) / 5
			}
			labels := []int32{0, kernels.IgnoreLabel, int32(cols - 1)}
			labels3 := []int32{0, kernels.IgnoreLabel, rows - 1}
			db := make([]float32, rows)
			a := make([]float32, rows*cols)
			for name, f := range map[string]func(){
				"Softmax":              func() { im.Softmax(z, x, cols) },
				"LogSoftmax":           func() { im.LogSoftmax(z, x, cols) },
				"SoftmaxBackward":      func() { im.SoftmaxBackward(z, y, x, cols) },
				"LogSoftmaxBackward":   func() { im.LogSoftmaxBackward(z, y, x, cols) },
				"CrossEntropyGrad":     func() { _, _ = im.CrossEntropyGrad(z, x, labels, cols) },
				"CrossEntropyGradSoft": func() { im.CrossEntropyGradSoft(z, x, y, cols) },
				"Ger":                  func() { im.Ger(a, cols, 0.5, x[:rows], y[:cols]) },
				"GerBatch":             func() { im.GerBatch(a, cols, 0.5, x[:2*rows], rows, y[:2*cols], cols) },
				"Gemm":                 func() { im.Gemm(false, false, rows, cols, rows, 0.5, x[:rows*rows], rows, y, cols, 1, a, cols) },
				"GemmNT":               func() { im.Gemm(false, true, rows, rows, cols, 0.5, x, cols, y, cols, 0, a[:rows*rows], rows) },
				// A layer of cols features and rows classes: w = y, dw = a, dx = z.
				"LinearCrossEntropy": func() {
					_, _ = im.LinearCrossEntropy(a, db, z, x, y, y[:rows], labels3, cols, rows)
				},
			} {
				if raceEnabled && (strings.HasPrefix(name, "Gemm") || name == "GerBatch" || name == "LinearCrossEntropy") {
					continue
				}
				if n := testing.AllocsPerRun(5, f); n != 0 {
					t.Errorf("%s/%s cols=%d: %v allocations per call, want 0", im.Name(), name, cols, n)
				}
			}
		}
	}
}

// TestLinearCrossEntropyScratch holds LinearCrossEntropy's memory bound: a
// first call (the pools emptied) allocates its chunk of logits,
// max(2²², 16·classes) floats, and Gemm's packing buffers (sized from the
// caches and grown from one product to the next: 4.3 MB under qemu's
// Haswell, which reports a 4 MB L2 and a 16 MB L3), not the k×classes
// logits (here 38 MB).
func TestLinearCrossEntropyScratch(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what a call allocates")
	}
	const k, features, classes = 300, 4, 32000
	x, w := make([]float32, k*features), make([]float32, classes*features)
	dw, db, dx := make([]float32, classes*features), make([]float32, classes), make([]float32, k*features)
	labels := make([]int32, k)
	for i := range labels {
		labels[i] = int32(i * 97 % classes)
	}
	runtime.GC()
	runtime.GC() // a sync.Pool drops its buffers over two collections
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := kernels.LinearCrossEntropy(dw, db, dx, x, w, nil, labels, features, classes); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	if bound := uint64(4*max(1<<22, 16*classes) + 8<<20); got > bound {
		t.Errorf("a first call allocated %d bytes, want at most %d (the logits are %d)", got, bound, 4*k*classes)
	}
}
