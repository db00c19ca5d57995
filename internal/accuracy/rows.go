package accuracy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/softgrad/softgrad/internal/reference"
	"github.com/softgrad/softgrad/kernels"
)

const (
	eps    = 0x1p-24  // the relative error of one float32 rounding
	fltMin = 0x1p-126 // the smallest normal float32: exp gives 0 below it
	// relMin is the smallest probability whose relative error is reported:
	// from it up float32 has full precision, and the argument of its exp is
	// more than ln 2 above ExpMin, so rounding x − max cannot flush it.
	relMin = 0x1p-125
)

// SumTol is the relative error the kernels documentation allows a softmax
// on rows of cols elements, beyond the cost of rounding x_i − max to float32
// (reference.SoftmaxBound adds that): 2·10⁻⁶ up to 4096 elements, 10⁻⁵ up
// to 262144. The cross-entropy bounds use it for the same row sums.
func SumTol(cols int) float64 {
	if cols <= 4096 {
		return 2e-6
	}
	return 1e-5
}

// A Group is a named set of batches of rows, all of one kind.
type Group struct {
	Name    string // "random", "spread", "masks", "ties", "cutoff"
	About   string // what its rows hold, in a few words
	Batches []*Batch
}

// A Batch is rows×Cols logits with one label per row for the
// cross-entropy, and its float64 reference, computed once.
type Batch struct {
	Cols   int
	X      []float32
	Labels []int32 // a finite logit's index, or kernels.IgnoreLabel (always for a row of only −Inf)

	once    sync.Once
	softmax []float64 // reference softmax
	smBound []float64 // its relative bound (reference.SoftmaxBound)
	grad    []float64 // reference cross-entropy gradient
	loss    float64   // and loss
	gBound  []float64 // their absolute bounds (reference.CrossEntropyGradBound)
	lBound  float64
	counted int // rows with a label
}

// ref computes the batch's reference results and bounds.
func (b *Batch) ref() {
	b.once.Do(func() {
		tol := SumTol(b.Cols)
		b.softmax = reference.Softmax(b.X, b.Cols)
		b.smBound = reference.SoftmaxBound(b.X, b.Cols, tol)
		b.grad, b.loss = reference.CrossEntropyGrad(b.X, b.Labels, b.Cols)
		b.gBound, b.lBound = reference.CrossEntropyGradBound(b.X, b.Labels, b.Cols, tol)
		for _, l := range b.Labels {
			if l != kernels.IgnoreLabel {
				b.counted++
			}
		}
	})
}

