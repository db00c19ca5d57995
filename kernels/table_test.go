package kernels_test

// Table tests of every implementation in kernels.Available() against the
// float64 reference in internal/reference: every kernel, row lengths 0…70
// plus some large ones, special values, in-place calls, guard zones around
// every output, label errors, and the rank-1/rank-k updates.
//
// # Tolerances
//
// Every bound is derived from float32 rounding (eps = 2⁻²⁴, half an ULP) and
// from one parameter, sumTol: the relative error a kernel may make in a row
// sum or dot product. It is what the implementation's order of summation can
// cost (reference.SumDepth: generic adds in float64, the SIMD kernels lane by
// lane in float32 blocks of 256 elements), plus the exp's 2 ULP and a few
// roundings, and never more than the package documents for softmax: 2e-6
// for rows of up to 4096 and 1e-5 for rows of up to 262144, on top of the
// (|x_i − max| + w)·2⁻²⁴ that rounding x_i − max to float32 costs. The
// other kernels' bounds use the same sumTol for their sums (⟨dy, s⟩, Σ dy,
// Σ t, Σ t·(x − max)), the exact per-element formulas being documented in
// internal/reference (SoftmaxBound, LogSoftmaxBound, SoftmaxBackwardBound,
// LogSoftmaxBackwardBound, CrossEntropyGradBound, CrossEntropyGradSoftBound,
// GerBatchBound). Each bound scales with the magnitudes involved, so a wrong
// formula, a wrong max, a lost term or a swapped index shows up as an error
// of order 1 against bounds of order 1e-6.
//
// Each implementation's subtest logs the largest error it made as a fraction
// of its bound, both under sumTol and under tightTol (the bound with only
// the exp's error and a few roundings, which generic nearly meets), and for
// softmax and log-softmax the error beyond the rounding terms (the part
// sumTol pays for). Run with -v to see them. Ratios near 1 occur where the
// bound is a single float32 rounding or the 2⁻¹²⁶ floor below which exp
// returns 0: those terms are exact limits, not headroom.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/softgrad/softgrad/internal/reference"
	"github.com/softgrad/softgrad/kernels"
)

const (
	eps    = 0x1p-24  // relative error of one float32 rounding
	fltMin = 0x1p-126 // smallest normal float32: the float32 exp returns 0 below it

	guardLen = 5 // sentinel elements before and after every output buffer
	extraLen = 3 // output elements past the input's length, which must stay untouched
)

// sentinel fills guard zones and outputs before a call; a kernel never
// legitimately produces it from the test data.
var sentinel = float32(12345)

var (
	inf  = float32(math.Inf(1))
	ninf = float32(math.Inf(-1))
	nan  = float32(math.NaN())
)

// tightTol is what sumTol would be if sums were exact: 2 ULP for the exp
// and one rounding each for 1/Z and the product with it (2⁻²² + 2·2⁻²⁴).
// The generic implementation, which sums in float64, should stay close to
// bounds computed with it; they are only logged, never enforced.
const tightTol = 0x1p-21

// sumTol is the relative error im may make in the row sums r of rows of
// cols terms: what its order of summation can cost (reference.SumDepth),
// the exp's 2 ULP in the terms of a sum of exps, and the few roundings the
// bounds leave to it (the 1/Z and the product of a softmax), but never more
// than the package's documented accuracy: 2e-6 for rows of up to 4096 and
// 1e-5 beyond.
func sumTol(im *kernels.Impl, r reference.Reduction, cols int) float64 {
	contract := 2e-6
	if cols > 4096 {
		contract = 1e-5
	}
	return min(contract, (reference.SumDepth(im.Name(), r, cols)+10)*eps)
}

// implementations returns kernels.Available() and logs which ran.
func implementations(t *testing.T) []*kernels.Impl {
	t.Helper()
	av := kernels.Available()
	names := make([]string, len(av))
	for i, im := range av {
		names[i] = im.Name()
	}
	t.Logf("implementations: %s", strings.Join(names, ", "))
	return av
}

// forEachImpl runs f as a subtest per available implementation.
func forEachImpl(t *testing.T, f func(t *testing.T, im *kernels.Impl)) {
	for _, im := range implementations(t) {
		t.Run(im.Name(), func(t *testing.T) { f(t, im) })
	}
}

// guarded is a buffer of n elements with sentinel-filled zones on both
// sides, as in gonum's BLAS tests: out() is what a kernel gets as its output
// (n elements plus extraLen it must not write), data() the n it must write.
// align is where data() starts within a 64-byte line, in float32s.
type guarded struct {
	buf   []float32
	n     int
	align int
}

// nextAlign is the alignment the next guarded buffer gets. Each buffer
// advances it by 5, which is prime to 16: over the thousands of calls a
// test makes, every kernel gets its output and its inputs at every start
// alignment, and the arguments of one call at different ones. The guard-page
// tests run every alignment too, but compare an implementation only with
// itself; these compare it with the float64 reference.
var nextAlign atomic.Int32

func newGuarded(n int) guarded {
	const line = 16 // float32s per 64-byte line
	buf := make([]float32, line-1+guardLen+n+extraLen+guardLen)
	align := int(nextAlign.Add(5)) % line
	at := int(uintptr(unsafe.Pointer(&buf[guardLen]))/4) % line
	off := (align - at + line) % line
	buf = buf[off : off+guardLen+n+extraLen+guardLen]
	for i := range buf {
		buf[i] = sentinel
	}
	return guarded{buf, n, align}
}

