package bench

import (
	"cmp"
	"flag"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/softgrad/softgrad/internal/peak"
	"github.com/softgrad/softgrad/kernels"
)

var large = flag.Bool("bench.large", false,
	"also run the out-of-cache cases (Softmax 64x1048576: 512 MB, slow)")

// BenchmarkKernels runs every case of Cases as a sub-benchmark named
// kernel=K/impl=I/shape=S, so that
//
//	go test -bench 'Kernels/kernel=Softmax$/' ./bench
//
// selects one kernel and benchstat -col /impl compares implementations.
func BenchmarkKernels(b *testing.B) {
	for _, c := range Cases() {
		if c.Large && !*large {
			continue
		}
		b.Run(c.Name(), func(b *testing.B) { Run(b, c) })
	}
}

// TestCases checks the case list and runs every op once (except the large
// cases' ops, whose data alone is 512 MB).
func TestCases(t *testing.T) {
	cs := Cases()
	seen := map[string]bool{}
	for _, c := range cs {
		name := c.Name()
		if seen[name] {
			t.Errorf("duplicate case %s", name)
		}
		seen[name] = true
		if strings.ContainsAny(c.Kernel+c.Impl+c.Shape, "/= ") {
			t.Errorf("%s: a name part holds '/', '=' or a space", name)
		}
		if c.Elems <= 0 || (c.Bytes > 0) != (c.Kernel != KernelPeak) {
			t.Errorf("%s: Elems %d, Bytes %d, want > 0 (Bytes 0 for peak)", name, c.Elems, c.Bytes)
		}
		hasFlops := strings.HasPrefix(c.Kernel, "Ger") || c.Kernel == "Gemm" || c.Kernel == "Step" || c.Kernel == KernelPeak
		if hasFlops != (c.Flops > 0) || c.Kernel == "Gemm" && c.Flops != 2*c.Elems {
			t.Errorf("%s: Flops %d", name, c.Flops)
		}
		if c.Rows <= 0 || c.Cols <= 0 || (c.Kernel == "GerBatch" || c.Kernel == "Gemm" || c.Kernel == "Step") != (c.K > 0) {
			t.Errorf("%s: Rows %d, Cols %d, K %d", name, c.Rows, c.Cols, c.K)
		}
		isGonum := c.Impl == PeerGonum || c.Impl == PeerGonum1
		if c.Parallel != (isGonum && c.Kernel != "Ger") || (c.Procs == 1) != (c.Impl == PeerGonum1) || c.Procs > 1 {
			t.Errorf("%s: Parallel %v, Procs %d", name, c.Parallel, c.Procs)
		}
		wantMathExp := c.Impl == "generic" && !c.Large && (c.Kernel == "Softmax" || c.Kernel == "LogSoftmax")
		if (c.MathExp != nil) != wantMathExp {
			t.Errorf("%s: MathExp set: %v, want %v", name, c.MathExp != nil, wantMathExp)
		}
		if c.Large || testing.Short() && c.Elems >= 1<<24 { // -short: not the 0.1 s ops (slow under emulation)
			continue
		}
		op := c.Setup()
		op()
		if c.Elems < 1<<24 { // the large GerBatch ops take 0.1 s or more on generic
			op()
		}
	}

	kernelNames := []string{"Softmax", "LogSoftmax", "SoftmaxBackward", "LogSoftmaxBackward",
		"CrossEntropyGrad", "CrossEntropyGradSoft", "Ger", "GerBatch", "Gemm", "Step"}
	want := []string{
		"kernel=Softmax/impl=%s/shape=64x1000",
		"kernel=Softmax/impl=%s/shape=256x10",
		"kernel=Softmax/impl=%s/shape=32x32000",
		"kernel=Softmax/impl=%s/shape=64x1048576",
		"kernel=Ger/impl=%s/shape=784x10",
		"kernel=Ger/impl=%s/shape=1024x1024",
		"kernel=GerBatch/impl=%s/shape=784x10xk32",
		"kernel=GerBatch/impl=%s/shape=784x10xk128",
		"kernel=GerBatch/impl=%s/shape=1024x1024xk16",
		"kernel=GerBatch/impl=%s/shape=1024x1024xk32",
		"kernel=GerBatch/impl=%s/shape=1024x1024xk128",
		"kernel=GerBatch/impl=%s/shape=4096x1000xk64",
		"kernel=Gemm/impl=%s/shape=64x10xk784NT",
		"kernel=Gemm/impl=%s/shape=256x1000xk1024NT",
		"kernel=Gemm/impl=%s/shape=256x1024xk1000NN",
		"kernel=Gemm/impl=%s/shape=32x32000xk1024NT",
		"kernel=Gemm/impl=%s/shape=1024x1024xk1024NN",
		"kernel=Step/impl=%s/shape=64x784x10",
		"kernel=Step/impl=%s/shape=256x1024x1000dx",
		"kernel=Step/impl=%s/shape=32x1024x32000",
	}
	for _, im := range kernels.Available() {
		for _, k := range kernelNames {
			found := false
			for _, c := range cs {
				found = found || c.Kernel == k && c.Impl == im.Name()
			}
			if !found {
				t.Errorf("no case for kernel %s, impl %s", k, im.Name())
			}
		}
		for _, w := range want {
			if n := strings.Replace(w, "%s", im.Name(), 1); !seen[n] {
				t.Errorf("no case %s", n)
			}
		}
	}
	for _, w := range want {
		if n := strings.Replace(w, "%s", PeerGonum, 1); strings.Contains(n, "=Ge") && !seen[n] {
			t.Errorf("no case %s", n)
		}
		if n := strings.Replace(w, "%s", PeerGonum1, 1); seen[n] != (strings.Contains(n, "=Gemm") || strings.Contains(n, "=Step")) {
			t.Errorf("case %s: %v, want it for Gemm and Step only", n, seen[n])
		}
		for _, p := range []string{PeerUnfused, PeerProducts} {
			if n := strings.Replace(w, "%s", p, 1); seen[n] != strings.Contains(n, "=Step") {
				t.Errorf("case %s: %v, want it for Step only", n, seen[n])
			}
		}
	}
	for _, isa := range peak.ISAs() {
		if n := "kernel=peak/impl=" + isa + "/shape=12x4096"; !seen[n] {
			t.Errorf("no case %s", n)
		}
	}
	for _, n := range []string{
		"kernel=Softmax/impl=mathexp/shape=64x1000",
		"kernel=Softmax/impl=copy/shape=64x1048576",
		"kernel=LogSoftmax/impl=mathexp/shape=64x1000",
	} {
		if !seen[n] {
			t.Errorf("no case %s", n)
		}
	}
}

