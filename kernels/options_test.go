package kernels_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
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
	{"sum", func(r *rand.Rand, cols, rows int) kernels.CrossEntropyOptions {
		return kernels.CrossEntropyOptions{Reduction: kernels.ReduceSum}
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
		inPlace: []int{0},
		want:    want,
		// Exactly 0 in ignored rows; elsewhere a 0 may be terms that
		// cancel (a 1-class row's smoothed gradient), within the bound.
		tol: func(i int) reference.Tol {
			return reference.Tol{Abs: b[i], ExactZero: labels[i/cols] == kernels.IgnoreLabel}
		},
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

// TestCrossEntropyGradWithSpecial checks the special values against the
// reference, which follows PyTorch: −Inf logits (a smoothed loss +Inf, NaN
// on a class of weight 0), NaN and +Inf rows, batches with every row
// ignored, and a weighted mean whose counted rows all weigh 0; on short
// rows (the short-row kernel) and long ones.
func TestCrossEntropyGradWithSpecial(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		for _, sh := range []shape{{64, 10}, {4, 100}} {
			r := newRand(sh, 11)
			base := uniform(r, sh.rows*sh.cols, -10, 10)
			labels := make([]int32, sh.rows)
			for j := range labels {
				labels[j] = int32(j % sh.cols)
			}
			w := classWeights(r, sh.cols)
			w[1] = 0
			x := slices.Clone(base)
			x[0*sh.cols+1] = ninf // a −Inf logit on a class of weight 0
			x[1*sh.cols+0] = ninf // on the label of row 1... which is 1: another class
			x[2*sh.cols+3] = ninf // a −Inf logit on a weighted class
			x[3*sh.cols+2] = nan  // a NaN row
			labels[2] = kernels.IgnoreLabel
			allIgnored := make([]int32, sh.rows)
			for j := range allIgnored {
				allIgnored[j] = kernels.IgnoreLabel
			}
			zeroWeights := make([]float32, sh.cols)
			cases := []struct {
				name   string
				labels []int32
				opts   kernels.CrossEntropyOptions
			}{
				{"smoothing", labels, kernels.CrossEntropyOptions{LabelSmoothing: 0.1}},
				{"weights", labels, kernels.CrossEntropyOptions{Weights: w}},
				{"weights+smoothing+z", labels, kernels.CrossEntropyOptions{Weights: w, LabelSmoothing: 0.3, ZLoss: 1e-3, Losses: make([]float32, sh.rows)}},
				{"all ignored/mean", allIgnored, kernels.CrossEntropyOptions{Weights: w, LabelSmoothing: 0.1}},
				{"all ignored/sum", allIgnored, kernels.CrossEntropyOptions{LabelSmoothing: 0.1, Reduction: kernels.ReduceSum, Losses: make([]float32, sh.rows)}},
				{"zero weights/mean", labels, kernels.CrossEntropyOptions{Weights: zeroWeights, ZLoss: 1e-3}},
				{"zero weights/sum", labels, kernels.CrossEntropyOptions{Weights: zeroWeights, LabelSmoothing: 0.5, Reduction: kernels.ReduceSum}},
			}
			cases = append(cases, struct {
				name   string
				labels []int32
				opts   kernels.CrossEntropyOptions
			}{"none", allIgnored, kernels.CrossEntropyOptions{Reduction: kernels.ReduceNone}}, struct {
				name   string
				labels []int32
				opts   kernels.CrossEntropyOptions
			}{"sum", labels, kernels.CrossEntropyOptions{Reduction: kernels.ReduceSum}})
			for _, c := range cases {
				where := fmt.Sprintf("%v %s", sh, c.name)
				crossEntropyWithCall(t, im, where, x, c.labels, sh.cols, c.opts).check(t, stats{})
			}
		}
	})
}