// guardedCopy returns a guarded buffer holding a copy of x; its data() can
// serve as an input that an in-place call overwrites, with guards around it.
func guardedCopy(x []float32) guarded {
	g := newGuarded(len(x))
	copy(g.data(), x)
	return g
}

func (g guarded) out() []float32  { return g.buf[guardLen : guardLen+g.n+extraLen] }
func (g guarded) data() []float32 { return g.buf[guardLen : guardLen+g.n] }

// checkGuards reports the first element outside data() that is no longer
// the sentinel.
func (g guarded) checkGuards() error {
	for i, v := range g.buf {
		if i >= guardLen && i < guardLen+g.n {
			continue
		}
		if math.Float32bits(v) != math.Float32bits(sentinel) {
			where := fmt.Sprintf("%d elements before the output", guardLen-i)
			if i >= guardLen {
				where = fmt.Sprintf("output element %d (%d past the input's length)", i-guardLen, i-guardLen-g.n)
			}
			return fmt.Errorf("guard changed at %s: %v", where, v)
		}
	}
	return nil
}

// sameBits reports where a and b differ, treating any two NaNs as equal.
func sameBits(a, b []float32) error {
	if len(a) != len(b) {
		return fmt.Errorf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return fmt.Errorf("element %d: %v (%#08x) vs %v (%#08x)",
				i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
		}
	}
	return nil
}

func sameLoss(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

// stats records, per measure, the largest value seen and where.
type stats map[string]*struct {
	max   float64
	where string
}

func (s stats) add(key string, v float64, where string) {
	e := s[key]
	if e == nil {
		e = &struct {
			max   float64
			where string
		}{}
		s[key] = e
	}
	if v > e.max || e.where == "" {
		e.max, e.where = v, where
	}
}

func (s stats) log(t *testing.T) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-48s %.3g  (%s)", k, s[k].max, s[k].where)
	}
}

// rowCall is one call of a row kernel on one batch, with what to expect.
type rowCall struct {
	kernel string
	where  string // describes the batch in messages
	cols   int
	// in holds the kernel's float32 inputs; each lives in a guarded buffer
	// so that in-place calls are guarded too.
	in []guarded
	// run calls the kernel with the output out and the inputs in, and
	// returns its loss (0 for kernels without one).
	run func(out []float32, in [][]float32) float64
	// inPlace lists the inputs the output may be.
	inPlace []int

	want  []float64
	tol   func(i int) reference.Tol
	tight func(i int) reference.Tol // the same bound with sumTol = tightTol, for the log; may be nil

	hasLoss           bool
	wantLoss          float64
	lossTol, lossTigh reference.Tol
}

// inputs returns the data() of each input buffer.
func (c *rowCall) inputs() [][]float32 {
	in := make([][]float32, len(c.in))
	for i, g := range c.in {
		in[i] = g.data()
	}
	return in
}

// aligns describes where out and c's inputs start within a 64-byte line.
func (c *rowCall) aligns(out guarded) string {
	in := make([]int, len(c.in))
	for i, g := range c.in {
		in[i] = g.align
	}
	return fmt.Sprintf(" (output at alignment %d, inputs at %v)", out.align, in)
}

// check runs c out of place into a guarded output and in place into each
// allowed input, and reports every discrepancy: guards, modified inputs,
// accuracy against the reference, and in-place results that differ from the
// out-of-place one. It returns the out-of-place output and loss.
func (c *rowCall) check(t *testing.T, st stats) ([]float32, float64) {
	t.Helper()
	orig := make([][]float32, len(c.in))
	for i, g := range c.in {
		orig[i] = slices.Clone(g.data())
	}
	n := len(orig[0])
	out := newGuarded(n)
	loss := c.run(out.out(), c.inputs())
	got := out.data()
	if err := out.checkGuards(); err != nil {
		t.Errorf("%s %s: output: %v", c.kernel, c.where, err)
	}
	for i, g := range c.in {
		if err := sameBits(g.data(), orig[i]); err != nil {
			t.Errorf("%s %s: input %d modified: %v", c.kernel, c.where, i, err)
		}
		if err := g.checkGuards(); err != nil {
			t.Errorf("%s %s: input %d: %v", c.kernel, c.where, i, err)
		}
	}
	if err := reference.CheckFunc(got, c.want, c.cols, c.tol); err != nil {
		t.Errorf("%s %s%s: %v", c.kernel, c.where, c.aligns(out), err)
	}
	if r, at := reference.Worst(got, c.want, c.tol); at >= 0 {
		st.add(c.kernel+" err/bound", r, c.where)
	}
	if c.tight != nil {
		if r, at := reference.Worst(got, c.want, c.tight); at >= 0 {
			st.add(c.kernel+" err/bound(sumTol=2^-21)", r, c.where)
		}
	}
	if c.hasLoss {
		if err := reference.CheckValue(loss, c.wantLoss, c.lossTol); err != nil {
			t.Errorf("%s %s: loss: %v", c.kernel, c.where, err)
		}
		if d := math.Abs(loss - c.wantLoss); !math.IsInf(c.wantLoss, 0) && !math.IsNaN(c.wantLoss) && d > 0 {
			st.add(c.kernel+" loss err/bound", d/c.lossTol.Bound(c.wantLoss), c.where)
			st.add(c.kernel+" loss err/bound(sumTol=2^-21)", d/c.lossTigh.Bound(c.wantLoss), c.where)
		}
	}
	for _, ip := range c.inPlace {
		in := c.inputs()
		l := c.run(in[ip], in)
		if err := sameBits(in[ip], got); err != nil {
			t.Errorf("%s %s%s: in place (output = input %d) differs from out of place: %v", c.kernel, c.where, c.aligns(out), ip, err)
		}
		if c.hasLoss && !sameLoss(l, loss) {
			t.Errorf("%s %s: in place (output = input %d): loss %v, out of place %v", c.kernel, c.where, ip, l, loss)
		}
		for i, g := range c.in {
			if err := g.checkGuards(); err != nil {
				t.Errorf("%s %s: in place: input %d: %v", c.kernel, c.where, i, err)
			}
			if i != ip {
				if err := sameBits(g.data(), orig[i]); err != nil {
					t.Errorf("%s %s: in place into input %d modified input %d: %v", c.kernel, c.where, ip, i, err)
				}
			}
		}
		copy(c.in[ip].data(), orig[ip])
	}
	return got, loss
}

