package logreg

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

// blobs returns n samples of f features in c classes: class means 3 apart
// per feature on average, unit noise.
func blobs(seed uint64, n, f, c int) ([]float32, []int32) {
	r := rand.New(rand.NewPCG(seed, 1))
	means := make([]float64, c*f)
	for i := range means {
		means[i] = 1.5 * r.NormFloat64()
	}
	x := make([]float32, n*f)
	labels := make([]int32, n)
	for i := range n {
		l := r.IntN(c)
		labels[i] = int32(l)
		for j := range f {
			x[i*f+j] = float32(means[l*f+j] + r.NormFloat64())
		}
	}
	return x, labels
}

// TestStepMath checks one step against the update written out in float64:
// W ← W − lr·Gᵀ·X, b ← b − lr·Σ G, with G = (softmax(X·Wᵀ + b) − onehot)/k.
func TestStepMath(t *testing.T) {
	const f, c, k, lr = 5, 3, 7, 0.3
	x, labels := blobs(1, k, f, c)
	for _, im := range kernels.Available() {
		for _, workers := range []int{1, 2, 3} {
			m := New(f, c)
			r := rand.New(rand.NewPCG(2, 2))
			for i := range m.W {
				m.W[i] = float32(r.NormFloat64())
			}
			for i := range m.B {
				m.B[i] = float32(r.NormFloat64())
			}
			w0, b0 := slices.Clone(m.W), slices.Clone(m.B)

			// The float64 step.
			wantW, wantB := make([]float64, len(w0)), make([]float64, len(b0))
			for i, v := range w0 {
				wantW[i] = float64(v)
			}
			for i, v := range b0 {
				wantB[i] = float64(v)
			}
			var wantLoss float64
			for s := range k {
				z := make([]float64, c)
				zmax := math.Inf(-1)
				for j := range c {
					z[j] = float64(b0[j])
					for i := range f {
						z[j] += float64(x[s*f+i]) * float64(w0[j*f+i])
					}
					zmax = max(zmax, z[j])
				}
				var sum float64
				for j := range c {
					sum += math.Exp(z[j] - zmax)
				}
				wantLoss += (math.Log(sum) + zmax - z[labels[s]]) / k
				for j := range c {
					g := math.Exp(z[j]-zmax) / sum / k
					if int32(j) == labels[s] {
						g -= 1.0 / k
					}
					for i := range f {
						wantW[j*f+i] -= lr * float64(x[s*f+i]) * g
					}
					wantB[j] -= lr * g
				}
			}

			tr := NewTrainer(m, im, lr, workers)
			loss, err := tr.Step(x, labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(loss-wantLoss) > 1e-5*wantLoss {
				t.Errorf("%s, %d workers: loss %g, want %g", im.Name(), workers, loss, wantLoss)
			}
			for i := range wantW {
				if d := math.Abs(float64(m.W[i]) - wantW[i]); d > 1e-5 {
					t.Errorf("%s, %d workers: W[%d] = %g, want %g", im.Name(), workers, i, m.W[i], wantW[i])
				}
			}
			for j := range wantB {
				if d := math.Abs(float64(m.B[j]) - wantB[j]); d > 1e-5 {
					t.Errorf("%s, %d workers: b[%d] = %g, want %g", im.Name(), workers, j, m.B[j], wantB[j])
				}
			}
		}
	}
}

// TestTrain trains on separable blobs: a few epochs reach 95%, with one
// worker or two.
func TestTrain(t *testing.T) {
	const f, c, n, batch = 20, 5, 2000, 32
	x, labels := blobs(3, n, f, c)
	for _, workers := range []int{1, 2} {
		m := New(f, c)
		tr := NewTrainer(m, kernels.Default(), 0.1, workers)
		loss0, _, err := tr.Evaluate(x, labels, 256)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			for lo := 0; lo < n; lo += batch {
				hi := min(lo+batch, n)
				if _, err := tr.Step(x[lo*f:hi*f], labels[lo:hi]); err != nil {
					t.Fatal(err)
				}
			}
		}
		loss, acc, err := tr.Evaluate(x, labels, 256)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(loss0-math.Log(c)) > 1e-6 || !(loss < loss0/4) || acc < 0.95 {
			t.Errorf("%d workers: loss %g → %g, accuracy %.3f", workers, loss0, loss, acc)
		}
	}
}

// TestLabelError: a bad label is a *kernels.LabelError naming the row of
// the batch, and leaves the model unchanged.
func TestLabelError(t *testing.T) {
	const f, c = 4, 3
	x, labels := blobs(4, 10, f, c)
	labels[7] = 3
	for _, workers := range []int{1, 2} {
		m := New(f, c)
		tr := NewTrainer(m, kernels.Default(), 0.1, workers)
		_, err := tr.Step(x, labels)
		var le *kernels.LabelError
		if !errors.As(err, &le) || le.Row != 7 || le.Label != 3 {
			t.Errorf("%d workers: error %v, want a LabelError for row 7", workers, err)
		}
		for _, v := range append(m.W, m.B...) {
			if v != 0 {
				t.Fatalf("%d workers: the model changed", workers)
			}
		}
		if _, _, err := tr.Evaluate(x, labels, 4); !errors.As(err, &le) || le.Row != 7 {
			t.Errorf("Evaluate: error %v, want a LabelError for row 7", err)
		}
	}
}
