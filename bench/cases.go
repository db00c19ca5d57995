// Package bench defines the kernels' benchmark cases as data, so that
// `go test -bench` (bench_test.go) and the softgrad CLI run the very same
// cases through the same timing loop, [Run].
//
// A case is one kernel × one implementation × one shape. The implementations
// are those of [kernels.Available] plus peers that are not implementations of
// the package but give the numbers a scale:
//
//   - "mathexp": the softmax (or log-softmax) loop a Go user writes today,
//     with float32(math.Exp(float64(x−max))) and a float32 sum;
//   - "copy": copy() over buffers the size of a softmax's input and output,
//     the memory-bandwidth ceiling a softmax cannot beat;
//   - "gonum": gonum's pure-Go BLAS (gonum.org/v1/gonum/blas/blas32): Sger
//     for the Ger shapes, Sgemm (A += alpha·Xᵀ·Y, transposed-normal) for
//     the GerBatch shapes and Sgemm with Gemm's transposes and beta for the
//     Gemm shapes. Sgemm splits large products across GOMAXPROCS
//     goroutines, where every kernel of this package runs on one: its cases
//     report the GOMAXPROCS they ran with ("procs");
//   - "gonum-1": the same Sgemm on the Gemm shapes with GOMAXPROCS set to 1
//     around the loop, gonum on one core.
//
// The kernel "peak" is not one of the package's: it is the multiply-add
// throughput of one core at each vector width (internal/peak), with the
// width's implementation name ("avx512", "avx2") as impl, so that every
// GFLOP/s can be read as a fraction of the peak measured in the same run.
//
// [Cases] are the shapes of the project's speed tables (go test -bench);
// [Sweep] is the grid of row lengths and batch sizes `softgrad bench` draws.
// [Measure] times one case outside a test binary, through the same [Run].
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/softgrad/softgrad/internal/peak"
	"github.com/softgrad/softgrad/kernels"
)

// Peer implementation names.
const (
	PeerMathExp = "mathexp"
	PeerCopy    = "copy"
	PeerGonum   = "gonum"
	PeerGonum1  = "gonum-1" // gonum's Sgemm at GOMAXPROCS 1
)

// KernelPeak is the kernel name of the multiply-add peak's cases.
const KernelPeak = "peak"

// Case is one benchmark: a kernel run by one implementation on one shape.
type Case struct {
	Kernel string // "Softmax", "Ger", ..., "peak"
	Impl   string // an implementation of kernels.Available, or a peer ("mathexp", "copy", ...)
	// Shape is "64x1000" (rows×cols), "1024x1024" (Ger's m×n),
	// "784x10xk128" (GerBatch's m×n, k samples), "256x1000xk1024NT"
	// (Gemm's m×n, k summed, then op(A) and op(B): N for the matrix, T
	// for its transpose) or "12x4096" (peak's chains × steps).
	Shape string

	// Rows, Cols and K are the shape in numbers: rows×cols for the row
	// kernels, m×n for Ger, GerBatch and Gemm, GerBatch's k samples and
	// Gemm's k (0 for every other kernel), peak's chains × steps.
	Rows, Cols, K int

	// Elems is the number of elements one op processes, the divisor of
	// ns/elem: rows·cols for the row kernels, m·n for Ger and k·m·n (one per
	// multiply-add) for GerBatch and Gemm, the lanes of every FMA for peak.
	Elems int64
	// Bytes is the memory one op must move at the least, the numerator of
	// GB/s: every input read once and every output written once (a, which
	// Ger and GerBatch update, is both read and written). 0 for peak, which
	// touches no memory.
	Bytes int64
	// Flops is the floating-point operations of one op for Ger, GerBatch,
	// Gemm and peak (2 per multiply-add), 0 for the other kernels.
	Flops int64

	// Parallel marks a case whose op splits across GOMAXPROCS goroutines
	// (gonum's Sgemm): Run reports the GOMAXPROCS its loop ran with as
	// "procs". Procs, when positive, is the GOMAXPROCS Run sets around the
	// case's setup and loop; 0 leaves the process's.
	Parallel bool
	Procs    int

	// Threads is the most goroutines the package's kernels split a call
	// into (kernels.Impl.WithThreads); 1 for a peer. A case of more than
	// one has "/threads=N" at the end of its name.
	Threads int

	// Large marks a case whose data does not fit in any cache and needs
	// hundreds of MB; callers run it only when asked to.
	Large bool

	// FirstAlloc asks Run to report the memory the first op allocates, in
	// MB ("alloc-MB"), after two garbage collections have emptied the
	// packages' pools: the scratch a call needs beyond its arguments.
	FirstAlloc bool

	// XCopy asks Run to time copy() between two other buffers of Elems
	// float32 (an input's and an output's worth of memory) after each op,
	// and to report the op's time over copy()'s as "x-copy": a ratio
	// measured in the same loop, so it holds when the machine's speed
	// drifts. Set for the large row-kernel cases, whose bound is memory.
	XCopy bool

	// MathExp, set on generic's in-cache cases of the kernels the math.Exp
	// loop also does (Softmax, LogSoftmax), sets up that loop on the same
	// shape.
	// Run then runs it after each op, timed apart, and reports its time over
	// the op's as "mathexp/op": how many times faster than the loop a Go user
	// writes today generic is, measured in one loop, so that the ratio holds
	// when the machine's speed drifts between two benchmarks.
	MathExp func() (op func())

	// Setup allocates the case's data, filled with deterministic random
	// values, and returns a function that runs one op on it. Call it once per
	// measurement; the op may be called any number of times.
	Setup func() (op func())
}

