// Package logreg is multinomial logistic regression trained with the
// kernels of package kernels: a linear layer followed by softmax
// cross-entropy, the classifier whose gradient those kernels compute. It is
// the worked example of the training hot loop that `softgrad train` runs.
//
// # The math
//
// A model maps a sample x (F features) to C logits z = x·Wᵀ + b, with W a
// C×F matrix (one row of weights per class, the layout of PyTorch's
// nn.Linear) and b a bias of C; p = softmax(z) is its class distribution.
// For a mini-batch X of k samples (k×F, one per row) with labels y, one step
// of stochastic gradient descent with learning rate lr is:
//
//	Z = X·Wᵀ + b                                the logits
//	J = (1/k) Σ_r −log softmax(Z_r)[y_r]        the mean cross-entropy
//	G = ∂J/∂Z = (softmax(Z) − onehot(y)) / k
//	W ← W − lr·Gᵀ·X                             since ∂J/∂W = Gᵀ·X
//	b ← b − lr·Σ_r G_r                          since ∂J/∂b = Σ_r G_r
//
// kernels.LinearCrossEntropy computes J, Gᵀ·X and Σ_r G_r in one call,
// without holding Z whole; the updates are rank-1 updates of one row
// (kernels' Ger, an axpy).
//
// With several workers each takes a share of the batch's rows and computes
// its gradients into buffers of its own; each is weighted by its share of
// the batch and added to W and b in a fixed order, so a run is
// deterministic for a given number of workers.
package logreg

import (
	"errors"
	"fmt"
	"sync"

	"github.com/softgrad/softgrad/kernels"
)

// Model is a linear classifier: logits = x·Wᵀ + B.
type Model struct {
	Features, Classes int
	W                 []float32 // Classes×Features, row-major: row c holds the weights of class c
	B                 []float32 // Classes
}

// New returns a model with zero weights and biases: the loss of
// multinomial logistic regression is convex, so the starting point does not
// matter, and zero predicts the uniform distribution.
func New(features, classes int) *Model {
	return &Model{
		Features: features, Classes: classes,
		W: make([]float32, features*classes),
		B: make([]float32, classes),
	}
}

// Logits writes the logits x·Wᵀ + B of the k = len(x)/Features samples of
// x (k×Features, row-major) to out (k×Classes), with im's Gemm.
func (m *Model) Logits(im *kernels.Impl, out, x []float32) {
	k := len(x) / m.Features
	out = out[:k*m.Classes]
	for r := range k {
		copy(out[r*m.Classes:(r+1)*m.Classes], m.B)
	}
	// out = 1·X·Wᵀ + 1·out: X is k×F, W is C×F (op(W) = Wᵀ).
	im.Gemm(false, true, k, m.Classes, m.Features, 1, x, m.Features, m.W, m.Features, 1, out, m.Classes)
}

// Trainer runs mini-batch SGD steps on a Model. It keeps the scratch
// buffers of a step, so that a step allocates nothing.
type Trainer struct {
	Model *Model
	Impl  *kernels.Impl // the kernels' implementation: kernels.Default() or one of Available()
	LR    float32       // the learning rate

	workers []*worker
	one     [1]float32 // the x of the rank-1 update that adds −lr·dW to W
}

// worker holds one worker's scratch: the gradients of its share of a batch
// (dW, dB), and the logits of an evaluation batch (z, worker 0 only).
type worker struct {
	z      []float32
	dW, dB []float32
	loss   float64
	err    error
}

// NewTrainer returns a trainer of m with the given implementation,
// learning rate and number of workers (at least 1) among which each batch
// is split.
func NewTrainer(m *Model, impl *kernels.Impl, lr float32, workers int) *Trainer {
	t := &Trainer{Model: m, Impl: impl, LR: lr, one: [1]float32{1}}
	for range max(workers, 1) {
		t.workers = append(t.workers, &worker{dW: make([]float32, len(m.W)), dB: make([]float32, len(m.B))})
	}
	return t
}

