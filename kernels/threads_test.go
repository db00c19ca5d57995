package kernels

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// withSmallShares runs f with every kernel's least work per share cut to a
// few elements, so that the tests' small calls split into many shares, and
// wake sleeping helpers.
func withSmallShares(f func()) { withThresholds(0, f) }

// withThresholds runs f with every kernel's least work per share cut to a
// few elements, and calls of less than wake elements or flops split only
// onto polling helpers.
func withThresholds(wake int, f func()) {
	rows, ger, gemm, rowWake, gemmWake := rowSplitElems, gerSplitElems, gemmSplitFlops, rowWakeElems, gemmWakeFlops
	rowSplitElems, gerSplitElems, gemmSplitFlops, rowWakeElems, gemmWakeFlops = 64, 16, 1, wake, wake
	defer func() {
		rowSplitElems, gerSplitElems, gemmSplitFlops, rowWakeElems, gemmWakeFlops = rows, ger, gemm, rowWake, gemmWake
	}()
	f()
}

// splitThreads are the thread counts whose results must equal one
// thread's, bit for bit.
var splitThreads = []int{2, 3, 7}

// bitsEqual reports the first index where a and b differ in their bits.
func bitsEqual(a, b []float32) (int, bool) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i, false
		}
	}
	return 0, true
}

func randFloats(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (2*r.Float32() - 1) * scale
	}
	return v
}

// sameForEveryThreadCount runs call with one thread and with each of
// splitThreads, and fails unless every output and the loss are the same
// bits. call returns its outputs and its loss (0 if none).
func sameForEveryThreadCount(t *testing.T, name string, call func(im *Impl) ([][]float32, float64)) {
	t.Helper()
	for _, im := range Available() {
		want, wantLoss := call(im.WithThreads(1))
		for _, th := range splitThreads {
			got, loss := call(im.WithThreads(th))
			if math.Float64bits(loss) != math.Float64bits(wantLoss) && !(math.IsNaN(loss) && math.IsNaN(wantLoss)) {
				t.Errorf("%s %s threads=%d: loss %v, one thread %v", im.Name(), name, th, loss, wantLoss)
			}
			for o := range want {
				if i, ok := bitsEqual(got[o], want[o]); !ok {
					t.Errorf("%s %s threads=%d: output %d [%d] = %v, one thread %v", im.Name(), name, th, o, i, got[o][i], want[o][i])
					break
				}
			}
		}
	}
}