// Name returns the case's benchmark name, "kernel=Softmax/impl=generic/shape=64x1000":
// key=value pairs, so that benchstat can pivot on any of them (-col /impl).
func (c Case) Name() string {
	name := "kernel=" + c.Kernel + "/impl=" + c.Impl + "/shape=" + c.Shape
	if c.Threads > 1 {
		name += fmt.Sprintf("/threads=%d", c.Threads)
	}
	return name
}

// implsAt returns the implementations of kernels.Available, each splitting
// a call into at most threads goroutines.
func implsAt(threads int) []*kernels.Impl {
	var out []*kernels.Impl
	for _, im := range kernels.Available() {
		out = append(out, im.WithThreads(threads))
	}
	return out
}

// Run measures c with b: it calls c.Setup, runs the op once untimed, then
// runs it in a b.Loop and reports ns/elem, GB/s, for the cases with Flops
// GFLOP/s, for a case with XCopy x-copy, for one with MathExp mathexp/op,
// for a Parallel one procs and for a FirstAlloc one alloc-MB. It is meant to be the whole body of a benchmark,
// in a test (b.Run) or from testing.Benchmark.
func Run(b *testing.B, c Case) {
	if c.Procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.Procs))
	}
	op := c.Setup()
	var cdst, csrc []float32
	var copyTime time.Duration
	if c.XCopy {
		cdst, csrc = make([]float32, c.Elems), make([]float32, c.Elems)
		copy(cdst, csrc) // fault in the pages
	}
	var mathExp func()
	var mathExpTime time.Duration
	if c.MathExp != nil {
		mathExp = c.MathExp()
		mathExp()
	}
	var firstAlloc uint64
	if c.FirstAlloc {
		runtime.GC()
		runtime.GC() // a sync.Pool drops its buffers over two collections
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		op()
		runtime.ReadMemStats(&after)
		firstAlloc = after.TotalAlloc - before.TotalAlloc
	}
	op() // warm up, untimed: fault in the output's pages, load the caches
	for b.Loop() {
		op()
		if c.XCopy {
			b.StopTimer()
			t := time.Now()
			copy(cdst, csrc)
			copyTime += time.Since(t)
			b.StartTimer()
		}
		if mathExp != nil {
			b.StopTimer()
			t := time.Now()
			mathExp()
			mathExpTime += time.Since(t)
			b.StartTimer()
		}
	}
	if b.N == 0 {
		return
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) // per op
	if ns <= 0 {
		return
	}
	if copyTime > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(copyTime), "x-copy")
	}
	if mathExpTime > 0 {
		b.ReportMetric(float64(mathExpTime)/float64(b.Elapsed()), "mathexp/op")
	}
	if c.Elems > 0 {
		b.ReportMetric(ns/float64(c.Elems), "ns/elem")
	}
	if c.Bytes > 0 {
		b.ReportMetric(float64(c.Bytes)/ns, "GB/s") // bytes per ns = GB/s
	}
	if c.Flops > 0 {
		b.ReportMetric(float64(c.Flops)/ns, "GFLOP/s")
	}
	if c.Parallel {
		b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
	}
	if c.FirstAlloc {
		b.ReportMetric(float64(firstAlloc)/1e6, "alloc-MB")
	}
}

