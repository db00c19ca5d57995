package kernels_test

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

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
			lossesOut := make([]float32, rows)
			a := make([]float32, rows*cols)
			for name, f := range map[string]func(){
				"Softmax":              func() { im.Softmax(z, x, cols) },
				"LogSoftmax":           func() { im.LogSoftmax(z, x, cols) },
				"SoftmaxBackward":      func() { im.SoftmaxBackward(z, y, x, cols) },
				"LogSoftmaxBackward":   func() { im.LogSoftmaxBackward(z, y, x, cols) },
				"CrossEntropyGrad":     func() { _, _ = im.CrossEntropyGrad(z, x, labels, cols) },
				"CrossEntropyGradSoft": func() { im.CrossEntropyGradSoft(z, x, y, cols) },
				"CrossEntropyGradWith": func() {
					_, _ = im.CrossEntropyGradWith(z, x, labels, cols, kernels.CrossEntropyOptions{
						Weights: y[:cols], LabelSmoothing: 0.1, ZLoss: 1e-4, Losses: db})
				},
				"CrossEntropyGradWith/unweighted": func() {
					_, _ = im.CrossEntropyGradWith(z, x, labels, cols, kernels.CrossEntropyOptions{LabelSmoothing: 0.1})
				},
				"Ger":      func() { im.Ger(a, cols, 0.5, x[:rows], y[:cols]) },
				"GerBatch": func() { im.GerBatch(a, cols, 0.5, x[:2*rows], rows, y[:2*cols], cols) },
				"Gemm":     func() { im.Gemm(false, false, rows, cols, rows, 0.5, x[:rows*rows], rows, y, cols, 1, a, cols) },
				"GemmNT":   func() { im.Gemm(false, true, rows, rows, cols, 0.5, x, cols, y, cols, 0, a[:rows*rows], rows) },
				// A layer of cols features and rows classes: w = y, dw = a, dx = z.
				"LinearCrossEntropy": func() {
					_, _ = im.LinearCrossEntropy(a, db, z, x, y, y[:rows], labels3, cols, rows)
				},
				"LinearCrossEntropyWith": func() {
					_, _ = im.LinearCrossEntropyWith(a, db, z, x, y, y[:rows], labels3, cols, rows,
						kernels.CrossEntropyOptions{Weights: y[:rows], LabelSmoothing: 0.1, Losses: lossesOut})
				},
			} {
				if raceEnabled && (strings.HasPrefix(name, "Gemm") || name == "GerBatch" || strings.HasPrefix(name, "LinearCrossEntropy")) {
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
// first call (the pools emptied) allocates its chunk of logits and Gemm's
// packing buffers (sized from the caches cpuid reports, grown from one
// product to the next), not the k×classes logits.
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
	// The chunk's logits, and the packing of each of the three products on
	// a full chunk and on the last one (a buffer grows at most once per
	// product and goroutine), and 64 KB for the rest.
	chunk := kernels.LinearChunkRows(k, classes)
	bound := 4*chunk*classes + 64<<10
	for _, n := range []int{chunk, k - (k-1)/chunk*chunk} {
		bound += 4 * kernels.Default().Threads() * (kernels.GemmPackFloats(false, true, n, classes, features) +
			kernels.GemmPackFloats(true, false, classes, features, n) +
			kernels.GemmPackFloats(false, false, n, features, classes))
	}
	if logits := 4 * k * classes; bound >= logits {
		t.Fatalf("the bound, %d bytes, is not below the logits' %d: the test needs more rows", bound, logits)
	}
	// The least of three first calls: TotalAlloc counts the whole process,
	// and a goroutine a test before left running may still allocate.
	got := uint64(math.MaxUint64)
	for range 3 {
		runtime.GC()
		runtime.GC() // a sync.Pool drops its buffers over two collections
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := kernels.LinearCrossEntropy(dw, db, dx, x, w, nil, labels, features, classes); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		got = min(got, after.TotalAlloc-before.TotalAlloc)
	}
	if got > uint64(bound) {
		t.Errorf("a first call allocated %d bytes, want at most %d (the logits are %d)", got, bound, 4*k*classes)
	}
}

// TestNoAllocationsAlone: a call large enough to split but too short to
// wake a sleeping helper, made now and then, runs on its caller's goroutine
// and allocates nothing more than the same call on one thread.
func TestNoAllocationsAlone(t *testing.T) {
	x := make([]float32, 128*1000)
	dst := make([]float32, len(x))
	c := make([]float32, 128*128)
	calls := map[string]func(im *kernels.Impl){
		"Softmax 128×1000": func(im *kernels.Impl) { im.Softmax(dst, x, 1000) },
		"Gemm 128³":        func(im *kernels.Impl) { im.Gemm(false, false, 128, 128, 128, 1, x, 128, x, 128, 0, c, 128) },
	}
	for name, call := range calls {
		if raceEnabled && strings.HasPrefix(name, "Gemm") {
			continue // sync.Pool drops buffers under the race detector
		}
		mallocs := func(im *kernels.Impl) float64 {
			call(im) // fills the pools
			const n = 20
			var a, b runtime.MemStats
			runtime.ReadMemStats(&a)
			for range n {
				time.Sleep(2 * time.Millisecond) // helpers poll for 200 µs, then sleep
				call(im)
			}
			runtime.ReadMemStats(&b)
			return float64(b.Mallocs-a.Mallocs) / n
		}
		one, two := mallocs(kernels.Default().WithThreads(1)), mallocs(kernels.Default().WithThreads(2))
		if two > one+0.5 {
			t.Errorf("%s now and then: %.2f allocations a call on two threads, %.2f on one", name, two, one)
		}
	}
}