// absTol turns per-element absolute bounds into a tolerance function.
func absTol(b []float64, exactZero bool) func(int) reference.Tol {
	return func(i int) reference.Tol { return reference.Tol{Abs: b[i], ExactZero: exactZero} }
}

// softmaxTol is the documented softmax bound: relative sumTol plus the
// rounding term, and an absolute 2⁻¹²⁶ for results the float32 exp flushes
// to 0 or that are subnormal. A probability of exactly 0 must be exactly 0.
func softmaxTol(src []float32, cols int, tol float64) func(int) reference.Tol {
	rel := reference.SoftmaxBound(src, cols, tol)
	return func(i int) reference.Tol { return reference.Tol{Rel: rel[i], Abs: fltMin, ExactZero: true} }
}

// Row kernel calls. Each builds the rowCall of one kernel for the given
// inputs, with the reference result and bounds.

func softmaxCall(im *kernels.Impl, where string, src []float32, cols int) *rowCall {
	return &rowCall{
		kernel: "Softmax", where: where, cols: cols,
		in:      []guarded{guardedCopy(src)},
		run:     func(out []float32, in [][]float32) float64 { im.Softmax(out, in[0], cols); return 0 },
		inPlace: []int{0},
		want:    reference.Softmax(src, cols),
		tol:     softmaxTol(src, cols, sumTol(im, reference.ExpSum, cols)),
		tight:   softmaxTol(src, cols, tightTol),
	}
}

func logSoftmaxCall(im *kernels.Impl, where string, src []float32, cols int) *rowCall {
	return &rowCall{
		kernel: "LogSoftmax", where: where, cols: cols,
		in:      []guarded{guardedCopy(src)},
		run:     func(out []float32, in [][]float32) float64 { im.LogSoftmax(out, in[0], cols); return 0 },
		inPlace: []int{0},
		want:    reference.LogSoftmax(src, cols),
		tol:     absTol(reference.LogSoftmaxBound(src, cols, sumTol(im, reference.ExpSum, cols)), false),
		tight:   absTol(reference.LogSoftmaxBound(src, cols, tightTol), false),
	}
}

func softmaxBackwardCall(im *kernels.Impl, where string, s, dy []float32, cols int) *rowCall {
	return &rowCall{
		kernel: "SoftmaxBackward", where: where, cols: cols,
		in: []guarded{guardedCopy(s), guardedCopy(dy)},
		run: func(out []float32, in [][]float32) float64 {
			im.SoftmaxBackward(out, in[0], in[1], cols)
			return 0
		},
		inPlace: []int{0, 1},
		want:    reference.SoftmaxBackward(s, dy, cols),
		// s_i = 0 gives exactly 0 whatever dy_i − ⟨dy, s⟩ is, if finite.
		tol:   absTol(reference.SoftmaxBackwardBound(s, dy, cols, sumTol(im, reference.RowSum, cols)), true),
		tight: absTol(reference.SoftmaxBackwardBound(s, dy, cols, tightTol), true),
	}
}

func logSoftmaxBackwardCall(im *kernels.Impl, where string, logp, dy []float32, cols int) *rowCall {
	return &rowCall{
		kernel: "LogSoftmaxBackward", where: where, cols: cols,
		in: []guarded{guardedCopy(logp), guardedCopy(dy)},
		run: func(out []float32, in [][]float32) float64 {
			im.LogSoftmaxBackward(out, in[0], in[1], cols)
			return 0
		},
		inPlace: []int{0, 1},
		want:    reference.LogSoftmaxBackward(logp, dy, cols),
		tol:     absTol(reference.LogSoftmaxBackwardBound(logp, dy, cols, sumTol(im, reference.RowSum, cols)), false),
		tight:   absTol(reference.LogSoftmaxBackwardBound(logp, dy, cols, tightTol), false),
	}
}

func crossEntropyCall(t *testing.T, im *kernels.Impl, where string, logits []float32, labels []int32, cols int) *rowCall {
	want, wantLoss := reference.CrossEntropyGrad(logits, labels, cols)
	b, lb := reference.CrossEntropyGradBound(logits, labels, cols, sumTol(im, reference.ExpSum, cols))
	bt, lbt := reference.CrossEntropyGradBound(logits, labels, cols, tightTol)
	return &rowCall{
		kernel: "CrossEntropyGrad", where: where, cols: cols,
		in: []guarded{guardedCopy(logits)},
		run: func(out []float32, in [][]float32) float64 {
			loss, err := im.CrossEntropyGrad(out, in[0], labels, cols)
			if err != nil {
				t.Errorf("CrossEntropyGrad %s: unexpected error %v", where, err)
			}
			return loss
		},
		inPlace: []int{0},
		want:    want,
		// Ignored rows have bound 0 and must be exactly 0, as must the
		// gradient of a logit whose probability is exactly 0.
		tol:      absTol(b, true),
		tight:    absTol(bt, true),
		hasLoss:  true,
		wantLoss: wantLoss,
		// The loss is a float64 mean; its bound is absolute, plus 1e-12
		// relative for the float64 arithmetic of the mean itself.
		lossTol:  reference.Tol{Abs: lb, Rel: 1e-12},
		lossTigh: reference.Tol{Abs: lbt, Rel: 1e-12},
	}
}