// rowShape is a rows×cols batch.
type rowShape struct {
	rows, cols int
	large      bool
}

func (s rowShape) String() string { return fmt.Sprintf("%dx%d", s.rows, s.cols) }
func (s rowShape) elems() int64   { return int64(s.rows) * int64(s.cols) }

// gerShape is an m×n update with k samples (k == 0 for Ger).
type gerShape struct{ m, n, k int }

func (s gerShape) String() string {
	if s.k == 0 {
		return fmt.Sprintf("%dx%d", s.m, s.n)
	}
	return fmt.Sprintf("%dx%dxk%d", s.m, s.n, s.k)
}

// gemmShape is a product C = op(A)·op(B) of m×n from k terms, op the
// transpose when transA (transB) is set, as in kernels.Gemm.
type gemmShape struct {
	m, n, k        int
	transA, transB bool
}

// String returns "MxNxkK" and the ops, "256x1000xk1024NT": GerBatch's
// naming, with N for a matrix taken as it is and T for a transposed one.
func (s gemmShape) String() string {
	op := func(t bool) string {
		if t {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%dx%dxk%d%s%s", s.m, s.n, s.k, op(s.transA), op(s.transB))
}

// peakSteps is the number of steps of one op of the peak's loop: 4096 steps
// of Chains FMAs take a few µs, beside which the call costs nothing.
const peakSteps = 4096

// The shapes of the project's speed tables. Softmax 64×1048576 (256 MB per
// buffer) is the out-of-cache case. The GerBatch shapes are those of the
// GerBatch speed work: MNIST's 784 features × 10 classes and square 1024
// layers at mini-batches of 16 to 128 samples, and a 4096×1000 classifier
// head (ImageNet's 1000 classes) at 64. The Gemm shapes are the products
// of a classifier's linear layer, C = X·Wᵀ with W classes×features
// (nn.Linear's layout): the forward pass of a 10-class head on MNIST's 784
// features, of a 1000-class head on 1024 features and of an LLM's 32000-token
// vocabulary on 1024 (X 32×1024, W 131 MB: out of every cache); the
// gradient with respect to the input, dX = G·W, of the 1000-class head; and
// a square product for reference.
var (
	softmaxShapes    = []rowShape{{64, 1000, false}, {256, 10, false}, {32, 32000, false}, {64, 1 << 20, true}}
	logSoftmaxShapes = []rowShape{{64, 1000, false}}
	backwardShapes   = []rowShape{{64, 1000, false}}
	ceShapes         = []rowShape{{64, 1000, false}, {256, 10, false}}
	ceSoftShapes     = []rowShape{{64, 1000, false}}
	gerShapes        = []gerShape{{1024, 1024, 0}, {784, 10, 0}}
	gerBatchShapes   = []gerShape{
		{784, 10, 32}, {784, 10, 128},
		{1024, 1024, 16}, {1024, 1024, 32}, {1024, 1024, 128},
		{4096, 1000, 64},
	}
	gemmShapes = []gemmShape{
		{64, 10, 784, false, true},
		{256, 1000, 1024, false, true},
		{256, 1024, 1000, false, false},
		{32, 32000, 1024, false, true},
		{1024, 1024, 1024, false, false},
	}
)

// rowKernel describes one row kernel: its name, the bytes it moves (perElem
// per element, perRow per row), how to set it up for an implementation,
// and its peers.
type rowKernel struct {
	name            string
	perElem, perRow int64
	setup           func(*kernels.Impl, rowShape) func()
	peers           []string
}

// rowKernels lists the row kernels in the order of the package's API. Each
// float32 input read and output written is 4 bytes per element; the int32
// labels of CrossEntropyGrad are 4 bytes per row.
var rowKernels = []rowKernel{
	{"Softmax", 8, 0, setupSoftmax, []string{PeerMathExp, PeerCopy}},
	{"LogSoftmax", 8, 0, setupLogSoftmax, []string{PeerMathExp}},
	{"SoftmaxBackward", 12, 0, setupSoftmaxBackward, nil},
	{"LogSoftmaxBackward", 12, 0, setupLogSoftmaxBackward, nil},
	{"CrossEntropyGrad", 8, 4, setupCrossEntropyGrad, nil},
	{"CrossEntropyGradWith", 8, 8, setupCrossEntropyGradWith, nil},
	{"CrossEntropyGradSoft", 12, 0, setupCrossEntropyGradSoft, nil},
}

// Kernels returns the names of the kernels the sweep covers, in the order
// Cases and Sweep list them. Cases has Gemm and peak besides.
func Kernels() []string {
	var names []string
	for _, k := range rowKernels {
		names = append(names, k.name)
	}
	return append(names, "Ger", "GerBatch", "Step")
}

// Cases returns every case: the multiply-add peak of each vector width this
// CPU runs, then each kernel for each implementation of kernels.Available and
// the peers, grouped by kernel and shape. Cases marked Large are included;
// callers filter them. Listing cases allocates no case data.
func Cases() []Case {
	rowShapes := map[string][]rowShape{
		"Softmax":              softmaxShapes,
		"LogSoftmax":           logSoftmaxShapes,
		"SoftmaxBackward":      backwardShapes,
		"LogSoftmaxBackward":   backwardShapes,
		"CrossEntropyGrad":     ceShapes,
		"CrossEntropyGradWith": ceShapes,
		"CrossEntropyGradSoft": ceSoftShapes,
	}
	cs := peakCases()
	cs = append(cs, build(rowShapes, gerShapes, gerBatchShapes, 1)...)
	cs = append(cs, gemmCases(gemmShapes, 1)...)
	cs = append(cs, stepCases(stepShapes, 1)...)
	if p := runtime.GOMAXPROCS(0); p > 1 {
		cs = append(cs, ThreadCases(p)...)
	}
	return cs
}

// ThreadCases returns the cases of the shapes that show how calls split
// across goroutines, for the fastest implementation at threads goroutines:
// large row kernels (and those at one thread, which Cases lacks otherwise),
// small ones (which should not split), Gemm and the fused step.
func ThreadCases(threads int) []Case {
	fastest := kernels.Available()[0].Name()
	cs := peakCasesAt(threads)
	keep := func(all []Case) {
		for _, c := range all {
			if c.Impl == fastest {
				cs = append(cs, c)
			}
		}
	}
	// The large shapes on one thread, the same n at once on their own
	// data (the ceiling of a split into n), and split into n.
	var large []Case
	for _, c := range build(map[string][]rowShape{"Softmax": threadShapes, "CrossEntropyGrad": threadShapes}, nil, nil, 1) {
		if c.Impl == fastest {
			large = append(large, c)
		}
	}
	for _, c := range large {
		cs = append(cs, c, independent(c, threads))
	}
	keep(build(map[string][]rowShape{
		"Softmax":          append([]rowShape{{64, 1000, false}, {256, 10, false}}, threadShapes...),
		"CrossEntropyGrad": threadShapes,
	}, nil, nil, threads))
	// Mid-size calls, which split onto helpers kept polling by a run of
	// calls, on one thread and split.
	for _, t := range []int{1, threads} {
		keep(build(map[string][]rowShape{"Softmax": midRowShapes}, nil, nil, t))
		keep(gemmCases(midGemmShapes, t))
	}
	gemms := []gemmShape{{256, 1000, 1024, false, true}, {1024, 1024, 1024, false, false}}
	steps := []stepShape{{k: 256, features: 1024, classes: 1000}}
	for _, c := range append(gemmCases(gemms, 1), stepCases(steps, 1)...) {
		if c.Impl == fastest {
			cs = append(cs, independent(c, threads))
		}
	}
	keep(gemmCases(gemms, threads))
	keep(stepCases(steps, threads))
	return cs
}

// independent returns c (a one-thread case) run n times at once, each op
// on its own copy of the data on its own goroutine: what n cores give for
// c's work where nothing is shared but the machine (caches, memory, the
// host's other tenants), the ceiling of c split into n. Its impl is c's
// with "-independent".
func independent(c Case, n int) Case {
	setup := c.Setup
	c.Impl += "-independent"
	c.Threads = n
	c.Elems *= int64(n)
	c.Bytes *= int64(n)
	c.Flops *= int64(n)
	c.FirstAlloc, c.XCopy, c.MathExp = false, false, nil
	c.Setup = func() func() {
		ops := make([]func(), n)
		for i := range ops {
			ops[i] = setup()
		}
		return func() {
			var wg sync.WaitGroup
			wg.Add(n - 1)
			for _, op := range ops[1:] {
				go func() {
					defer wg.Done()
					op()
				}()
			}
			ops[0]()
			wg.Wait()
		}
	}
	return c
}

// threadShapes are the row kernels' shapes large enough to split.
var threadShapes = []rowShape{{256, 32000, false}}

// midRowShapes and midGemmShapes are calls too short to wait for a
// sleeping helper, long enough to split onto a polling one.
var (
	midRowShapes  = []rowShape{{256, 1000, false}}
	midGemmShapes = []gemmShape{{256, 256, 256, false, false}}
)

// peakCases returns a case of internal/peak's loop per vector width, on
// one goroutine.
func peakCases() []Case { return peakCasesAt(1) }

// peakCasesAt returns a case of internal/peak's loop per vector width run
// by threads goroutines at once: the ceiling of the kernels' cases at that
// many threads.
func peakCasesAt(threads int) []Case {
	var cs []Case
	// On more than one goroutine, ops long enough (about 0.5 ms) that
	// starting the goroutines costs nothing.
	steps := peakSteps
	if threads > 1 {
		steps *= 64
	}
	for _, isa := range peak.ISAs() {
		t := int64(threads)
		cs = append(cs, Case{
			Kernel: KernelPeak, Impl: isa, Shape: fmt.Sprintf("%dx%d", peak.Chains, steps),
			Rows: peak.Chains, Cols: steps,
			Elems:   t * int64(peak.Chains) * int64(steps) * int64(peak.Lanes(isa)),
			Flops:   t * peak.Flops(isa, steps),
			Threads: threads,
			// Setup runs the loop for about a millisecond first: a core
			// can take tens of µs to power up its wide units, longer than
			// Run's one warm-up op.
			Setup: func() func() {
				onEach(threads, func() { peak.FMA(isa, 200*steps) })
				return func() { onEach(threads, func() { peak.FMA(isa, steps) }) }
			},
		})
	}
	return cs
}

// onEach runs f on threads goroutines at once (on the caller's alone for
// one) and returns when all are done.
func onEach(threads int, f func()) {
	if threads == 1 {
		f()
		return
	}
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	wg.Wait()
}

// gemmCases returns the Gemm cases of the shapes: per shape, one per
// implementation of kernels.Available, then gonum at the process's
// GOMAXPROCS and at 1.
func gemmCases(shapes []gemmShape, threads int) []Case {
	var cs []Case
	for _, s := range shapes {
		m, n, k := int64(s.m), int64(s.n), int64(s.k)
		gc := func(impl string, setup func() func()) Case {
			return Case{
				Kernel: "Gemm", Impl: impl, Shape: s.String(), Rows: s.m, Cols: s.n, K: s.k,
				Elems:   m * n * k,
				Bytes:   4 * (m*k + k*n + m*n), // A and B read, C written (beta 0)
				Flops:   2 * m * n * k,
				Threads: 1,
				Setup:   setup,
			}
		}
		for _, im := range implsAt(threads) {
			c := gc(im.Name(), func() func() { return setupGemm(im, s) })
			c.Threads = threads
			cs = append(cs, c)
		}
		g := gc(PeerGonum, func() func() { return gonumGemmSetup(s) })
		g.Parallel = true
		g1 := g
		g1.Impl, g1.Procs = PeerGonum1, 1
		cs = append(cs, g, g1)
	}
	return cs
}

// The axes of Sweep.
var (
	// SweepLens are the row lengths, half a decade apart from 10 to 10⁶.
	SweepLens = []int{10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000}
	// SweepBatches are the batch sizes: one row alone, a mini-batch, a
	// large batch.
	SweepBatches = []int{1, 32, 256}
)

// Limits of Sweep, which keep every case's data within a few times 16 MB
// and every GerBatch op within about 0.1 s on the generic implementation.
const (
	sweepMaxElems     = 1 << 22 // elements of any one buffer
	sweepMaxGerBatch  = 1 << 26 // k·m·n of a GerBatch op
	sweepGerBatchRows = 64      // GerBatch's m: the features of a small layer
)

// Sweep returns the cases of `softgrad bench`: for every kernel, each
// implementation of kernels.Available and each peer, on every row length L
// of lens and batch size B of batches whose data stays within 4M elements
// (16 MB) per buffer. A row kernel runs on B rows of L elements (shape
// "BxL"); Ger updates a B×L matrix ("BxL"); GerBatch adds the products of
// B samples into a 64×L matrix ("64xLxkB"), within 2²⁶ multiply-adds; Step
// is the output layer's step from B samples of 64 features to L classes
// ("Bx64xL", the same work per product), fused and with gonum's Sgemm.
// Cols is L in every case, the x axis of the sweep's chart.
func Sweep(lens, batches []int, threads int) []Case {
	rowShapes := map[string][]rowShape{}
	var ger, gerBatch []gerShape
	var steps []stepShape
	for _, l := range lens {
		for _, b := range batches {
			if l <= 0 || b <= 0 {
				continue
			}
			if b*l <= sweepMaxElems {
				for _, k := range rowKernels {
					rowShapes[k.name] = append(rowShapes[k.name], rowShape{rows: b, cols: l})
				}
				ger = append(ger, gerShape{m: b, n: l})
			}
			m := sweepGerBatchRows
			if max(b, m)*l <= sweepMaxElems && b*m*l <= sweepMaxGerBatch {
				gerBatch = append(gerBatch, gerShape{m: m, n: l, k: b})
				steps = append(steps, stepShape{k: b, features: m, classes: l})
			}
		}
	}
	cs := build(rowShapes, ger, gerBatch, threads)
	for _, c := range stepCases(steps, threads) {
		if c.Impl != PeerUnfused && c.Impl != PeerProducts && c.Impl != PeerGonum1 {
			cs = append(cs, c)
		}
	}
	return cs
}

// build returns the cases of the given shapes: per kernel (in the order of
// Kernels) and shape, one case per implementation of kernels.Available and
// one per peer of the kernel.
func build(rowShapes map[string][]rowShape, ger, gerBatch []gerShape, threads int) []Case {
	impls := implsAt(threads)
	var cs []Case
	for _, k := range rowKernels {
		for _, s := range rowShapes[k.name] {
			rc := func(impl string, setup func() func()) Case {
				return Case{Kernel: k.name, Impl: impl, Shape: s.String(), Rows: s.rows, Cols: s.cols,
					Elems: s.elems(), Bytes: k.perElem*s.elems() + k.perRow*int64(s.rows),
					Large: s.large, Threads: 1, Setup: setup}
			}
			for _, im := range impls {
				c := rc(im.Name(), func() func() { return k.setup(im, s) })
				c.Threads = threads
				c.XCopy = s.large
				if im.Name() == "generic" && !s.large && slices.Contains(k.peers, PeerMathExp) {
					c.MathExp = func() func() { return peerSetup(k.name, PeerMathExp, s) }
				}
				cs = append(cs, c)
			}
			for _, p := range k.peers {
				cs = append(cs, rc(p, func() func() { return peerSetup(k.name, p, s) }))
			}
		}
	}
	for _, kind := range []struct {
		kernel string
		shapes []gerShape
	}{{"Ger", ger}, {"GerBatch", gerBatch}} {
		for _, s := range kind.shapes {
			m, n, k := int64(s.m), int64(s.n), max(int64(s.k), 1)
			gc := func(impl string, setup func() func()) Case {
				return Case{
					Kernel: kind.kernel, Impl: impl, Shape: s.String(), Rows: s.m, Cols: s.n, K: s.k,
					Elems: k * m * n,
					Bytes: 8*m*n + 4*k*(m+n), // a read and written, x and y read
					Flops: 2 * k * m * n,
					Setup: setup,
				}
			}
			for _, im := range impls {
				c := gc(im.Name(), func() func() { return setupGer(im, s) })
				c.Threads = threads
				cs = append(cs, c)
			}
			g := gc(PeerGonum, func() func() { return gonumSetup(s) })
			g.Parallel = s.k > 0 // Sgemm; Sger runs on one goroutine
			cs = append(cs, g)
		}
	}
	return cs
}

// Data. Every case seeds its own generator, so its data does not depend on
// which other cases ran before it.

func newRand() *rand.Rand { return rand.New(rand.NewPCG(0x50f7, 0x6ad)) }

// logits returns n values uniform in [-8, 8), a typical logit spread.
func logits(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 16*r.Float32() - 8
	}
	return x
}

// uniform returns n values uniform in [-1, 1).
func uniform(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*r.Float32() - 1
	}
	return x
}

