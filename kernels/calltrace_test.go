package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// Whole calls for bench/mca's models of them (go run ./bench/mca -calls):
// with SOFTGRAD_CALLTRACE naming one of callTraces, the test binary makes
// that call once between two calls of callTraceMark, on one thread, and
// exits. bench/mca runs it under qemu, keeps the instructions executed
// between the two marks (the API's checks, the batch loops in Go and the
// assembly) and models them with llvm-mca.
const callTraceEnv = "SOFTGRAD_CALLTRACE"

// A callTrace is one call on rows×cols logits: Softmax, or CrossEntropyGrad
// with labels; rowPath takes short rows through the row primitives
// (rowPathOnly), as an implementation without a short-row kernel does. Or
// GerBatch of k samples into a rows×cols A.
type callTrace struct {
	kernel        string
	rows, cols, k int
	rowPath       bool
}

func (c callTrace) String() string {
	kernel, shape, _ := c.keys()
	s := kernel + "/" + shape
	if c.rowPath {
		s += "/rows"
	}
	return s
}

// keys returns the benchmark keys, as bench/mca names the call's models.
func (c callTrace) keys() (kernel, shape, path string) {
	path = "default"
	if c.rowPath {
		path = "rows"
	}
	shape = fmt.Sprintf("%dx%d", c.rows, c.cols)
	if c.k > 0 {
		shape += fmt.Sprintf("xk%d", c.k)
	}
	return c.kernel, shape, path
}

var callTraces = []callTrace{
	{"Softmax", 256, 10, 0, false},
	{"Softmax", 256, 10, 0, true},
	{"CrossEntropyGrad", 256, 10, 0, false},
	{"CrossEntropyGrad", 256, 10, 0, true},
	{"Softmax", 64, 1000, 0, false},
	{"CrossEntropyGrad", 64, 1000, 0, false},
	{"GerBatch", 784, 10, 128, false},
}

// elems returns the call's elements: the logits, or GerBatch's
// multiply-adds.
func (c callTrace) elems() int { return c.rows * c.cols * max(c.k, 1) }

// inputs returns the call's logits, labels and output (GerBatch's x and
// y, concatenated, and A).
func (c callTrace) inputs() (out, logits []float32, labels []int32) {
	r := rand.New(rand.NewPCG(uint64(c.rows), uint64(c.cols)))
	logits = make([]float32, c.rows*c.cols)
	if c.k > 0 {
		logits = make([]float32, c.k*(c.rows+c.cols))
	}
	for i := range logits {
		logits[i] = float32(r.NormFloat64() * 3)
	}
	labels = make([]int32, c.rows)
	for i := range labels {
		labels[i] = int32(r.IntN(c.cols))
	}
	if c.k > 0 {
		return make([]float32, c.rows*c.cols), logits, labels
	}
	return make([]float32, len(logits)), logits, labels
}

// run makes the call with im and returns the loss (0 for Softmax).
func (c callTrace) run(im *Impl, out, logits []float32, labels []int32) float64 {
	saved := rowPathOnly
	rowPathOnly = c.rowPath
	defer func() { rowPathOnly = saved }()
	switch c.kernel {
	case "Softmax":
		im.Softmax(out, logits, c.cols)
		return 0
	case "CrossEntropyGrad":
		loss, err := im.CrossEntropyGrad(out, logits, labels, c.cols)
		if err != nil {
			panic(err)
		}
		return loss
	case "GerBatch":
		x, y := logits[:c.k*c.rows], logits[c.k*c.rows:]
		clear(out)
		im.GerBatch(out, c.cols, 1, x, c.rows, y, c.cols)
		return 0
	}
	panic("kernels: no call trace for " + c.kernel)
}

// callTraceMark marks the traced call's start and end in the instructions
// executed.
//
//go:noinline
func callTraceMark() {}

func TestMain(m *testing.M) {
	if name := os.Getenv(callTraceEnv); name != "" {
		os.Exit(runCallTrace(name))
	}
	os.Exit(m.Run())
}

// runCallTrace makes the call named, once to warm up and once between the
// marks, with the default implementation on one thread; "list" prints the
// calls' names.
func runCallTrace(name string) int {
	if name == "list" {
		for _, c := range callTraces {
			fmt.Println(c)
		}
		return 0
	}
	for _, c := range callTraces {
		if c.String() != name {
			continue
		}
		im := Default().WithThreads(1)
		out, logits, labels := c.inputs()
		c.run(im, out, logits, labels)
		callTraceMark()
		c.run(im, out, logits, labels)
		callTraceMark()
		fmt.Printf("%s: %s, %s\n", callTraceEnv, name, im.Name())
		return 0
	}
	fmt.Fprintf(os.Stderr, "%s=%s: no such call; the calls: %v\n", callTraceEnv, name, callTraces)
	return 2
}

// TestCallTraces makes every traced call with every implementation, with
// and without its short-row kernel, and compares it with generic's: the
// calls bench/mca models are the ones the package makes, and the row path
// that short rows skip gives the same results.
func TestCallTraces(t *testing.T) {
	for _, c := range callTraces {
		out, logits, labels := c.inputs()
		want := make([]float32, len(out))
		wantLoss := c.run(genericImpl, want, logits, labels)
		var scale float64 // GerBatch's sums cancel: their error is relative to the largest
		if c.k > 0 {
			for _, w := range want {
				scale = max(scale, math.Abs(float64(w)))
			}
		}
		for _, im := range Available() {
			for _, rowPath := range []bool{false, true} {
				c.rowPath = rowPath
				clear(out)
				loss := c.run(im.WithThreads(1), out, logits, labels)
				if math.Abs(loss-wantLoss) > 1e-6*math.Abs(wantLoss) {
					t.Errorf("%v %s: loss %v, generic's %v", c, im, loss, wantLoss)
				}
				for i := range out {
					if d := math.Abs(float64(out[i] - want[i])); d > 1e-6+1e-5*(math.Abs(float64(want[i]))+scale) {
						t.Errorf("%v %s: [%d] = %g, generic's %g", c, im, i, out[i], want[i])
						break
					}
				}
			}
		}
	}
}

// BenchmarkCallTraces measures the traced calls, with and without the
// short-row kernel (ns/elem: per multiply-add for GerBatch), so that bench/mca -calibrate can set the whole-call
// models beside the hardware they can be checked on.
func BenchmarkCallTraces(b *testing.B) {
	for _, c := range callTraces {
		if c.rowPath {
			continue
		}
		out, logits, labels := c.inputs()
		for _, rowPath := range []bool{false, true} {
			if rowPath && c.k > 0 {
				continue
			}
			c.rowPath = rowPath
			kernel, shape, path := c.keys()
			for _, im := range Available() {
				im := im.WithThreads(1)
				b.Run(fmt.Sprintf("kernel=%s/shape=%s/path=%s/impl=%s", kernel, shape, path, im.Name()), func(b *testing.B) {
					for b.Loop() {
						c.run(im, out, logits, labels)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.elems()), "ns/elem")
				})
			}
		}
	}
}