// TestPeers checks that the mathexp peers compute what they claim to, so the
// benchmark compares like with like.
func TestPeers(t *testing.T) {
	const cols = 1000
	src := logits(newRand(), 8*cols)
	want := make([]float32, len(src))
	got := make([]float32, len(src))

	kernels.Softmax(want, src, cols)
	mathExpSoftmax(got, src, cols)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Abs(float64(want[i]))+1e-30 {
			t.Fatalf("mathExpSoftmax: [%d] = %g, kernels.Softmax %g", i, got[i], want[i])
		}
	}

	kernels.LogSoftmax(want, src, cols)
	mathExpLogSoftmax(got, src, cols)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("mathExpLogSoftmax: [%d] = %g, kernels.LogSoftmax %g", i, got[i], want[i])
		}
	}
}

// TestGonumPeers checks that the gonum peers compute the update of Ger and
// GerBatch.
func TestGonumPeers(t *testing.T) {
	for _, s := range []gerShape{{33, 17, 0}, {33, 17, 5}, {70, 90, 40}} {
		r := newRand()
		a := uniform(r, s.m*s.n)
		x, y := uniform(r, max(s.k, 1)*s.m), uniform(r, max(s.k, 1)*s.n)
		want := slices.Clone(a)
		const alpha = 0.5
		if s.k == 0 {
			kernels.Ger(want, s.n, alpha, x, y)
		} else {
			kernels.GerBatch(want, s.n, alpha, x, s.m, y, s.n)
		}
		gonumUpdate(a, s, alpha, x, y)
		for i := range a {
			if d := math.Abs(float64(a[i] - want[i])); d > 1e-5 {
				t.Fatalf("%v: a[%d] = %g, kernels %g", s, i, a[i], want[i])
			}
		}
	}
	// Gemm with every pair of transposes, beta 0 and not.
	for _, s := range []gemmShape{
		{33, 17, 40, false, false}, {33, 17, 40, false, true}, {33, 17, 40, true, false}, {33, 17, 40, true, true},
		{5, 70, 3, false, true},
	} {
		for _, beta := range []float32{0, 0.5} {
			o := newGemmOperands(s)
			o.c = uniform(newRand(), len(o.c))
			want := slices.Clone(o.c)
			const alpha = 0.75
			kernels.Gemm(s.transA, s.transB, s.m, s.n, s.k, alpha, o.a, o.lda, o.b, o.ldb, beta, want, s.n)
			gonumGemm(s, alpha, o, beta)
			for i := range o.c {
				if d := math.Abs(float64(o.c[i] - want[i])); d > 1e-5*float64(s.k) {
					t.Fatalf("%v beta %g: c[%d] = %g, kernels %g", s, beta, i, o.c[i], want[i])
				}
			}
		}
	}
}