func crossEntropySoftCall(im *kernels.Impl, where string, logits, targets []float32, cols int) *rowCall {
	want, wantLoss := reference.CrossEntropyGradSoft(logits, targets, cols)
	b, lb := reference.CrossEntropyGradSoftBound(logits, targets, cols, sumTol(im, reference.SoftSums, cols))
	bt, lbt := reference.CrossEntropyGradSoftBound(logits, targets, cols, tightTol)
	return &rowCall{
		kernel: "CrossEntropyGradSoft", where: where, cols: cols,
		in: []guarded{guardedCopy(logits), guardedCopy(targets)},
		run: func(out []float32, in [][]float32) float64 {
			return im.CrossEntropyGradSoft(out, in[0], in[1], cols)
		},
		inPlace:  []int{0}, // grad may be logits, never targets
		want:     want,
		tol:      absTol(b, false),
		tight:    absTol(bt, false),
		hasLoss:  true,
		wantLoss: wantLoss,
		lossTol:  reference.Tol{Abs: lb, Rel: 1e-12},
		lossTigh: reference.Tol{Abs: lbt, Rel: 1e-12},
	}
}

// Random data.

type shape struct{ rows, cols int }

func (s shape) String() string { return fmt.Sprintf("rows=%d cols=%d", s.rows, s.cols) }

// rowShapes lists the batches every row kernel is tested on: row lengths
// 0…70 (every SIMD tail), 1000, 4096, 65537 and, unless -short, 262144.
func rowShapes() []shape {
	s := []shape{{0, 0}}
	for c := 1; c <= 70; c++ {
		s = append(s, shape{1, c}, shape{3, c})
	}
	// Rows of up to 16 in groups of 8 and 16 rows and a remainder (the
	// short-row softmax of the SIMD implementations), whole groups only (which
	// CrossEntropyGrad needs to take the short-row path: its blocks of 64 rows
	// must be whole groups), and a 10-class batch.
	for c := 1; c <= 17; c++ {
		s = append(s, shape{35, c}, shape{64, c})
	}
	s = append(s, shape{256, 10})
	s = append(s, shape{1, 1000}, shape{3, 1000}, shape{1, 4096}, shape{2, 4096}, shape{1, 65537})
	if !testing.Short() {
		s = append(s, shape{1, 262144})
	}
	return s
}

// logitScales are the half-widths of the uniform logit distributions: ±20
// (every probability a normal float32) and ±200 (most of each row below
// exp's underflow threshold).
var logitScales = []float64{20, 200}

func newRand(sh shape, salt uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(sh.rows)<<32|uint64(sh.cols), 0x50f7_6ad0+salt))
}

func uniform(r *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return x
}

// distributions returns rows random distributions of cols entries (an
// exponential variate per entry, normalised); with zeros, about a quarter
// of the entries are 0. With varyMass, row r is scaled by 1 + r%3/2 so that
// target masses other than 1 (1.5 and 2) are covered too.
func distributions(r *rand.Rand, sh shape, zeros, varyMass bool) []float32 {
	t := make([]float32, sh.rows*sh.cols)
	for row := range sh.rows {
		x := t[row*sh.cols : (row+1)*sh.cols]
		var s float64
		u := make([]float64, sh.cols)
		for i := range u {
			if !zeros || r.IntN(4) != 0 {
				u[i] = r.ExpFloat64()
			}
			s += u[i]
		}
		if s == 0 {
			u[0], s = 1, 1
		}
		mass := 1.0
		if varyMass {
			mass += float64(row%3) / 2
		}
		for i := range x {
			x[i] = float32(mass * u[i] / s)
		}
	}
	return t
}

func toFloat32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// randomCalls calls f with the call of every row kernel on random data of
// every shape and logit scale, one batch at a time.
func randomCalls(t *testing.T, im *kernels.Impl, f func(*rowCall)) {
	for _, sh := range rowShapes() {
		n := sh.rows * sh.cols
		for si, scale := range logitScales {
			r := newRand(sh, uint64(si))
			where := fmt.Sprintf("%v logits ±%g", sh, scale)
			x := uniform(r, n, -scale, scale)
			dy := uniform(r, n, -1, 1)
			s := toFloat32(reference.Softmax(x, sh.cols))
			logp := toFloat32(reference.LogSoftmax(x, sh.cols))
			labels := make([]int32, sh.rows)
			for i := range labels {
				labels[i] = int32(r.IntN(sh.cols))
				if sh.rows == 3 && i == 1 && si == 0 {
					labels[i] = kernels.IgnoreLabel
				}
			}
			targets := distributions(r, sh, si == 1, true)
			f(softmaxCall(im, where, x, sh.cols))
			f(logSoftmaxCall(im, where, x, sh.cols))
			f(softmaxBackwardCall(im, where, s, dy, sh.cols))
			f(logSoftmaxBackwardCall(im, where, logp, dy, sh.cols))
			f(crossEntropyCall(t, im, where, x, labels, sh.cols))
			f(crossEntropySoftCall(im, where, x, targets, sh.cols))
		}
	}
}