// TestThreadsBitIdentical holds every kernel that splits to results that do
// not depend on the number of goroutines: 1, 2, 3 and 7, bit for bit,
// with shares cut small enough that the calls below split many ways.
func TestThreadsBitIdentical(t *testing.T) {
	withSmallShares(func() {
		r := rand.New(rand.NewPCG(1, 2))
		for _, cols := range []int{3, 10, 17, 100, 1000} {
			for _, rows := range []int{1, 7, 64, 200} {
				n := rows * cols
				x, dy := randFloats(r, n, 8), randFloats(r, n, 1)
				targets := make([]float32, n)
				for i := range targets {
					targets[i] = r.Float32()
				}
				labels := make([]int32, rows)
				for i := range labels {
					labels[i] = int32(r.IntN(cols))
					if i%5 == 3 {
						labels[i] = IgnoreLabel
					}
				}
				name := fmt.Sprintf("%dx%d", rows, cols)
				out := func(f func(im *Impl, dst []float32) float64) func(im *Impl) ([][]float32, float64) {
					return func(im *Impl) ([][]float32, float64) {
						dst := make([]float32, n)
						return [][]float32{dst}, f(im, dst)
					}
				}
				sameForEveryThreadCount(t, "Softmax "+name, out(func(im *Impl, dst []float32) float64 { im.Softmax(dst, x, cols); return 0 }))
				sameForEveryThreadCount(t, "LogSoftmax "+name, out(func(im *Impl, dst []float32) float64 { im.LogSoftmax(dst, x, cols); return 0 }))
				sameForEveryThreadCount(t, "SoftmaxBackward "+name, out(func(im *Impl, dst []float32) float64 { im.SoftmaxBackward(dst, targets, dy, cols); return 0 }))
				sameForEveryThreadCount(t, "LogSoftmaxBackward "+name, out(func(im *Impl, dst []float32) float64 { im.LogSoftmaxBackward(dst, x, dy, cols); return 0 }))
				sameForEveryThreadCount(t, "CrossEntropyGrad "+name, out(func(im *Impl, dst []float32) float64 {
					loss, err := im.CrossEntropyGrad(dst, x, labels, cols)
					if err != nil {
						t.Fatal(err)
					}
					return loss
				}))
				sameForEveryThreadCount(t, "CrossEntropyGradSoft "+name, out(func(im *Impl, dst []float32) float64 { return im.CrossEntropyGradSoft(dst, x, targets, cols) }))
				sameForEveryThreadCount(t, "CrossEntropyGradWith "+name, func(im *Impl) ([][]float32, float64) {
					dst, losses := make([]float32, n), make([]float32, rows)
					loss, err := im.CrossEntropyGradWith(dst, x, labels, cols, CrossEntropyOptions{
						Weights: targets[:cols], LabelSmoothing: 0.1, ZLoss: 1e-3, Losses: losses})
					if err != nil {
						t.Fatal(err)
					}
					return [][]float32{dst, losses}, loss
				})
			}
		}
		for _, s := range []struct{ m, n, k int }{{1, 300, 1}, {100, 1, 1}, {100, 300, 1}, {130, 10, 9}, {70, 64, 33}, {130, 200, 17}} {
			x, y := randFloats(r, s.k*s.m, 1), randFloats(r, s.k*s.n, 1)
			a0 := randFloats(r, s.m*(s.n+3), 1)
			name := fmt.Sprintf("%dx%dxk%d", s.m, s.n, s.k)
			sameForEveryThreadCount(t, "GerBatch "+name, func(im *Impl) ([][]float32, float64) {
				a := append([]float32(nil), a0...)
				im.GerBatch(a, s.n+3, 0.5, x, s.m, y, s.n)
				return [][]float32{a}, 0
			})
			if s.k == 1 {
				sameForEveryThreadCount(t, "Ger "+name, func(im *Impl) ([][]float32, float64) {
					a := append([]float32(nil), a0...)
					im.Ger(a, s.n+3, 0.5, x, y)
					return [][]float32{a}, 0
				})
			}
		}
		// Shapes for each of Gemm's paths: dot products (few columns, NT),
		// tiles of C, tiles of Cᵀ; few and many panels either way.
		for _, s := range []struct{ m, n, k int }{{64, 10, 784}, {37, 300, 65}, {300, 37, 65}, {130, 129, 257}, {5, 700, 40}, {700, 5, 40}} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				a, b := randFloats(r, s.m*s.k, 1), randFloats(r, s.k*s.n, 1)
				lda, ldb := s.k, s.n
				if tr[0] {
					lda = s.m
				}
				if tr[1] {
					ldb = s.k
				}
				c0 := randFloats(r, s.m*s.n, 1)
				for _, beta := range []float32{0, 0.5} {
					name := fmt.Sprintf("Gemm %dx%dx%d trans=%v beta=%v", s.m, s.n, s.k, tr, beta)
					sameForEveryThreadCount(t, name, func(im *Impl) ([][]float32, float64) {
						c := append([]float32(nil), c0...)
						im.Gemm(tr[0], tr[1], s.m, s.n, s.k, 1.5, a, lda, b, ldb, beta, c, s.n)
						return [][]float32{c}, 0
					})
				}
			}
		}
		for _, chunk := range []int{0, 5} {
			const k, features, classes = 40, 33, 150
			x, w, bias := randFloats(r, k*features, 1), randFloats(r, classes*features, 1), randFloats(r, classes, 1)
			labels := make([]int32, k)
			for i := range labels {
				labels[i] = int32(r.IntN(classes))
			}
			labels[k-1] = IgnoreLabel
			call := func(im *Impl) ([][]float32, float64) {
				dw, db, dx := make([]float32, classes*features), make([]float32, classes), make([]float32, k*features)
				var loss float64
				f := func() {
					var err error
					if loss, err = im.LinearCrossEntropy(dw, db, dx, x, w, bias, labels, features, classes); err != nil {
						t.Fatal(err)
					}
				}
				if chunk > 0 {
					withLinearChunks(chunk, f)
				} else {
					f()
				}
				return [][]float32{dw, db, dx}, loss
			}
			sameForEveryThreadCount(t, fmt.Sprintf("LinearCrossEntropy chunk=%d", chunk), call)
		}
	})
}