// Step trains on one mini-batch: x holds k samples (k×Features) and labels
// their classes. It returns the batch's mean loss, from the model before
// the update. A label outside [0, Classes) is an error (a
// *kernels.LabelError, with the row counted within the batch), and the
// model is then left unchanged.
func (t *Trainer) Step(x []float32, labels []int32) (loss float64, err error) {
	m := t.Model
	k := len(labels)
	if len(x) != k*m.Features {
		panic(fmt.Sprintf("logreg: %d values for %d samples of %d features", len(x), k, m.Features))
	}
	if len(t.workers) == 1 || k < 2*len(t.workers) {
		w := t.workers[0]
		// dW = Gᵀ·X and dB = Σ_r G_r, the logits never held whole.
		loss, err = t.Impl.LinearCrossEntropy(w.dW, w.dB, nil, x, m.W, m.B, labels, m.Features, m.Classes)
		if err != nil {
			return 0, err
		}
		t.update(m.W, -t.LR, w.dW)
		t.update(m.B, -t.LR, w.dB)
		return loss, nil
	}

	// Several workers: worker i takes rows [lo, hi) and its mean gradient
	// weighs (hi−lo)/k, its share of the batch, so that the shares add up
	// to the gradient of the batch's mean loss.
	var wg sync.WaitGroup
	n := len(t.workers)
	for i, w := range t.workers {
		lo, hi := i*k/n, (i+1)*k/n
		wg.Go(func() {
			xs, ls := x[lo*m.Features:hi*m.Features], labels[lo:hi]
			w.loss, w.err = t.Impl.LinearCrossEntropy(w.dW, w.dB, nil, xs, m.W, m.B, ls, m.Features, m.Classes)
			var le *kernels.LabelError
			if errors.As(w.err, &le) {
				le.Row += lo
			}
		})
	}
	wg.Wait()
	for i, w := range t.workers {
		if w.err != nil {
			return 0, w.err
		}
		lo, hi := i*k/n, (i+1)*k/n
		loss += w.loss * float64(hi-lo) / float64(k)
	}
	// Add the shares in worker order, each goroutine updating one part of W.
	for i := range t.workers {
		lo, hi := i*len(m.W)/n, (i+1)*len(m.W)/n
		wg.Go(func() {
			for j, w := range t.workers {
				share := float32((j+1)*k/n-j*k/n) / float32(k)
				t.update(m.W[lo:hi], -t.LR*share, w.dW[lo:hi])
			}
		})
	}
	wg.Wait()
	for j, w := range t.workers {
		share := float32((j+1)*k/n-j*k/n) / float32(k)
		t.update(m.B, -t.LR*share, w.dB)
	}
	return loss, nil
}

// update sets dst += alpha·d, as a rank-1 update of one row (SIMD in
// im's Ger).
func (t *Trainer) update(dst []float32, alpha float32, d []float32) {
	t.Impl.Ger(dst, len(dst), alpha, t.one[:], d)
}

// Evaluate returns the mean loss of the model on the samples x and labels,
// and the fraction it classifies right, in batches of batch samples (the
// logits are never held for more than one batch).
func (t *Trainer) Evaluate(x []float32, labels []int32, batch int) (loss, accuracy float64, err error) {
	m := t.Model
	w := t.workers[0]
	var right int
	for lo := 0; lo < len(labels); lo += batch {
		hi := min(lo+batch, len(labels))
		w.grow((hi - lo) * m.Classes)
		z := w.z[:(hi-lo)*m.Classes]
		m.Logits(t.Impl, z, x[lo*m.Features:hi*m.Features])
		right += countRight(z, labels[lo:hi], m.Classes)
		l, err := t.Impl.CrossEntropyGrad(z, z, labels[lo:hi], m.Classes)
		if err != nil {
			var le *kernels.LabelError
			if errors.As(err, &le) {
				le.Row += lo
			}
			return 0, 0, err
		}
		loss += l * float64(hi-lo)
	}
	n := float64(max(len(labels), 1))
	return loss / n, float64(right) / n, nil
}

// grow makes w.z hold at least n values.
func (w *worker) grow(n int) {
	if len(w.z) < n {
		w.z = make([]float32, n)
	}
}

// countRight returns how many rows of z have their largest logit at the
// row's label (the first largest, on ties).
func countRight(z []float32, labels []int32, cols int) int {
	right := 0
	for r, l := range labels {
		row := z[r*cols : (r+1)*cols]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if int32(best) == l {
			right++
		}
	}
	return right
}