// TestRowKernels checks every row kernel of every implementation against the
// reference on random data, out of place and in place, with guard zones.
func TestRowKernels(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		st := stats{}
		randomCalls(t, im, func(c *rowCall) {
			got, _ := c.check(t, st)
			measureBeyondRounding(c, got, st)
		})
		st.log(t)
	})
}

// measureBeyondRounding records, for softmax and log-softmax, the error
// beyond the unavoidable rounding terms (relative for softmax, absolute for
// log-softmax): the part of the error that sumTol has to cover.
func measureBeyondRounding(c *rowCall, got []float32, st stats) {
	if c.kernel != "Softmax" && c.kernel != "LogSoftmax" {
		return
	}
	for i, w := range c.want {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			continue
		}
		t := c.tight(i) // tightTol + the rounding terms
		d := math.Abs(float64(got[i]) - w)
		switch c.kernel {
		case "Softmax":
			if w > fltMin {
				st.add("Softmax rel err beyond rounding term", d/w-(t.Rel-tightTol), c.where)
			}
		case "LogSoftmax":
			st.add("LogSoftmax abs err beyond rounding terms", d-(t.Abs-tightTol), c.where)
		}
	}
}

// TestSoftmaxLongRow checks the larger documented bound on one row of
// 262144 logits (rowShapes has it too, but this names it) and that such a
// row still sums to 1 within that bound.
func TestSoftmaxLongRow(t *testing.T) {
	if testing.Short() {
		t.Skip("long row skipped in -short mode")
	}
	const cols = 262144
	r := newRand(shape{1, cols}, 99)
	x := uniform(r, cols, -20, 20)
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		st := stats{}
		got, _ := softmaxCall(im, "one row of 262144", x, cols).check(t, st)
		// The sum is within Σ s_i·bound_i of 1.
		rel := reference.SoftmaxBound(x, cols, sumTol(im, reference.ExpSum, cols))
		want := reference.Softmax(x, cols)
		var sum, bound float64
		for i, v := range got {
			sum += float64(v)
			bound += want[i] * rel[i]
		}
		if math.Abs(sum-1) > bound {
			t.Errorf("softmax of 262144 logits sums to 1%+.3g, bound %.3g", sum-1, bound)
		}
		st.log(t)
	})
}

// Special values.

// special is a row pattern: it sets the special values of a row of normal
// logits, at position p.
type special struct {
	name string
	set  func(x []float32, p int)
}

var specials = []special{
	{"-Inf", func(x []float32, p int) { x[p] = ninf }},
	{"-Inf every other", func(x []float32, p int) {
		for i := p % 2; i < len(x); i += 2 {
			x[i] = ninf
		}
	}},
	{"all -Inf", func(x []float32, p int) { fill(x, ninf) }},
	{"+Inf", func(x []float32, p int) { x[p] = inf }},
	{"NaN", func(x []float32, p int) { x[p] = nan }},
	{"+Inf and -Inf", func(x []float32, p int) { x[p], x[(p+1)%len(x)] = inf, ninf }},
	{"NaN and -Inf", func(x []float32, p int) { x[p], x[(p+1)%len(x)] = nan, ninf }},
	{"0 and -1000", func(x []float32, p int) { fill(x, -1000); x[p] = 0 }},
	{"1e38 and -1e38", func(x []float32, p int) { x[p], x[(p+1)%len(x)] = 1e38, -1e38 }},
	{"MaxFloat32", func(x []float32, p int) { x[p] = math.MaxFloat32 }},
	{"-MaxFloat32", func(x []float32, p int) { x[p] = -math.MaxFloat32 }},
	{"all equal 1e30", func(x []float32, p int) { fill(x, 1e30) }},
	{"subnormal", func(x []float32, p int) {
		for i := range x {
			x[i] = math.Float32frombits(uint32(i*7 + 1))
		}
	}},
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

// specialCase is a batch of three rows, the middle one special; the others
// are normal and must come out as they would alone.
type specialCase struct {
	where string
	cols  int
	p     int // the special position
	x     []float32
}

// specialCases lists every special pattern at the start, middle and end of
// a row of 1, 5 and 37 logits (37 exercises SIMD main loops and tails).
func specialCases() []specialCase {
	var cs []specialCase
	for _, cols := range []int{1, 5, 37} {
		for _, p := range slices.Compact([]int{0, cols / 2, cols - 1}) {
			for si, sp := range specials {
				r := newRand(shape{3, cols}, uint64(100+si*64+p))
				x := uniform(r, 3*cols, -5, 5)
				sp.set(x[cols:2*cols], p)
				cs = append(cs, specialCase{
					where: fmt.Sprintf("cols=%d middle row %q at %d", cols, sp.name, p),
					cols:  cols, p: p, x: x,
				})
			}
		}
	}
	return cs
}

// TestSpecialValues checks every row kernel on rows holding infinities,
// NaNs and extreme spreads, against the reference (which encodes the
// documented special-value semantics) and, for the cases the documentation
// spells out, against those exact values.
func TestSpecialValues(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		st := stats{}
		for ci, c := range specialCases() {
			cols, n := c.cols, len(c.x)
			mid := func(v []float32) []float32 { return v[cols : 2*cols] }
			r := newRand(shape{3, cols}, uint64(1000+ci))
			dy := uniform(r, n, -1, 1)

			sm, _ := softmaxCall(im, c.where, c.x, cols).check(t, st)
			ls, _ := logSoftmaxCall(im, c.where, c.x, cols).check(t, st)
			checkSpecialSemantics(t, c, mid(c.x), mid(sm), mid(ls))

			// Backward passes get the special row's own softmax and
			// log-softmax (zeros, −Inf, NaN rows), and then normal
			// s/logp with the special values in dy.
			s := toFloat32(reference.Softmax(c.x, cols))
			logp := toFloat32(reference.LogSoftmax(c.x, cols))
			softmaxBackwardCall(im, c.where, s, dy, cols).check(t, st)
			logSoftmaxBackwardCall(im, c.where, logp, dy, cols).check(t, st)
			dyS := slices.Clone(c.x) // the special row as dy
			for i := range dyS {
				if i < cols || i >= 2*cols {
					dyS[i] = dy[i]
				}
			}
			normal := uniform(r, n, -5, 5)
			s = toFloat32(reference.Softmax(normal, cols))
			logp = toFloat32(reference.LogSoftmax(normal, cols))
			softmaxBackwardCall(im, c.where+" in dy", s, dyS, cols).check(t, st)
			logSoftmaxBackwardCall(im, c.where+" in dy", logp, dyS, cols).check(t, st)
			// The special row as logp: above 0 (Inf, 1e38…) counts as 0,
			// a NaN spoils only its own element.
			logSoftmaxBackwardCall(im, c.where+" in logp", c.x, dy, cols).check(t, st)

			for _, lab := range []struct {
				name  string
				label int32
			}{
				{"label at special", int32(c.p)},
				{"label next to special", int32((c.p + 1) % cols)},
				{"special row ignored", kernels.IgnoreLabel},
			} {
				labels := []int32{int32(r.IntN(cols)), lab.label, int32(r.IntN(cols))}
				where := c.where + ", " + lab.name
				g, loss := crossEntropyCall(t, im, where, c.x, labels, cols).check(t, st)
				checkCrossEntropySemantics(t, c, lab.label, mid(g), loss, where)
			}
			oneHot := make([]float32, n)
			for row := range 3 {
				oneHot[row*cols+(c.p+row)%cols] = 1
			}
			for _, tg := range []struct {
				name string
				t    []float32
			}{
				// Mass 1: with a larger mass, the row loss of a logit
				// of ±MaxFloat32 exceeds the float32 range, which a
				// float32 accumulation of Σ t_i·(x_i − max) may turn into
				// +Inf, as PyTorch's float32 loss would.
				{"random targets", distributions(r, shape{3, cols}, false, false)},
				{"one-hot targets", oneHot},
			} {
				crossEntropySoftCall(im, c.where+", "+tg.name, c.x, tg.t, cols).check(t, st)
			}
		}
		st.log(t)
	})
}