// TestThreadsLabelError: a bad label returns its error and writes nothing,
// whichever share it falls in.
func TestThreadsLabelError(t *testing.T) {
	withSmallShares(func() {
		const rows, cols = 200, 10
		for _, bad := range []int{0, rows / 2, rows - 1} {
			labels := make([]int32, rows)
			labels[bad] = cols
			logits := make([]float32, rows*cols)
			grad := make([]float32, rows*cols)
			for i := range grad {
				grad[i] = 7
			}
			im := Default().WithThreads(7)
			_, err := im.CrossEntropyGrad(grad, logits, labels, cols)
			var le *LabelError
			if !errors.As(err, &le) || le.Row != bad {
				t.Fatalf("bad label in row %d: err %v", bad, err)
			}
			for i, v := range grad {
				if v != 7 {
					t.Fatalf("bad label in row %d: grad[%d] = %v, written", bad, i, v)
				}
			}
		}
	})
}

// TestThreadsNoGoroutineLeft: after split calls, the only goroutines left
// are helpers, no more than the largest Threads()−1 of a call, even with
// calls made at once.
func TestThreadsNoGoroutineLeft(t *testing.T) {
	const most = 7 // the largest thread count of this package's tests
	before := runtime.NumGoroutine() - helperCount()
	withSmallShares(func() {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				im := Default().WithThreads(1 + g%most)
				x := make([]float32, 200*100)
				dst := make([]float32, len(x))
				for range 10 {
					im.Softmax(dst, x, 100)
				}
				c := make([]float32, 100*100)
				im.Gemm(false, false, 100, 100, 100, 1, x[:100*100], 100, x[:100*100], 100, 0, c, 100)
			}()
		}
		wg.Wait()
	})
	if n := helperCount(); n > most-1 {
		t.Errorf("%d helpers, want at most %d", n, most-1)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine()-helperCount() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine() - helperCount(); n > before {
		t.Errorf("%d goroutines besides helpers after the calls, %d before", n, before)
	}
}

// TestThreadsShortCalls: a call too short to wake a helper runs alone, and
// a run of such calls rouses one, so that later calls split onto it; the
// results are those of one thread.
func TestThreadsShortCalls(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randFloats(r, 256*100, 4)
	want := make([]float32, len(x))
	Default().WithThreads(1).Softmax(want, x, 100)
	im := Default().WithThreads(2)
	got := make([]float32, len(x))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // a helper runs beside the caller
	// Polling long enough to outlast a call: under qemu a call takes
	// longer than the 200 µs a helper polls on hardware.
	defer helperPoll.Store(helperPoll.Swap(int64(time.Second)))
	before := helperGrains.Load()
	withThresholds(1<<30, func() {
		rowSplitElems = 1 << 13 // a few grains: calls short enough for a run even under the race detector
		// Back to back, as a trainer's calls are: the checks come after.
		// The helper needs a CPU beside the caller's; on a loaded machine
		// that can take a while.
		for deadline := time.Now().Add(20 * time.Second); helperGrains.Load() == before && time.Now().Before(deadline); {
			for range 100 {
				im.Softmax(got, x, 100)
			}
		}
		clear(got)
		im.Softmax(got, x, 100)
	})
	if at, ok := bitsEqual(got, want); !ok {
		t.Errorf("element %d differs from one thread's", at)
	}
	if helperGrains.Load() == before {
		t.Errorf("helpers ran no grain during 20 s of short calls")
	}
}

