package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/softgrad/softgrad/internal/reference"
	"github.com/softgrad/softgrad/kernels"
)

// optionSet is one CrossEntropyOptions of the tests, made for a shape.
type optionSet struct {
	name string
	make func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions
}

// classWeights returns cols weights in [0, 2], about a tenth of them 0.
func classWeights(r *rand.Rand, cols int) []float32 {
	w := make([]float32, cols)
	for i := range w {
		if r.IntN(10) != 0 {
			w[i] = float32(2 * r.Float64())
		}
	}
	return w
}

// optionSets covers every option alone, together, and every reduction.
var optionSets = []optionSet{
	{"weights", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{Weights: classWeights(r, cols)}
	}},
	{"smoothing", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{LabelSmoothing: 0.1}
	}},
	{"zloss/sum", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{ZLoss: 1e-3, Reduction: kernels.ReduceSum}
	}},
	{"weights+smoothing/sum", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{Weights: classWeights(r, cols), LabelSmoothing: 1, Reduction: kernels.ReduceSum}
	}},
	{"none+losses", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{Reduction: kernels.ReduceNone, Losses: make([]float32, rows)}
	}},
	{"all+losses", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{Weights: classWeights(r, cols), LabelSmoothing: 0.2, ZLoss: 1e-2,
			Losses: make([]float32, rows)}
	}},
}

// referenceOptions is opts as internal/reference takes them.
func referenceOptions(opts kernels.CrossEntropyOptions) reference.CrossEntropyOptions {
	return reference.CrossEntropyOptions{Weights: opts.Weights, LabelSmoothing: float64(opts.LabelSmoothing),
		ZLoss: float64(opts.ZLoss), Reduction: int(opts.Reduction)}
}

// crossEntropyWithCall is CrossEntropyGradWith with opts as a rowCall; each
// run also checks opts.Losses against the reference's row losses.
func crossEntropyWithCall(t *testing.T, im *kernels.Impl, where string, logits []float32, labels []int32, cols int, opts kernels.CrossEntropyOptions) *rowCall {
	ro := referenceOptions(opts)
	want, wantLoss, wantRows := reference.CrossEntropyWith(logits, labels, cols, ro)
	b, rb, lb := reference.CrossEntropyWithBound(logits, labels, cols, ro, sumTol(im, reference.ExpSum, cols))
	return &rowCall{
		kernel: "CrossEntropyGradWith", where: where, cols: cols,
		in: []guarded{guardedCopy(logits)},
		run: func(out []float32, in [][]float32) float64 {
			loss, err := im.CrossEntropyGradWith(out, in[0], labels, cols, opts)
			if err != nil {
				t.Errorf("CrossEntropyGradWith %s: unexpected error %v", where, err)
			}
			for r, l := range opts.Losses {
				if err := reference.CheckValue(float64(l), wantRows[r], reference.Tol{Abs: rb[r], ExactZero: labels[r] == kernels.IgnoreLabel}); err != nil {
					t.Errorf("CrossEntropyGradWith %s: Losses[%d]: %v", where, r, err)
				}
			}
			return loss
		},
		inPlace:  []int{0},
		want:     want,
		tol:      absTol(b, true),
		hasLoss:  true,
		wantLoss: wantLoss,
		lossTol:  reference.Tol{Abs: lb, Rel: 1e-12},
		lossTigh: reference.Tol{Abs: lb, Rel: 1e-12},
	}
}

// TestCrossEntropyGradWith checks every implementation's CrossEntropyGradWith
// against the float64 reference (itself checked against PyTorch) on the row
// shapes of TestRowKernels, with two option sets per shape and logit scale,
// ignored rows, and both the short-row and the row path.
func TestCrossEntropyGradWith(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		st := stats{}
		for i, sh := range rowShapes() {
			if sh.cols > 4096 && testing.Short() {
				continue
			}
			for si, scale := range logitScales {
				r := newRand(sh, 7+uint64(si))
				x := uniform(r, sh.rows*sh.cols, -scale, scale)
				labels := make([]int32, sh.rows)
				for j := range labels {
					labels[j] = int32(r.IntN(sh.cols))
					if j%5 == 1 {
						labels[j] = kernels.IgnoreLabel
					}
				}
				for _, set := range []optionSet{optionSets[len(optionSets)-1], optionSets[(i+si)%len(optionSets)]} {
					where := fmt.Sprintf("%v logits ±%g %s", sh, scale, set.name)
					c := crossEntropyWithCall(t, im, where, x, labels, sh.cols, set.make(r, sh.cols, sh.rows))
					c.check(t, st)
				}
			}
		}
		st.log(t)
	})
}

// TestCrossEntropyGradWithZero checks that the zero options are
// CrossEntropyGrad bit for bit, and that ReduceSum is ReduceMean's
// loss times the counted rows.
func TestCrossEntropyGradWithZero(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		for _, sh := range []shape{{5, 3}, {64, 10}, {3, 1000}} {
			r := newRand(sh, 3)
			x := uniform(r, sh.rows*sh.cols, -20, 20)
			labels := make([]int32, sh.rows)
			for j := range labels {
				labels[j] = int32(r.IntN(sh.cols))
			}
			labels[1] = kernels.IgnoreLabel
			g1, g2 := make([]float32, len(x)), make([]float32, len(x))
			l1, err1 := im.CrossEntropyGrad(g1, x, labels, sh.cols)
			l2, err2 := im.CrossEntropyGradWith(g2, x, labels, sh.cols, kernels.CrossEntropyOptions{})
			if err1 != nil || err2 != nil || !sameLoss(l1, l2) {
				t.Errorf("%v: CrossEntropyGrad %v, %v; zero options %v, %v", sh, l1, err1, l2, err2)
			}
			if err := sameBits(g1, g2); err != nil {
				t.Errorf("%v: zero options: %v", sh, err)
			}
			l3, _ := im.CrossEntropyGradWith(g2, x, labels, sh.cols, kernels.CrossEntropyOptions{Reduction: kernels.ReduceSum})
			n := float64(sh.rows - 1)
			if d := math.Abs(l3 - l1*n); d > 1e-5*math.Abs(l3) {
				t.Errorf("%v: sum %v, mean %v × %v", sh, l3, l1, n)
			}
		}
	})
}