// sink keeps the losses the ops return observable.
var sink float64

func setupSoftmax(im *kernels.Impl, s rowShape) func() {
	src := logits(newRand(), int(s.elems()))
	dst := make([]float32, len(src))
	return func() { im.Softmax(dst, src, s.cols) }
}

func setupLogSoftmax(im *kernels.Impl, s rowShape) func() {
	src := logits(newRand(), int(s.elems()))
	dst := make([]float32, len(src))
	return func() { im.LogSoftmax(dst, src, s.cols) }
}

func setupSoftmaxBackward(im *kernels.Impl, s rowShape) func() {
	r := newRand()
	sm := logits(r, int(s.elems()))
	kernels.Softmax(sm, sm, s.cols)
	dy := uniform(r, len(sm))
	dx := make([]float32, len(sm))
	return func() { im.SoftmaxBackward(dx, sm, dy, s.cols) }
}

func setupLogSoftmaxBackward(im *kernels.Impl, s rowShape) func() {
	r := newRand()
	logp := logits(r, int(s.elems()))
	kernels.LogSoftmax(logp, logp, s.cols)
	dy := uniform(r, len(logp))
	dx := make([]float32, len(logp))
	return func() { im.LogSoftmaxBackward(dx, logp, dy, s.cols) }
}

func setupCrossEntropyGrad(im *kernels.Impl, s rowShape) func() {
	r := newRand()
	x := logits(r, int(s.elems()))
	labels := make([]int32, s.rows)
	for i := range labels {
		labels[i] = int32(r.IntN(s.cols))
	}
	grad := make([]float32, len(x))
	return func() {
		loss, err := im.CrossEntropyGrad(grad, x, labels, s.cols)
		if err != nil {
			panic(err)
		}
		sink = loss
	}
}