// Groups returns the rows `softgrad check` measures, generated
// deterministically from seed:
//
//   - random: uniform and normal logits, rows of 10 to 262144 (the longest
//     row the documented bounds cover);
//   - spread: spreads of 10³ to 10³⁰ and ±MaxFloat32, where most
//     probabilities are exactly 0 and x_i − max rounds or overflows;
//   - masks: −Inf logits (masked classes), down to a single finite logit
//     per row, and rows of only −Inf (NaN by definition);
//   - ties: rows of equal logits (1/n exactly in float64), and rows whose
//     maximum is repeated;
//   - cutoff: logits 85 to 89 below the row max, where exp's argument
//     crosses ExpMin and float32 probabilities reach their smallest normal
//     values.
func Groups(seed uint64) []Group {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	uniform := func(lo, hi float64) func(int, int) float32 {
		return func(int, int) float32 { return float32(lo + (hi-lo)*r.Float64()) }
	}
	ninf := float32(math.Inf(-1))
	mk := func(rows, cols int, f func(row, col int) float32) *Batch {
		x := make([]float32, rows*cols)
		for i := range rows {
			for j := range cols {
				x[i*cols+j] = f(i, j)
			}
		}
		return newBatch(r, x, cols)
	}
	return []Group{
		{Name: "random", About: "uniform and normal logits, rows of 10 to 262144", Batches: []*Batch{
			mk(256, 10, uniform(-8, 8)),
			mk(16, 33, uniform(-30, 30)),
			mk(64, 1000, uniform(-8, 8)),
			mk(8, 4096, func(int, int) float32 { return float32(4 * r.NormFloat64()) }),
			mk(1, 262144, uniform(-8, 8)),
		}},
		{Name: "spread", About: "spreads of 1e3 to 1e30 and ±MaxFloat32", Batches: []*Batch{
			mk(64, 1000, uniform(-1e3, 1e3)),
			mk(64, 100, uniform(-1e4, 1e4)),
			mk(64, 1000, uniform(-90, 0)),
			mk(32, 10, func(row, col int) float32 { // one 0, the rest near −1000
				if col == row%10 {
					return 0
				}
				return float32(-1000 + r.Float64())
			}),
			mk(16, 64, uniform(-1e30, 1e30)),
			mk(8, 8, func(row, col int) float32 {
				if (row+col)%3 == 0 {
					return math.MaxFloat32
				}
				return -math.MaxFloat32
			}),
		}},
		{Name: "masks", About: "-Inf logits: half, 90%, all but one, all", Batches: []*Batch{
			mk(64, 1000, func(int, int) float32 {
				if r.IntN(2) == 0 {
					return ninf
				}
				return float32(16*r.Float64() - 8)
			}),
			mk(64, 10, func(row, col int) float32 {
				if col != row%10 && r.IntN(10) != 0 {
					return ninf
				}
				return float32(16*r.Float64() - 8)
			}),
			mk(8, 1000, func(row, col int) float32 {
				if col != row*97%1000 {
					return ninf
				}
				return float32(r.NormFloat64())
			}),
			mk(4, 100, func(int, int) float32 { return ninf }),
		}},
		{Name: "ties", About: "equal logits, a repeated maximum", Batches: []*Batch{
			mk(32, 1000, func(int, int) float32 { return 3.25 }),
			mk(16, 4096, func(int, int) float32 { return 0 }),
			mk(32, 10, func(int, int) float32 { return 1e30 }),
			mk(8, 7, func(int, int) float32 { return -5 }),
			mk(32, 1000, func(int, int) float32 { return -float32(r.IntN(3)) }),
		}},
		{Name: "cutoff", About: "logits 85 to 89 below the max, across exp's cutoff", Batches: []*Batch{
			mk(64, 1000, func(row, col int) float32 {
				m := float32(row%7) - 3.3
				switch {
				case col == row%1000:
					return m
				case col%50 == 0:
					return m - float32(2*r.Float64())
				}
				return m - float32(85+4*r.Float64())
			}),
		}},
	}
}

// newBatch labels each row of x with a random finite logit, or ignores it
// (one row in 20, and every row of only −Inf).
func newBatch(r *rand.Rand, x []float32, cols int) *Batch {
	rows := len(x) / cols
	labels := make([]int32, rows)
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var finite []int32
		for j, v := range row {
			if !math.IsInf(float64(v), 0) && v == v {
				finite = append(finite, int32(j))
			}
		}
		labels[i] = kernels.IgnoreLabel
		if len(finite) > 0 && r.IntN(20) != 0 {
			labels[i] = finite[r.IntN(len(finite))]
		}
	}
	return &Batch{Cols: cols, X: x, Labels: labels}
}

// RowStats is what [Rows] measured on one group.
type RowStats struct {
	Group string
	Elems int // logits measured

	// SoftmaxRel is the largest relative error of a softmax output, over
	// the probabilities of at least 2⁻¹²⁵ (where float32 has full precision
	// and the exp's cutoff is out of reach); SoftmaxRatio is the largest
	// error as a fraction of its bound, over all outputs (≤ 1 passes).
	SoftmaxRel, SoftmaxRatio float64
	// LossRel is the largest relative error of a batch's mean cross-entropy
	// loss; GradErr the largest error of a gradient element times the
	// number of counted rows n (the gradient is (s − onehot)/n, so this is
	// the error in units of its scale); CERatio the largest error of either
	// as a fraction of its bound.
	LossRel, GradErr, CERatio float64

	// Err is the first missed bound, or a special value (NaN, ±Inf, an
	// exact 0) that does not match the reference.
	Err error
}