// checkSpecialSemantics checks the documented outputs of the special row
// directly, independently of the reference.
func checkSpecialSemantics(t *testing.T, c specialCase, x, sm, ls []float32) {
	t.Helper()
	hasNaN, hasPosInf, allNegInf := false, false, true
	for _, v := range x {
		hasNaN = hasNaN || v != v
		hasPosInf = hasPosInf || v == inf
		allNegInf = allNegInf && v == ninf
	}
	for i, v := range x {
		switch {
		case hasNaN || hasPosInf || allNegInf:
			if sm[i] == sm[i] || ls[i] == ls[i] {
				t.Errorf("%s: element %d: softmax %v, log-softmax %v, want NaN (whole row)", c.where, i, sm[i], ls[i])
			}
		case v == ninf:
			if math.Float32bits(sm[i]) != 0 || ls[i] != ninf {
				t.Errorf("%s: -Inf logit %d: softmax %v, log-softmax %v, want +0 and -Inf", c.where, i, sm[i], ls[i])
			}
		case strings.Contains(c.where, `"0 and -1000"`):
			want := float32(0)
			if i == c.p {
				want = 1
			}
			if sm[i] != want {
				t.Errorf("%s: element %d: softmax %v, want exactly %v", c.where, i, sm[i], want)
			}
		}
		if sm[i] < 0 || sm[i] > 1 || ls[i] > 0 {
			t.Errorf("%s: element %d: softmax %v, log-softmax %v out of range", c.where, i, sm[i], ls[i])
		}
	}
}

// checkCrossEntropySemantics checks the documented CrossEntropyGrad results
// for the special middle row directly.
func checkCrossEntropySemantics(t *testing.T, c specialCase, label int32, g []float32, loss float64, where string) {
	t.Helper()
	if label == kernels.IgnoreLabel {
		for i, v := range g {
			if math.Float32bits(v) != 0 {
				t.Errorf("%s: ignored row grad[%d] = %v, want +0", where, i, v)
			}
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			t.Errorf("%s: ignored special row changed the loss to %v", where, loss)
		}
		return
	}
	x := c.x[c.cols : 2*c.cols]
	undefined, allNegInf := false, true
	for _, v := range x {
		undefined = undefined || v != v || v == inf
		allNegInf = allNegInf && v == ninf
	}
	switch {
	case undefined || allNegInf:
		if !math.IsNaN(loss) {
			t.Errorf("%s: loss %v, want NaN", where, loss)
		}
		for i, v := range g {
			if v == v {
				t.Errorf("%s: grad[%d] = %v, want NaN", where, i, v)
			}
		}
	case x[label] == ninf:
		if !math.IsInf(loss, 1) {
			t.Errorf("%s: label on a -Inf logit: loss %v, want +Inf", where, loss)
		}
	default:
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			t.Errorf("%s: loss %v, want finite", where, loss)
		}
	}
}

// Cross-entropy labels.