// setupCrossEntropyGradWith sets up CrossEntropyGradWith with every option:
// class weights, label smoothing, the z-loss and the row losses.
func setupCrossEntropyGradWith(im *kernels.Impl, s rowShape) func() {
	r := newRand()
	x := logits(r, int(s.elems()))
	labels := make([]int32, s.rows)
	for i := range labels {
		labels[i] = int32(r.IntN(s.cols))
	}
	w := uniform(r, s.cols)
	for i := range w {
		w[i] = 1 + w[i]/2
	}
	opts := kernels.CrossEntropyOptions{Weights: w, LabelSmoothing: 0.1, ZLoss: 1e-4, Losses: make([]float32, s.rows)}
	grad := make([]float32, len(x))
	return func() {
		loss, err := im.CrossEntropyGradWith(grad, x, labels, s.cols, opts)
		if err != nil {
			panic(err)
		}
		sink = loss
	}
}

func setupCrossEntropyGradSoft(im *kernels.Impl, s rowShape) func() {
	r := newRand()
	x := logits(r, int(s.elems()))
	t := logits(r, len(x))
	kernels.Softmax(t, t, s.cols) // one target distribution per row
	grad := make([]float32, len(x))
	return func() { sink = im.CrossEntropyGradSoft(grad, x, t, s.cols) }
}