// TestSweep checks the sweep's grid: every kernel on the small shapes,
// no buffer over the limit, and one case of each kernel runs.
func TestSweep(t *testing.T) {
	cs := Sweep(SweepLens, SweepBatches, 1)
	seen := map[string]bool{}
	ran := map[string]bool{}
	for _, c := range cs {
		name := c.Name()
		if seen[name] {
			t.Errorf("duplicate case %s", name)
		}
		seen[name] = true
		if c.Large || max(c.Rows, c.K)*c.Cols > sweepMaxElems {
			t.Errorf("%s: too large", name)
		}
		if c.Rows*c.Cols <= 1000 && !ran[c.Kernel+c.Impl] {
			ran[c.Kernel+c.Impl] = true
			c.Setup()()
		}
	}
	for _, k := range Kernels() {
		for _, im := range kernels.Available() {
			if !ran[k+im.Name()] {
				t.Errorf("no small sweep case for %s, impl %s", k, im.Name())
			}
		}
	}
	for _, n := range []string{
		"kernel=Softmax/impl=generic/shape=1x1000000",
		"kernel=Softmax/impl=copy/shape=256x10000",
		"kernel=CrossEntropyGrad/impl=generic/shape=32x100000",
		"kernel=Ger/impl=gonum/shape=32x1000",
		"kernel=GerBatch/impl=generic/shape=64x1000xk256",
	} {
		if !seen[n] {
			t.Errorf("no case %s", n)
		}
	}
}

// TestMeasure times one small case as the CLI does and checks the result.
func TestMeasure(t *testing.T) {
	for _, c := range Cases() {
		if c.Kernel != "CrossEntropyGrad" || c.Shape != "256x10" || c.Impl != "generic" {
			continue
		}
		r, err := Measure(c, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if r.N < 1 || !(r.NsPerOp > 0) || !(r.NsPerElem > 0) || !(r.GBPerS > 0) || r.GFLOPPerS != 0 ||
			r.Kernel != c.Kernel || r.Rows != 256 || r.Cols != 10 {
			t.Errorf("Measure = %+v", r)
		}
		if d := r.NsPerOp / float64(c.Elems); math.Abs(d-r.NsPerElem) > 1e-9*d {
			t.Errorf("ns/elem %g, ns/op / elems %g", r.NsPerElem, d)
		}
		return
	}
	t.Fatal("no case CrossEntropyGrad generic 256x10")
}

// TestRun runs one case through testing.Benchmark, as the CLI does, with a
// fixed iteration count, and checks the metrics it reports.
func TestRun(t *testing.T) {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		t.Skip("no test.benchtime flag")
	}
	old := f.Value.String()
	if err := f.Value.Set("10x"); err != nil {
		t.Fatal(err)
	}
	defer f.Value.Set(old)

	procs := runtime.GOMAXPROCS(0)
	for _, c := range Cases() {
		if !(c.Kernel == "GerBatch" && c.Rows == 784) && !(c.Kernel == "Softmax" && c.Shape == "256x10") &&
			!(c.Kernel == "LogSoftmax" && c.Impl == "generic") && !(c.Kernel == "Gemm" && c.Rows == 64) &&
			c.Kernel != KernelPeak {
			continue
		}
		r := testing.Benchmark(func(b *testing.B) { Run(b, c) })
		if r.N != 10 {
			t.Errorf("%s: N = %d, want 10", c.Name(), r.N)
		}
		for _, m := range []string{"ns/elem", "GB/s", "GFLOP/s", "x-copy", "mathexp/op", "procs"} {
			v, ok := r.Extra[m]
			wantOK := m == "ns/elem" || m == "GB/s" && c.Bytes > 0 || m == "GFLOP/s" && c.Flops > 0 ||
				m == "mathexp/op" && c.MathExp != nil || m == "procs" && c.Parallel
			if ok != wantOK || ok && !(v > 0) {
				t.Errorf("%s: metric %s = %v (reported: %v)", c.Name(), m, v, ok)
			}
		}
		if want := cmp.Or(c.Procs, procs); c.Parallel && r.Extra["procs"] != float64(want) {
			t.Errorf("%s: procs %v, want %d", c.Name(), r.Extra["procs"], want)
		}
		if p := runtime.GOMAXPROCS(0); p != procs {
			t.Fatalf("%s: GOMAXPROCS %d after Run, want %d", c.Name(), p, procs)
		}
	}
	// x-copy, forced on a small case: reported, and a ratio of two times
	// (a few here), not a time in ns.
	for _, c := range Cases() {
		if c.Kernel != "Softmax" || c.Shape != "64x1000" || c.Impl != kernels.Default().Name() {
			continue
		}
		c.XCopy = true
		r := testing.Benchmark(func(b *testing.B) { Run(b, c) })
		if v := r.Extra["x-copy"]; !(v > 0.1 && v < 10000) {
			t.Errorf("%s: x-copy = %v, want a ratio of the op's time to copy()'s", c.Name(), v)
		}
	}
}
