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
//	Z = X·Wᵀ + b                                (Gemm with beta = 1, b copied into each row first)
//	J = (1/k) Σ_r −log softmax(Z_r)[y_r]        the mean cross-entropy
//	G = ∂J/∂Z = (softmax(Z) − onehot(y)) / k    (CrossEntropyGrad: J and G in one pass, G over Z in place)
//	W ← W − lr·Gᵀ·X                             (GerBatch with alpha = −lr: one rank-k update)
//	b ← b − lr·Σ_r G_r                          (the column sums of G)
//
// since ∂J/∂W = Gᵀ·X and ∂J/∂b = Σ_r G_r. In GerBatch's terms,
// A += alpha·Xᵀ·Y with A = W (m = C rows of n = F), its X the gradient G
// (k×C) and its Y the samples X (k×F). Storing W as F×C instead (the
// transpose: W ← W − lr·Xᵀ·G) gives the same model, but GerBatch then works
// on rows of C elements, which are short for a classifier: with 10 classes
// and 64 to 784 features it runs 1.3–1.5× slower on this project's machine.
//
// With several workers each takes a share of the batch's rows, computes its
// Z, G and its share of the two updates into buffers of its own, weighted
// by its share of the batch, and the shares are then added to W and b in a
// fixed order, so a run is deterministic for a given number of workers.
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
}

// worker holds one worker's scratch: its logits (then gradient) and, with
// more than one worker, its shares of the updates of W and b.
type worker struct {
	z      []float32 // rows×Classes: the logits, then the gradient G, in place
	dW, dB []float32 // −lr·(share)·Gᵀ·X and −lr·(share)·Σ G (workers > 1 only)
	loss   float64
	right  int
	err    error
}

// NewTrainer returns a trainer of m with the given implementation,
// learning rate and number of workers (at least 1) among which each batch
// is split.
func NewTrainer(m *Model, impl *kernels.Impl, lr float32, workers int) *Trainer {
	t := &Trainer{Model: m, Impl: impl, LR: lr}
	for range max(workers, 1) {
		w := &worker{}
		if workers > 1 {
			w.dW = make([]float32, len(m.W))
			w.dB = make([]float32, len(m.B))
		}
		t.workers = append(t.workers, w)
	}
	return t
}

// Step trains on one mini-batch: x holds k samples (k×Features) and labels
// their classes. It returns the batch's mean loss and how many samples the
// model classified right, both from the logits before the update. A label
// outside [0, Classes) is an error (a *kernels.LabelError, with the row
// counted within the batch), and the model is then left unchanged.
func (t *Trainer) Step(x []float32, labels []int32) (loss float64, right int, err error) {
	m := t.Model
	k := len(labels)
	if len(x) != k*m.Features {
		panic(fmt.Sprintf("logreg: %d values for %d samples of %d features", len(x), k, m.Features))
	}
	if len(t.workers) == 1 || k < 2*len(t.workers) {
		w := t.workers[0]
		w.grow(k * m.Classes)
		g := w.z[:k*m.Classes]
		loss, right, err = t.forwardBackward(g, x, labels)
		if err != nil {
			return 0, 0, err
		}
		// W ← W − lr·Gᵀ·X: G is k×C, X is k×F, W is C×F.
		t.Impl.GerBatch(m.W, m.Features, -t.LR, g, m.Classes, x, m.Features)
		// b ← b − lr·Σ_r G_r.
		addColumnSums(m.B, -t.LR, g, m.Classes)
		return loss, right, nil
	}

	// Several workers: worker i takes rows [lo, hi) and weighs its mean
	// gradient by its share of the batch, (hi−lo)/k, so that the shares add
	// up to the gradient of the batch's mean loss.
	var wg sync.WaitGroup
	n := len(t.workers)
	for i, w := range t.workers {
		lo, hi := i*k/n, (i+1)*k/n
		wg.Go(func() {
			xs, ls := x[lo*m.Features:hi*m.Features], labels[lo:hi]
			w.grow(len(ls) * m.Classes)
			g := w.z[:len(ls)*m.Classes]
			w.loss, w.right, w.err = t.forwardBackward(g, xs, ls)
			if w.err != nil {
				var le *kernels.LabelError
				if errors.As(w.err, &le) {
					le.Row += lo
				}
				return
			}
			share := float32(len(ls)) / float32(k)
			clear(w.dW)
			t.Impl.GerBatch(w.dW, m.Features, -t.LR*share, g, m.Classes, xs, m.Features)
			clear(w.dB)
			addColumnSums(w.dB, -t.LR*share, g, m.Classes)
		})
	}
	wg.Wait()
	for i, w := range t.workers {
		if w.err != nil {
			return 0, 0, w.err
		}
		lo, hi := i*k/n, (i+1)*k/n
		loss += w.loss * float64(hi-lo) / float64(k)
		right += w.right
	}
	// Add the shares in worker order, each worker summing one part of W.
	for i := range t.workers {
		lo, hi := i*len(m.W)/n, (i+1)*len(m.W)/n
		wg.Go(func() {
			dst := m.W[lo:hi]
			for _, w := range t.workers {
				for j, d := range w.dW[lo:hi] {
					dst[j] += d
				}
			}
		})
	}
	wg.Wait()
	for _, w := range t.workers {
		for j, d := range w.dB {
			m.B[j] += d
		}
	}
	return loss, right, nil
}

// forwardBackward computes the logits of x into z, counts the right
// predictions, and overwrites z with the gradient of the mean loss, which it
// returns.
func (t *Trainer) forwardBackward(z, x []float32, labels []int32) (loss float64, right int, err error) {
	m := t.Model
	// Z = X·Wᵀ + b.
	m.Logits(t.Impl, z, x)
	right = countRight(z, labels, m.Classes)
	// J and G = (softmax(Z) − onehot(y))/k, G over Z in place.
	loss, err = t.Impl.CrossEntropyGrad(z, z, labels, m.Classes)
	return loss, right, err
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

// addColumnSums adds alpha·Σ_r g_r to dst, for the rows g_r of g (cols
// each): the bias update.
func addColumnSums(dst []float32, alpha float32, g []float32, cols int) {
	for r := 0; r < len(g); r += cols {
		for j, v := range g[r : r+cols] {
			dst[j] += alpha * v
		}
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