// setupGer sets up Ger (s.k == 0) or GerBatch. alpha is small so that a,
// which the op accumulates into, grows by at most 1e-3 per op and stays far
// from overflow (and from subnormals) however many ops run.
func setupGer(im *kernels.Impl, s gerShape) func() {
	r := newRand()
	a := uniform(r, s.m*s.n)
	const alpha = 1e-3
	if s.k == 0 {
		x, y := uniform(r, s.m), uniform(r, s.n)
		return func() { im.Ger(a, s.n, alpha, x, y) }
	}
	x, y := uniform(r, s.k*s.m), uniform(r, s.k*s.n)
	return func() { im.GerBatch(a, s.n, alpha, x, s.m, y, s.n) }
}

// gemmOperands are the matrices of a Gemm case, row-major: A is m×k (k×m
// when transA) with stride lda, B k×n (n×k when transB) with stride ldb,
// both uniform in [-1, 1), and C m×n with stride n.
type gemmOperands struct {
	a, b, c  []float32
	lda, ldb int
}

func newGemmOperands(s gemmShape) gemmOperands {
	r := newRand()
	o := gemmOperands{lda: s.k, ldb: s.n}
	if s.transA {
		o.lda = s.m
	}
	if s.transB {
		o.ldb = s.k
	}
	o.a, o.b = uniform(r, s.m*s.k), uniform(r, s.k*s.n)
	o.c = make([]float32, s.m*s.n)
	return o
}