// Rows runs im's Softmax and CrossEntropyGrad on every batch of g and
// compares them with the float64 reference under the documented bounds:
// softmax within reference.SoftmaxBound with SumTol (plus 2⁻¹²⁶ absolute,
// where exp flushes to 0), the cross-entropy gradient and loss within
// reference.CrossEntropyGradBound.
func Rows(im Impl, g Group) RowStats {
	st := RowStats{Group: g.Name}
	var errs []error
	fail := func(what string, b *Batch, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s, %d×%d: %w", g.Name, what, len(b.Labels), b.Cols, err))
		}
	}
	for _, b := range g.Batches {
		b.ref()
		st.Elems += len(b.X)

		out := make([]float32, len(b.X))
		im.Softmax(out, b.X, b.Cols)
		smTol := func(i int) reference.Tol {
			return reference.Tol{Rel: b.smBound[i], Abs: fltMin, ExactZero: true}
		}
		fail("softmax", b, reference.CheckFunc(out, b.softmax, b.Cols, smTol))
		ratio, _ := reference.Worst(out, b.softmax, smTol)
		st.SoftmaxRatio = max(st.SoftmaxRatio, ratio)
		for i, w := range b.softmax {
			if w >= relMin && !math.IsInf(w, 0) {
				st.SoftmaxRel = max(st.SoftmaxRel, reference.RelErr(out[i], w))
			}
		}

		loss, err := im.CrossEntropyGrad(out, b.X, b.Labels, b.Cols)
		if err != nil {
			fail("cross-entropy", b, err)
			continue
		}
		gTol := func(i int) reference.Tol { return reference.Tol{Abs: b.gBound[i], ExactZero: true} }
		fail("cross-entropy gradient", b, reference.CheckFunc(out, b.grad, b.Cols, gTol))
		lTol := reference.Tol{Abs: b.lBound, Rel: 1e-12}
		fail("cross-entropy loss", b, reference.CheckValue(loss, b.loss, lTol))
		ratio, _ = reference.Worst(out, b.grad, gTol)
		st.CERatio = max(st.CERatio, ratio)
		if d := math.Abs(loss - b.loss); d > 0 && !math.IsInf(b.loss, 0) {
			st.CERatio = max(st.CERatio, d/lTol.Bound(b.loss))
			st.LossRel = max(st.LossRel, d/math.Abs(b.loss))
		}
		n := float64(b.counted)
		for i, w := range b.grad {
			if !math.IsNaN(w) && !math.IsInf(w, 0) {
				st.GradErr = max(st.GradErr, math.Abs(float64(out[i])-w)*n)
			}
		}
	}
	st.Err = errors.Join(errs...)
	return st
}

// Agreement is what [Agree] measured on one group.
type Agreement struct {
	Group string
	// SoftmaxULP is the largest difference of a softmax output from
	// generic's, in ULP, over the outputs that are finite and nonzero in
	// both.
	SoftmaxULP uint32
	// GradDiff is the largest difference of a cross-entropy gradient
	// element from generic's, times the number of counted rows n; LossDiff
	// the largest difference of a batch's loss.
	GradDiff, LossDiff float64
	// Err is the first difference beyond what two implementations of the
	// documented algorithm may differ by.
	Err error
}