// TestCrossEntropyGradWithErrors checks that bad options are bad data
// (an *OptionError, nothing written) or programmer errors (panics), and
// that the label checks of CrossEntropyGrad hold with options.
func TestCrossEntropyGradWithErrors(t *testing.T) {
	const rows, cols = 4, 3
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	labels := []int32{0, 1, 2, kernels.IgnoreLabel}
	negZero := float32(math.Copysign(0, -1))
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		bad := []struct {
			opts  kernels.CrossEntropyOptions
			field string
			index int
		}{
			{kernels.CrossEntropyOptions{Weights: []float32{1, -1, 1}}, "Weights", 1},
			{kernels.CrossEntropyOptions{Weights: []float32{1, 1, nan}}, "Weights", 2},
			{kernels.CrossEntropyOptions{Weights: []float32{inf, 1, 1}}, "Weights", 0},
			{kernels.CrossEntropyOptions{Weights: []float32{1, ninf, 1}}, "Weights", 1},
			{kernels.CrossEntropyOptions{Weights: []float32{1, 1, -1e-45}}, "Weights", 2},
			{kernels.CrossEntropyOptions{LabelSmoothing: -0.1}, "LabelSmoothing", -1},
			{kernels.CrossEntropyOptions{LabelSmoothing: 1.5}, "LabelSmoothing", -1},
			{kernels.CrossEntropyOptions{LabelSmoothing: nan}, "LabelSmoothing", -1},
			{kernels.CrossEntropyOptions{ZLoss: -1}, "ZLoss", -1},
			{kernels.CrossEntropyOptions{ZLoss: nan}, "ZLoss", -1},
			{kernels.CrossEntropyOptions{ZLoss: inf}, "ZLoss", -1},
		}
		for _, b := range bad {
			grad := make([]float32, len(x))
			fill(grad, sentinel)
			losses := []float32{sentinel, sentinel, sentinel, sentinel}
			b.opts.Losses = losses
			_, err := im.CrossEntropyGradWith(grad, x, labels, cols, b.opts)
			var oe *kernels.OptionError
			if !errors.As(err, &oe) || oe.Field != b.field || oe.Index != b.index {
				t.Errorf("%+v: error %v, want an OptionError for %s[%d]", b.opts, err, b.field, b.index)
				continue
			}
			if !strings.HasPrefix(err.Error(), "kernels: "+b.field) {
				t.Errorf("%+v: message %q", b.opts, err)
			}
			for i, v := range append(grad, losses...) {
				if v != sentinel {
					t.Errorf("%+v: wrote %v at %d", b.opts, v, i)
					break
				}
			}
		}
		// −0 and 0 are weights, 0 and 1 smoothings.
		for _, opts := range []kernels.CrossEntropyOptions{
			{Weights: []float32{negZero, 0, 1}}, {LabelSmoothing: 1}, {LabelSmoothing: negZero, ZLoss: 0},
		} {
			if _, err := im.CrossEntropyGradWith(make([]float32, len(x)), x, labels, cols, opts); err != nil {
				t.Errorf("%+v: %v", opts, err)
			}
		}
		grad := make([]float32, len(x))
		fill(grad, sentinel)
		_, err := im.CrossEntropyGradWith(grad, x, []int32{0, 3, 0, 0}, cols, kernels.CrossEntropyOptions{LabelSmoothing: 0.1, Weights: []float32{1, 2, 3}})
		var le *kernels.LabelError
		if !errors.As(err, &le) || le.Row != 1 || le.Label != 3 || grad[0] != sentinel {
			t.Errorf("bad label with options: %v, grad[0] %v", err, grad[0])
		}
	})
	buf := make([]float32, 40)
	for _, c := range []struct {
		name string
		opts kernels.CrossEntropyOptions
		want string
	}{
		{"weights length", kernels.CrossEntropyOptions{Weights: []float32{1, 1}}, "len(Weights) != cols"},
		{"losses length", kernels.CrossEntropyOptions{Losses: make([]float32, rows+1)}, "len(Losses) != rows"},
		{"reduction", kernels.CrossEntropyOptions{Reduction: kernels.ReduceNone + 1}, "unknown Reduction"},
		{"weights overlap grad", kernels.CrossEntropyOptions{Weights: buf[2:5]}, "grad overlaps Weights"},
		{"losses overlap grad", kernels.CrossEntropyOptions{Losses: buf[10:14]}, "grad overlaps Losses"},
		{"losses overlap weights", kernels.CrossEntropyOptions{Weights: buf[20:23], Losses: buf[22:26]}, "Losses overlaps Weights"},
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), c.want) {
					t.Errorf("%s: panic %v, want %q", c.name, p, c.want)
				}
			}()
			kernels.CrossEntropyGradWith(buf[:12], x, labels, cols, c.opts)
		}()
	}
}