// setupGemm sets up C = op(A)·op(B): alpha 1 and beta 0, C overwritten as a
// layer's logits or input gradient are, so that C never grows however many
// ops run.
func setupGemm(im *kernels.Impl, s gemmShape) func() {
	o := newGemmOperands(s)
	return func() { im.Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, s.n) }
}

// Peers.

func peerSetup(kernel, peer string, s rowShape) func() {
	src := logits(newRand(), int(s.elems()))
	dst := make([]float32, len(src))
	switch {
	case peer == PeerCopy:
		return func() { copy(dst, src) }
	case peer == PeerMathExp && kernel == "Softmax":
		return func() { mathExpSoftmax(dst, src, s.cols) }
	case peer == PeerMathExp && kernel == "LogSoftmax":
		return func() { mathExpLogSoftmax(dst, src, s.cols) }
	}
	panic("bench: no peer " + peer + " for " + kernel)
}

// gonumSetup sets up gonum's Sger (s.k == 0) or Sgemm on the data of
// setupGer.
func gonumSetup(s gerShape) func() {
	r := newRand()
	a := uniform(r, s.m*s.n)
	const alpha = 1e-3
	var x, y []float32
	if s.k == 0 {
		x, y = uniform(r, s.m), uniform(r, s.n)
	} else {
		x, y = uniform(r, s.k*s.m), uniform(r, s.k*s.n)
	}
	return func() { gonumUpdate(a, s, alpha, x, y) }
}