func TestWithThreads(t *testing.T) {
	im := Default()
	if got := im.WithThreads(3).Threads(); got != 3 {
		t.Errorf("WithThreads(3).Threads() = %d", got)
	}
	if got := im.WithThreads(MaxThreads + 5).Threads(); got != MaxThreads {
		t.Errorf("WithThreads(MaxThreads+5).Threads() = %d", got)
	}
	if im.WithThreads(3).Name() != im.Name() {
		t.Errorf("WithThreads changed the name")
	}
	want := runtime.GOMAXPROCS(0)
	if envThreads > 0 {
		want = envThreads
	}
	if got := im.WithThreads(3).WithThreads(0).Threads(); got != want {
		t.Errorf("WithThreads(0).Threads() = %d, want %d", got, want)
	}
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "kernels: ") {
			t.Errorf("WithThreads(-1) panicked with %v, want a kernels: message", r)
		}
	}()
	im.WithThreads(-1)
}

// TestThreadsEnv runs the test binary again with SOFTGRAD_THREADS set: a
// good value is what Default().Threads() returns, a bad one stops the
// program with exit status 2 and a message naming the variable.
func TestThreadsEnv(t *testing.T) {
	if want, ok := os.LookupEnv("SOFTGRAD_TEST_PRINT_THREADS"); ok {
		if got := strconv.Itoa(Default().Threads()); got != want {
			t.Fatalf("%s=%s gave Threads() = %s", ThreadsEnvVar, want, got)
		}
		return
	}
	run := func(value string) (string, error) {
		return runTestAgain(t, "TestThreadsEnv", ThreadsEnvVar+"="+value, "SOFTGRAD_TEST_PRINT_THREADS="+value)
	}
	for _, good := range []string{"1", "3"} {
		if out, err := run(good); err != nil {
			t.Errorf("%s=%s: %v\n%s", ThreadsEnvVar, good, err, out)
		}
	}
	for _, bad := range []string{"0", "-2", "two", "1e3", strconv.Itoa(MaxThreads + 1)} {
		out, err := run(bad)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%s=%s: err %v, want exit status 2; output:\n%s", ThreadsEnvVar, bad, err, out)
			continue
		}
		if !strings.Contains(out, ThreadsEnvVar) || !strings.Contains(out, `"`+bad+`"`) {
			t.Errorf("%s=%s: message %q names neither", ThreadsEnvVar, bad, out)
		}
	}
}

// spinJob is a share of fixed work: n multiply-adds per grain.
type spinJob struct {
	n    int
	sink []float64
}

func (j spinJob) run(lo, hi int) {
	v := 1.0
	for range (hi - lo) * j.n {
		v = v*0.999999 + 1e-9
	}
	j.sink[lo] = v
}

// goroutinesPerCall is the alternative to forGrains' helpers: a goroutine
// started per call for each but the caller, which ends with the call.
func goroutinesPerCall(threads, grains int, job shareJob) {
	q := &grainQueue{grains: int64(grains), all: make(chan struct{})}
	for range min(threads, grains) - 1 {
		go q.take(job)
	}
	q.take(job)
	awaitDone(&q.done, q.grains, q.all)
}

// BenchmarkShareDispatch compares forShares' helpers with goroutines
// started per call, on two shares of work from about 1 to 100 µs, called
// back to back as a training step's kernels are.
func BenchmarkShareDispatch(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		job := spinJob{n: n, sink: make([]float64, 2)}
		b.Run(fmt.Sprintf("work=%d/how=one", n), func(b *testing.B) {
			for b.Loop() {
				forShares(1, 2, job, true)
			}
		})
		b.Run(fmt.Sprintf("work=%d/how=helpers", n), func(b *testing.B) {
			for b.Loop() {
				forShares(2, 2, job, true)
			}
		})
		b.Run(fmt.Sprintf("work=%d/how=goroutines", n), func(b *testing.B) {
			for b.Loop() {
				goroutinesPerCall(2, 2, job)
			}
		})
	}
}
