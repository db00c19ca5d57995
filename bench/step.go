package bench

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/softgrad/softgrad/kernels"
)

// The output layer's training step ("Step"): from x (k samples × features),
// w (classes × features) and b, the loss and the gradients dw, db and, for
// the shapes ending in "dx", dx (a layer that is not the first). The
// implementations of kernels.Available run it fused (LinearCrossEntropy);
// the peers run it as separate calls:
//
//   - "unfused": softgrad's calls one after the other (Gemm for the logits,
//     CrossEntropyGrad, Gemm for dw and dx, the bias sums in Go) on the
//     default implementation, holding the k×classes logits whole;
//   - "gonum" and "gonum-1": the same with gonum's Sgemm for the three
//     products (at GOMAXPROCS and at 1), softgrad's CrossEntropyGrad between;
//   - "products": the step's products alone on the default implementation
//     (Gemm for the logits, dw and dx, nothing between), the floor a fused
//     step is measured against.
//
// Shapes are "k x features x classes": a 10-class head on MNIST's 784
// features at a batch of 64, a 1000-class head on 1024 features at 256, an
// LLM's 32000-token vocabulary on 1024 at 32 (w 131 MB), and (Large) at
// 4096, whose logits alone take 524 MB. Each case reports the memory its
// first call allocates (alloc-MB). PyTorch's step (bench/peers) runs the
// same shapes but the last.
type stepShape struct {
	k, features, classes int
	dx                   bool
	large                bool
}

func (s stepShape) String() string {
	d := ""
	if s.dx {
		d = "dx"
	}
	return fmt.Sprintf("%dx%dx%d%s", s.k, s.features, s.classes, d)
}

// The Step peers that run softgrad's calls one by one, and its products
// alone.
const (
	PeerUnfused  = "unfused"
	PeerProducts = "products"
)

var stepShapes = []stepShape{
	{64, 784, 10, false, false}, {64, 784, 10, true, false},
	{256, 1024, 1000, false, false}, {256, 1024, 1000, true, false},
	{32, 1024, 32000, false, false}, {32, 1024, 32000, true, false},
	{4096, 1024, 32000, false, true},
}

// stepCases returns the Step cases: per shape, the fused step of each
// implementation, then the unfused one and gonum's.
func stepCases(shapes []stepShape, threads int) []Case {
	var cs []Case
	for _, s := range shapes {
		k, f, c := int64(s.k), int64(s.features), int64(s.classes)
		products, dxBytes := int64(2), int64(0)
		if s.dx {
			products, dxBytes = 3, 4*k*f
		}
		sc := func(impl string, setup func() func()) Case {
			return Case{
				Kernel: "Step", Impl: impl, Shape: s.String(), Rows: s.k, Cols: s.classes, K: s.features,
				Elems: k * f * c,
				// x, w, b and the labels read; dw, db (and dx) written.
				Bytes:      4*(k*f+2*c*f+2*c+k) + dxBytes,
				Flops:      products * 2 * k * f * c,
				Large:      s.large,
				FirstAlloc: true,
				Threads:    1,
				Setup:      setup,
			}
		}
		for _, im := range implsAt(threads) {
			c := sc(im.Name(), func() func() { return setupStep(s, fusedStep(im)) })
			c.Threads = threads
			cs = append(cs, c)
		}
		cs = append(cs, sc(PeerUnfused, func() func() { return setupStep(s, unfusedStep(kernels.Default().WithThreads(1), softgradProducts)) }))
		cs = append(cs, sc(PeerProducts, func() func() { return setupStep(s, productsStep(softgradProducts)) }))
		g := sc(PeerGonum, func() func() { return setupStep(s, unfusedStep(kernels.Default().WithThreads(1), gonumProducts)) })
		g.Parallel = true
		g1 := g
		g1.Impl, g1.Procs = PeerGonum1, 1
		cs = append(cs, g, g1)
	}
	return cs
}