// gonumGemmSetup sets up gonum's Sgemm on the data of setupGemm.
func gonumGemmSetup(s gemmShape) func() {
	o := newGemmOperands(s)
	return func() { gonumGemm(s, 1, o, 0) }
}

// gonumGemm computes C = alpha·op(A)·op(B) + beta·C with gonum's Sgemm.
func gonumGemm(s gemmShape, alpha float32, o gemmOperands, beta float32) {
	trans := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	ra, ca, rb, cb := s.m, s.k, s.k, s.n
	if s.transA {
		ra, ca = ca, ra
	}
	if s.transB {
		rb, cb = cb, rb
	}
	blas32.Gemm(trans(s.transA), trans(s.transB), alpha,
		blas32.General{Rows: ra, Cols: ca, Stride: o.lda, Data: o.a},
		blas32.General{Rows: rb, Cols: cb, Stride: o.ldb, Data: o.b},
		beta, blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: o.c})
}

// gonumUpdate performs Ger's update a += alpha·x·yᵀ with gonum's Sger
// (s.k == 0), or GerBatch's a += alpha·Xᵀ·Y with its Sgemm, X k×m and Y k×n
// row-major; a is m×n with stride n.
func gonumUpdate(a []float32, s gerShape, alpha float32, x, y []float32) {
	ga := blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: a}
	if s.k == 0 {
		blas32.Ger(alpha, blas32.Vector{N: s.m, Inc: 1, Data: x}, blas32.Vector{N: s.n, Inc: 1, Data: y}, ga)
		return
	}
	gx := blas32.General{Rows: s.k, Cols: s.m, Stride: s.m, Data: x}
	gy := blas32.General{Rows: s.k, Cols: s.n, Stride: s.n, Data: y}
	blas32.Gemm(blas.Trans, blas.NoTrans, alpha, gx, gy, 1, ga)
}

// mathExpSoftmax is the softmax a Go user writes today: the row max, then
// math.Exp in float64 on each x − max with a float32 sum, then a scale.
func mathExpSoftmax(dst, src []float32, cols int) {
	for r := 0; r < len(src); r += cols {
		x, y := src[r:r+cols], dst[r:r+cols]
		m := x[0]
		for _, v := range x {
			if v > m {
				m = v
			}
		}
		var sum float32
		for i, v := range x {
			e := float32(math.Exp(float64(v - m)))
			y[i] = e
			sum += e
		}
		inv := 1 / sum
		for i := range y {
			y[i] *= inv
		}
	}
}

// mathExpLogSoftmax is the matching log-softmax: x − max − log Σ exp(x − max).
func mathExpLogSoftmax(dst, src []float32, cols int) {
	for r := 0; r < len(src); r += cols {
		x, y := src[r:r+cols], dst[r:r+cols]
		m := x[0]
		for _, v := range x {
			if v > m {
				m = v
			}
		}
		var sum float32
		for _, v := range x {
			sum += float32(math.Exp(float64(v - m)))
		}
		logZ := float32(math.Log(float64(sum)))
		for i, v := range x {
			y[i] = v - m - logZ
		}
	}
}