// Agree runs im and generic on every batch of g and compares their softmax
// and cross-entropy outputs. Both evaluate exp with the same steps (within
// 1 ULP of each other: SIMD implementations fuse multiply-adds) and may add
// the row sum Z in different orders, each within SumTol of the exact sum.
// So an output must match generic's special values exactly (NaN, ±Inf, the
// zeros of flushed exps and masked logits), and otherwise be within 3 ULP
// plus twice SumTol relative (Z's difference); a gradient element within 4
// ULP plus twice SumTol of |g| + 1/n (the label's s − 1 cancels); the loss
// within twice SumTol (the difference of log Z).
func Agree(im, generic Impl, g Group) Agreement {
	ag := Agreement{Group: g.Name}
	var errs []error
	for _, b := range g.Batches {
		where := fmt.Sprintf("%s, %d×%d", g.Name, len(b.Labels), b.Cols)
		two := 2 * SumTol(b.Cols)
		got, want := make([]float32, len(b.X)), make([]float32, len(b.X))
		im.Softmax(got, b.X, b.Cols)
		generic.Softmax(want, b.X, b.Cols)
		u, err := near(got, want, b.Cols, func(w float64) float64 { return 3*reference.ULP(w) + two*math.Abs(w) })
		ag.SoftmaxULP = max(ag.SoftmaxULP, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s softmax: %w", where, err))
		}

		loss, err1 := im.CrossEntropyGrad(got, b.X, b.Labels, b.Cols)
		gloss, err2 := generic.CrossEntropyGrad(want, b.X, b.Labels, b.Cols)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("%s cross-entropy: %w", where, err))
			continue
		}
		var counted float64
		for _, l := range b.Labels {
			if l != kernels.IgnoreLabel {
				counted++
			}
		}
		invN := 1 / max(counted, 1)
		if _, err := near(got, want, b.Cols, func(w float64) float64 {
			s := math.Abs(w) + invN
			return 4*reference.ULP(s) + two*s
		}); err != nil {
			errs = append(errs, fmt.Errorf("%s cross-entropy gradient: %w", where, err))
		}
		for i := range got {
			if d := math.Abs(float64(got[i]) - float64(want[i])); !math.IsNaN(d) && !math.IsInf(d, 0) {
				ag.GradDiff = max(ag.GradDiff, d*counted)
			}
		}
		switch d := math.Abs(loss - gloss); {
		case math.IsNaN(loss) != math.IsNaN(gloss), math.IsInf(loss, 0) != math.IsInf(gloss, 0):
			errs = append(errs, fmt.Errorf("%s cross-entropy loss: %v, generic %v", where, loss, gloss))
		case math.IsNaN(d):
		case d > two+1e-12*math.Abs(gloss):
			errs = append(errs, fmt.Errorf("%s cross-entropy loss: %.10g, generic %.10g: difference %.3g > %.3g",
				where, loss, gloss, d, two+1e-12*math.Abs(gloss)))
			ag.LossDiff = max(ag.LossDiff, d)
		default:
			ag.LossDiff = max(ag.LossDiff, d)
		}
	}
	ag.Err = errors.Join(errs...)
	return ag
}

// near compares got with generic's want element by element: NaN and
// infinities must match, a zero in either must be a zero in the other, and
// any other pair must be within bound(want). It returns the largest ULP
// difference over the pairs that are finite and nonzero in both, and the
// first mismatch with the number of mismatches.
func near(got, want []float32, cols int, bound func(w float64) float64) (maxULP uint32, err error) {
	err = reference.CompareEach(got, want, cols, "generic", func(_ int, g, w float32) string {
		switch {
		case g != g || w != w:
			if g == g || w == w {
				return "NaN in only one of them"
			}
		case math.IsInf(float64(g), 0) || math.IsInf(float64(w), 0):
			if g != w {
				return "infinities differ"
			}
		case g == 0 || w == 0:
			if g != w {
				return "a zero in only one of them"
			}
		default:
			maxULP = max(maxULP, reference.ULPDiff(g, w))
			if d, b := math.Abs(float64(g)-float64(w)), bound(float64(w)); d > b {
				return fmt.Sprintf("|difference| %.3g > %.3g", d, b)
			}
		}
		return ""
	})
	return maxULP, err
}