// stepData is a step's operands and outputs; dx is nil when not wanted.
type stepData struct {
	s                   stepShape
	x, w, b, dw, db, dx []float32
	labels              []int32
	z                   []float32 // the unfused steps' logits
}

type stepFunc func(d *stepData) float64

func setupStep(s stepShape, step stepFunc) func() {
	r := newRand()
	d := &stepData{s: s,
		x: uniform(r, s.k*s.features), w: uniform(r, s.classes*s.features), b: uniform(r, s.classes),
		dw: make([]float32, s.classes*s.features), db: make([]float32, s.classes),
		labels: make([]int32, s.k),
	}
	for i := range d.w {
		d.w[i] *= 0.05
	}
	if s.dx {
		d.dx = make([]float32, s.k*s.features)
	}
	for i := range d.labels {
		d.labels[i] = int32(r.IntN(s.classes))
	}
	return func() { sink += step(d) }
}

func fusedStep(im *kernels.Impl) stepFunc {
	return func(d *stepData) float64 {
		loss, err := im.LinearCrossEntropy(d.dw, d.db, d.dx, d.x, d.w, d.b, d.labels, d.s.features, d.s.classes)
		if err != nil {
			panic(err)
		}
		return loss
	}
}

// products computes C = A·op(B) (transB) or Aᵀ·B (transA), row-major, with
// C's leading dimension n.
type products func(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32)

// oneThread is the default implementation on one goroutine, for the
// unfused steps.
var oneThread = kernels.Default().WithThreads(1)

func softgradProducts(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32) {
	oneThread.Gemm(transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, n)
}

func gonumProducts(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32) {
	op := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	ra, ca, rb, cb := m, k, k, n
	if transA {
		ra, ca = k, m
	}
	if transB {
		rb, cb = n, k
	}
	blas32.Gemm(op(transA), op(transB), 1,
		blas32.General{Rows: ra, Cols: ca, Stride: lda, Data: a},
		blas32.General{Rows: rb, Cols: cb, Stride: ldb, Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

// productsStep runs the step's products alone: Z = x·wᵀ, dw = Zᵀ·x and,
// for dx, Z·w.
func productsStep(gemm products) stepFunc {
	return func(d *stepData) float64 {
		k, f, c := d.s.k, d.s.features, d.s.classes
		if d.z == nil {
			d.z = make([]float32, k*c)
		}
		gemm(false, true, k, c, f, d.x, f, d.w, f, d.z)
		gemm(true, false, c, f, k, d.z, c, d.x, f, d.dw)
		if d.dx != nil {
			gemm(false, false, k, f, c, d.z, c, d.w, f, d.dx)
		}
		return 0
	}
}

// unfusedStep is the step as separate calls: the logits Z = x·wᵀ + b, the
// loss and G over Z in place (CrossEntropyGrad), dw = Gᵀ·x, db = Σ G's
// rows, dx = G·w.
func unfusedStep(im *kernels.Impl, gemm products) stepFunc {
	return func(d *stepData) float64 {
		k, f, c := d.s.k, d.s.features, d.s.classes
		if d.z == nil {
			d.z = make([]float32, k*c)
		}
		gemm(false, true, k, c, f, d.x, f, d.w, f, d.z)
		for r := range k {
			row := d.z[r*c : (r+1)*c]
			for i, v := range d.b {
				row[i] += v
			}
		}
		loss, err := im.CrossEntropyGrad(d.z, d.z, d.labels, c)
		if err != nil {
			panic(err)
		}
		gemm(true, false, c, f, k, d.z, c, d.x, f, d.dw)
		clear(d.db)
		for r := range k {
			for i, v := range d.z[r*c : (r+1)*c] {
				d.db[i] += v
			}
		}
		if d.dx != nil {
			gemm(false, false, k, f, c, d.z, c, d.w, f, d.dx)
		}
		return loss
	}
}