// TestCrossEntropyIgnore checks ignored rows (zero gradient, not counted)
// and the all-ignored batch (NaN loss, zero gradient).
func TestCrossEntropyIgnore(t *testing.T) {
	// Rows longer than any short-row path: the batch of 4 and the batch of
	// its 2 counted rows take the same per-row path, so the same bits.
	const cols = 17
	r := newRand(shape{4, cols}, 7)
	x := uniform(r, 4*cols, -3, 3)
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		labels := []int32{3, kernels.IgnoreLabel, 0, kernels.IgnoreLabel}
		g := newGuarded(len(x))
		loss, err := im.CrossEntropyGrad(g.out(), x, labels, cols)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.checkGuards(); err != nil {
			t.Error(err)
		}
		// Counted rows alone, as a batch of two, give the same mean loss and
		// (the gradient being divided by n = 2 either way) the same rows.
		x2 := append(slices.Clone(x[:cols]), x[2*cols:3*cols]...)
		g2 := make([]float32, len(x2))
		loss2, err := im.CrossEntropyGrad(g2, x2, []int32{3, 0}, cols)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameBits(slices.Concat(g.data()[:cols], g.data()[2*cols:3*cols]), g2); err != nil {
			t.Errorf("counted rows differ from the same rows without the ignored ones: %v", err)
		}
		if math.Abs(loss-loss2) > 1e-12*math.Abs(loss2) {
			t.Errorf("loss %v with ignored rows, %v without", loss, loss2)
		}
		for _, row := range []int{1, 3} {
			for i, v := range g.data()[row*cols : (row+1)*cols] {
				if math.Float32bits(v) != 0 {
					t.Errorf("ignored row %d: grad[%d] = %v, want +0", row, i, v)
				}
			}
		}
		want, wantLoss := reference.CrossEntropyGrad(x, labels, cols)
		b, lb := reference.CrossEntropyGradBound(x, labels, cols, sumTol(im, reference.ExpSum, cols))
		if err := reference.CheckFunc(g.data(), want, cols, absTol(b, true)); err != nil {
			t.Error(err)
		}
		if err := reference.CheckValue(loss, wantLoss, reference.Tol{Abs: lb}); err != nil {
			t.Errorf("loss: %v", err)
		}

		// Every label ignored: NaN loss, gradient all zero, guards intact.
		all := []int32{-1, -1, -1, -1}
		g = newGuarded(len(x))
		loss, err = im.CrossEntropyGrad(g.out(), x, all, cols)
		if err != nil || !math.IsNaN(loss) {
			t.Errorf("all ignored: loss %v, err %v; want NaN, nil", loss, err)
		}
		for i, v := range g.data() {
			if v != 0 {
				t.Errorf("all ignored: grad[%d] = %v, want 0", i, v)
				break
			}
		}
		if err := g.checkGuards(); err != nil {
			t.Errorf("all ignored: %v", err)
		}
		// No rows at all: NaN too.
		if loss, err := im.CrossEntropyGrad(nil, nil, nil, cols); err != nil || !math.IsNaN(loss) {
			t.Errorf("no rows: loss %v, err %v; want NaN, nil", loss, err)
		}
		if loss := im.CrossEntropyGradSoft(nil, nil, nil, cols); !math.IsNaN(loss) {
			t.Errorf("soft, no rows: loss %v, want NaN", loss)
		}
	})
}

// TestCrossEntropyLabelError checks that an invalid label returns a
// *kernels.LabelError naming it and leaves the gradient bit-for-bit
// untouched, wherever the label is and whether or not grad is logits.
func TestCrossEntropyLabelError(t *testing.T) {
	const cols, rows = 5, 3
	r := newRand(shape{rows, cols}, 8)
	x := uniform(r, rows*cols, -3, 3)
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		for _, bad := range []int32{cols, cols + 1, -2, math.MinInt32, math.MaxInt32, 1 << 20} {
			for row := range rows {
				labels := []int32{1, kernels.IgnoreLabel, 4}
				labels[row] = bad
				for _, inPlace := range []bool{false, true} {
					where := fmt.Sprintf("label %d in row %d (in place %v)", bad, row, inPlace)
					g := newGuarded(len(x))
					var err error
					before := slices.Clone(g.buf)
					if inPlace {
						copy(g.data(), x)
						before = slices.Clone(g.buf)
						_, err = im.CrossEntropyGrad(g.data(), g.data(), labels, cols)
					} else {
						_, err = im.CrossEntropyGrad(g.out(), x, labels, cols)
					}
					var le *kernels.LabelError
					if !errors.As(err, &le) {
						t.Errorf("%s: err = %v (%T), want *kernels.LabelError", where, err, err)
						continue
					}
					if le.Row != row || le.Label != bad || le.Cols != cols {
						t.Errorf("%s: LabelError%+v, want Row %d Label %d Cols %d", where, *le, row, bad, cols)
					}
					msg := err.Error()
					for _, frag := range []string{"kernels:", strconv.Itoa(row), strconv.Itoa(int(bad)), strconv.Itoa(cols)} {
						if !strings.Contains(msg, frag) {
							t.Errorf("%s: message %q lacks %q", where, msg, frag)
						}
					}
					if !strings.HasPrefix(msg, "kernels:") {
						t.Errorf("%s: message %q does not start with \"kernels:\"", where, msg)
					}
					if err := sameBits(g.buf, before); err != nil {
						t.Errorf("%s: grad written despite the error: %v", where, err)
					}
				}
			}
		}
	})
}

// Ger and GerBatch.

// gerCase is one rank-k update: A (m×n, stride lda) += alpha·XᵀY with X k×m
// and Y k×n; k < 0 means Ger (one sample, x of length m and y of length n).
type gerCase struct {
	m, n, k, lda int
	alpha        float32
}

