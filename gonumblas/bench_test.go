package gonumblas_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/testblas"

	"github.com/softgrad/softgrad/gonumblas"
)

// The two implementations side by side, on the shapes of a classifier's
// output layer: 10 classes, 64 and 784 features, batches of 64.

var benchImpls = []struct {
	name string
	impl blas.Float32
}{
	{"gonum", reference},
	{"softgrad", gonumblas.Implementation{}},
}

// BenchmarkSgemm: the logits of a batch, X·Wᵀ (X batch×features, W
// classes×features).
func BenchmarkSgemm(b *testing.B) {
	const batch, classes = 64, 10
	for _, features := range []int{64, 784} {
		x := make([]float32, batch*features)
		w := make([]float32, classes*features)
		for i := range x {
			x[i] = rand.Float32()
		}
		for i := range w {
			w[i] = rand.Float32()
		}
		z := make([]float32, batch*classes)
		for _, bi := range benchImpls {
			b.Run(fmt.Sprintf("impl=%s/shape=%dx%dx%d", bi.name, batch, classes, features), func(b *testing.B) {
				for b.Loop() {
					bi.impl.Sgemm(blas.NoTrans, blas.Trans, batch, classes, features, 1, x, features, w, features, 0, z, classes)
				}
			})
		}
	}
}

// BenchmarkSger: one sample's weight gradient, with gonum's own benchmark.
func BenchmarkSger(b *testing.B) {
	for _, features := range []int{64, 784} {
		for _, bi := range benchImpls {
			b.Run(fmt.Sprintf("impl=%s/shape=%dx%d", bi.name, 10, features), func(b *testing.B) {
				testblas.SgerBenchmark(b, bi.impl, 10, features, 1, 1)
			})
		}
	}
}