func (c gerCase) String() string {
	if c.k < 0 {
		return fmt.Sprintf("Ger m=%d n=%d lda=%d alpha=%g", c.m, c.n, c.lda, c.alpha)
	}
	return fmt.Sprintf("GerBatch m=%d n=%d k=%d lda=%d alpha=%g", c.m, c.n, c.k, c.lda, c.alpha)
}

func gerCases() []gerCase {
	var cs []gerCase
	for _, k := range []int{-1, 0, 1, 2, 5, 32} {
		for _, m := range []int{0, 1, 2, 3, 10, 33} {
			for _, n := range []int{0, 1, 2, 3, 10, 17, 64, 65} {
				for _, lda := range []int{max(1, n), n + 5} {
					for _, alpha := range []float32{0, 1, -0.5} {
						cs = append(cs, gerCase{m, n, k, lda, alpha})
					}
				}
			}
		}
	}
	// A 784-input, 10-class layer (MNIST-shaped) and a taller one.
	for _, k := range []int{-1, 1, 32} {
		cs = append(cs, gerCase{784, 10, k, 10, -0.5}, gerCase{784, 10, k, 16, 0.01}, gerCase{100, 130, k, 131, 1})
	}
	return cs
}

// TestGer checks Ger and GerBatch against the reference: the m×n elements
// within (3k+1)·2⁻²⁴ of their magnitude (reference.GerBatchBound), and the
// padding between rows, the elements past the matrix and the guards bit for
// bit unchanged; x and y are not modified.
func TestGer(t *testing.T) {
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		st := stats{}
		for ci, c := range gerCases() {
			checkGer(t, im, ci, c, &st)
		}
		st.log(t)
	})
}

// TestGerBatchTiles checks GerBatch as TestGer does on every m and n in
// 1 … 40 (every edge of the micro-kernels' tiles: row groups of up to 16,
// columns in 1 … 2 vectors and a tail) for several k, and on shapes that go
// through the packed cache blocks (n > 64): several blocks in each of k, m
// and n, ragged last blocks, and rows 4 KB apart.
func TestGerBatchTiles(t *testing.T) {
	var cs []gerCase
	for _, k := range []int{2, 3, 7} {
		for m := 1; m <= 40; m++ {
			for n := 1; n <= 40; n++ {
				cs = append(cs, gerCase{m, n, k, n + k%2, 0.75})
			}
		}
	}
	cs = append(cs,
		gerCase{65, 65, 2, 65, 1}, gerCase{193, 129, 65, 131, -0.25}, gerCase{200, 300, 130, 301, 0.5},
		gerCase{97, 1024, 70, 1024, -1}, gerCase{3, 1000, 200, 1000, 1})
	forEachImpl(t, func(t *testing.T, im *kernels.Impl) {
		st := stats{}
		for ci, c := range cs {
			checkGer(t, im, ci, c, &st)
		}
		st.log(t)
	})
}

// checkGer runs the case c (number ci, the seed of its data) on im.
func checkGer(t *testing.T, im *kernels.Impl, ci int, c gerCase, st *stats) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(ci), 0x6e7))
	k := max(c.k, 1)
	x := uniform(r, k*c.m, -1, 1)
	y := uniform(r, k*c.n, -1, 1)
	size := extraLen // elements past the matrix
	if c.m > 0 && c.n > 0 {
		size += (c.m-1)*c.lda + c.n
	}
	g := guardedCopy(uniform(r, size, -1, 1)) // the kernel gets all of data()
	a := g.data()
	a0 := slices.Clone(a)
	x0, y0 := slices.Clone(x), slices.Clone(y)

	var want, b []float64
	if c.k < 0 {
		im.Ger(a, c.lda, c.alpha, x, y)
		want = reference.Ger(a0, c.lda, c.alpha, x, y)
	} else {
		x, y = x[:c.k*c.m], y[:c.k*c.n]
		x0, y0 = x0[:len(x)], y0[:len(y)]
		im.GerBatch(a, c.lda, c.alpha, x, c.m, y, c.n)
		want = reference.GerBatch(a0, c.lda, c.alpha, x, c.m, y, c.n)
	}
	b = reference.GerBatchBound(a0, c.lda, c.alpha, x, c.m, y, c.n)
	if err := g.checkGuards(); err != nil {
		t.Errorf("%v: %v", c, err)
	}
	if err := sameBits(x, x0); err != nil {
		t.Errorf("%v: x modified: %v", c, err)
	}
	if err := sameBits(y, y0); err != nil {
		t.Errorf("%v: y modified: %v", c, err)
	}
	for i := range a {
		inside := i/c.lda < c.m && i%c.lda < c.n && i < size-extraLen
		if !inside && math.Float32bits(a[i]) != math.Float32bits(a0[i]) {
			t.Errorf("%v: element %d (row %d, col %d) outside the matrix changed from %v to %v",
				c, i, i/c.lda, i%c.lda, a0[i], a[i])
			break
		}
	}
	if err := reference.CheckFunc(a, want, c.lda, absTol(b, false)); err != nil {
		t.Errorf("%v: %v", c, err)
	}
	if r, at := reference.Worst(a, want, absTol(b, false)); at >= 0 {
		st.add("Ger/GerBatch err/bound", r, c.String())
	}
	if c.alpha == 0 {
		if err := sameBits(a, a0); err != nil {
			t.Errorf("%v: alpha 0 changed a: %v", c, err)
		}
	}
}
