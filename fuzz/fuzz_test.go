package fuzz

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/softgrad/softgrad/internal/reference"
	"github.com/softgrad/softgrad/kernels"
)

// Tolerances of generic against the float64 reference.
const (
	// softmaxRefRel is the package's documented accuracy: a softmax within
	// 2e-6 relative error of a float64 computation for rows up to 4096
	// (maxElems bounds every row here), on top of the unavoidable
	// (|x_i − max| + w)·2⁻²⁴ that reference.SoftmaxBound adds.
	softmaxRefRel = 2e-6
	// softmaxRefAbs covers exp's cutoff (arguments below −87.34 give 0 where
	// the exact e^x/Z is below 2⁻¹²⁶) and subnormal outputs.
	softmaxRefAbs = 0x1p-126
	// sumULP bounds the rounding error of generic's sums and dot products in
	// units of 2⁻²⁴·Σ|terms|: reference.SumDepth("generic", …), 2 and the
	// float64 additions' n·2⁻²⁹, rounded up.
	sumULP = 3
	// zRefRel bounds the relative error of generic's row sum Z = Σ e^(x_j − max)
	// (positive terms): sumULP plus exp's 2 ULP (2⁻²²). log turns it into an
	// absolute error of log-softmax and of the losses.
	zRefRel = (sumULP + 4) * eps
)

// expCutoff is the argument below which the kernels' exp gives exactly 0
// (kernels/generic.go); the float64 reference has no such cutoff.
const expCutoff = -0x1.5D589Ep6

// Tolerances of every other implementation against generic. Their exp agrees
// with generic's within 1 ULP (FMA against generic's rounded multiply and
// add; TestExpSIMDSweep); their row reductions (Z, ⟨dy, s⟩, Σdy, Σt,
// Σt·(x−max)) add in another order, or with FMA. A
// comparison passes when the difference is within maxULP ULPs, or within
// maxULP ULPs plus a floor: the floors carry the reductions' difference
// (reduceULP), relative where it scales the output (Z in softmax) and
// absolute where the output cancels (dy_i − ⟨dy, s⟩ near 0, a gradient near
// 0), so that ULPs alone would be meaningless.
const (
	// softmaxULP: s_i = e_i·fl(1/Z): e_i's 1 ULP, and the roundings of 1/Z
	// and of the product; Z's difference is the relative floor.
	softmaxULP = 3
	// logSoftmaxULP: ls_i = fl(x_i − max) − fl(log Z) rounds once after the
	// shared x_i − max; log Z's difference is the absolute floor.
	logSoftmaxULP = 2
	// logZULP: log Z may come from a float32 log (within 2 ULP) instead of
	// float64 math.Log, on top of Z's difference.
	logZULP = 4
	// softmaxBackwardULP: dx_i = s_i·(dy_i − d) rounds the difference, the
	// product and d; d's difference is in the floor, where dy_i ≈ d cancels.
	softmaxBackwardULP = 3
	// logSoftmaxBackwardULP: dx_i = dy_i − p_i·d rounds the product and the
	// sum (once with FMA); p_i's 1 ULP and d's difference are in the floor,
	// where dy_i ≈ p_i·d cancels.
	logSoftmaxBackwardULP = 2
	// ceGradULP: a non-label gradient is e_i·fl(1/(Z·n)), the softmax's
	// roundings; the label's (s_l − 1)/n cancels as s_l → 1 and has a floor.
	ceGradULP = softmaxULP
	// ceSoftGradULP: (e_i·fl(T/Z) − t_i)·fl(1/rows) rounds the product, the
	// difference and the scaling; e_i's ULP and the differences of Z and T
	// are in the floor, where s_i·T ≈ t_i cancels.
	ceSoftGradULP = 4
)

// reduceULP bounds the difference between im's reduction r over rows of
// cols terms and generic's, in units of 2⁻²⁴·Σ|terms|: each is within its
// reference.SumDepth of the exact sum of its terms, and the terms of a sum
// of exps differ by exp's 1 ULP (2·2⁻²⁴ of each).
func reduceULP(im *kernels.Impl, r reference.Reduction, cols int) float64 {
	d := reference.SumDepth(im.Name(), r, cols) + reference.SumDepth(generic.Name(), r, cols)
	if r != reference.RowSum && im != generic {
		d += 2
	}
	return d
}

// FuzzSoftmax checks Softmax.
func FuzzSoftmax(f *testing.F) {
	addRowSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		src := d.values(rows * cols)
		desc := fmt.Sprintf("Softmax(rows=%d, cols=%d, %v)", rows, cols, d)
		testUnary(t, desc, src, cols, (*kernels.Impl).Softmax,
			func(got []float32) error {
				want := reference.Softmax(src, cols)
				b := reference.SoftmaxBound(src, cols, softmaxRefRel)
				return checkRef(got, want, cols, func(i int) reference.Tol {
					return reference.Tol{Rel: b[i], Abs: softmaxRefAbs, ExactZero: true}
				}, nil)
			},
			func(im *kernels.Impl, gen []float32) near {
				red := reduceULP(im, reference.ExpSum, cols)
				return near{
					maxULP: softmaxULP,
					floor:  func(i int) float64 { return red * eps * math.Abs(float64(gen[i])) },
					zero:   func(int) bool { return true }, // e_i underflowed to 0 in both
				}
			})
	})
}

// FuzzLogSoftmax checks LogSoftmax.
func FuzzLogSoftmax(f *testing.F) {
	addRowSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		src := d.values(rows * cols)
		desc := fmt.Sprintf("LogSoftmax(rows=%d, cols=%d, %v)", rows, cols, d)
		testUnary(t, desc, src, cols, (*kernels.Impl).LogSoftmax,
			func(got []float32) error {
				want := reference.LogSoftmax(src, cols)
				b := reference.LogSoftmaxBound(src, cols, zRefRel)
				return checkRef(got, want, cols, func(i int) reference.Tol {
					return reference.Tol{Abs: b[i] + softmaxRefAbs}
				}, nil)
			},
			func(im *kernels.Impl, gen []float32) near {
				red := reduceULP(im, reference.ExpSum, cols)
				floor := make([]float64, rows)
				for r := range floor {
					st := rowStats(src[r*cols : (r+1)*cols])
					floor[r] = (red+2)*eps + logZULP*reference.ULP(st.logZ)
				}
				return near{maxULP: logSoftmaxULP, floor: func(i int) float64 { return floor[i/cols] }}
			})
	})
}

// testUnary runs a one-input row kernel (Softmax, LogSoftmax) on every
// implementation: generic against the reference (ref), the others against
// generic (mk builds the comparison from generic's output), each also in
// place.
func testUnary(t *testing.T, desc string, src []float32, cols int,
	run func(im *kernels.Impl, dst, src []float32, cols int),
	ref func(got []float32) error, mk func(im *kernels.Impl, gen []float32) near) {
	orig := slices.Clone(src)
	var gen []float32
	for _, im := range impls() {
		g := newGuarded(len(src))
		call(t, im, desc, func() { run(im, g.arg(), src, cols) })
		unchanged(t, im, "src", src, orig)
		if err := g.check(!hasBits(guardBits, src)); err != nil {
			t.Fatalf("%s: %s: %v", im.Name(), desc, err)
		}
		out := g.out()
		if im == generic {
			if err := ref(out); err != nil {
				t.Fatalf("generic: %s against the float64 reference: %v", desc, err)
			}
			gen = slices.Clone(out)
		}
		if err := mk(im, gen).compare(out, gen, cols); err != nil {
			t.Fatalf("%s: %s against generic: %v", im.Name(), desc, err)
		}
		in := slices.Clone(src)
		call(t, im, desc+" in place", func() { run(im, in, in, cols) })
		if err := sameBits(in, out); err != nil {
			t.Fatalf("%s: %s in place differs from out of place: %v", im.Name(), desc, err)
		}
	}
}

// FuzzSoftmaxBackward checks SoftmaxBackward. In the derived encodings s is
// the generic softmax of decoded logits; dy is decoded as it is.
func FuzzSoftmaxBackward(f *testing.F) {
	addRowSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		s := d.probs(rows*cols, cols, false)
		dy := d.values(rows * cols)
		desc := fmt.Sprintf("SoftmaxBackward(rows=%d, cols=%d, %v)", rows, cols, d)

		// Per row: d = ⟨dy, s⟩ in float64, S = Σ|s_j·dy_j| over finite
		// products, and whether float32 may overflow where float64 does not.
		dot, mag := make([]float64, rows), make([]float64, rows)
		refSkip, nearSkip := make([]bool, rows), make([]bool, rows)
		for r := range rows {
			for j := r * cols; j < (r+1)*cols; j++ {
				p := float64(s[j]) * float64(dy[j])
				dot[r] += p
				if finite(p) {
					mag[r] += math.Abs(p)
				}
			}
			// generic rounds the products to float32 and adds them in
			// float32 blocks: with S ≥ 2¹²⁵ a partial sum may overflow.
			nearSkip[r] = mag[r] >= 0x1p125
			refSkip[r] = nearSkip[r] || f32Overflows(dot[r])
		}
		elemSkip := func(i int) bool { // dy_i − d overflows float32
			r := i / cols
			return refSkip[r] || f32Overflows(float64(dy[i])-float64(float32(dot[r])))
		}
		testBinary(t, desc, s, dy, cols, "s", "dy", (*kernels.Impl).SoftmaxBackward,
			func(got []float32) error {
				want := reference.SoftmaxBackward(s, dy, cols)
				return checkRef(got, want, cols, func(i int) reference.Tol {
					r, si := i/cols, math.Abs(float64(s[i]))
					// d is within sumULP·2⁻²⁴·S (plus 2⁻¹⁵⁰ for each
					// product that underflows) and rounded to float32; the
					// difference and the product round once each.
					return reference.Tol{
						Rel: refSlack * 2 * eps,
						Abs: refSlack*si*(eps*(math.Abs(dot[r])+sumULP*mag[r])+float64(cols)*0x1p-150) + 0x1p-148*(1+si),
					}
				}, elemSkip)
			},
			func(im *kernels.Impl) near {
				red := reduceULP(im, reference.RowSum, cols)
				return near{
					maxULP: softmaxBackwardULP,
					floor: func(i int) float64 {
						r := i / cols
						return math.Abs(float64(s[i])) * (red*eps*mag[r] + reference.ULP(dot[r]) + float64(cols)*0x1p-149)
					},
					// s_i = 0 gives exactly 0 whatever d is (NaN or an infinity
					// of d has made the output NaN already).
					zero: func(i int) bool { return s[i] == 0 && finite(float64(dy[i])) },
					skip: func(i int) bool {
						r := i / cols
						return nearSkip[r] || math.Abs(float64(dy[i]))+math.Abs(dot[r]) >= 0x1p126
					},
				}
			})
	})
}

// FuzzLogSoftmaxBackward checks LogSoftmaxBackward. In the derived
// encodings logp is the generic log-softmax of decoded logits.
func FuzzLogSoftmaxBackward(f *testing.F) {
	addRowSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		logp := d.probs(rows*cols, cols, true)
		dy := d.values(rows * cols)
		desc := fmt.Sprintf("LogSoftmaxBackward(rows=%d, cols=%d, %v)", rows, cols, d)

		sum, mag := make([]float64, rows), make([]float64, rows)
		allZero := make([]bool, rows)
		for r := range rows {
			allZero[r] = true
			for _, v := range dy[r*cols : (r+1)*cols] {
				sum[r] += float64(v)
				if finite(float64(v)) {
					mag[r] += math.Abs(float64(v))
				}
				allZero[r] = allZero[r] && v == 0
			}
		}
		p := func(i int) float64 { return math.Exp(min(float64(logp[i]), 0)) }
		testBinary(t, desc, logp, dy, cols, "logp", "dy", (*kernels.Impl).LogSoftmaxBackward,
			func(got []float32) error {
				want := reference.LogSoftmaxBackward(logp, dy, cols)
				return checkRef(got, want, cols, func(i int) reference.Tol {
					r := i / cols
					pd := math.Abs(p(i) * sum[r])
					return reference.Tol{
						// exp within 2 ULP (2⁻²² relative), d within
						// sumULP·2⁻²⁴·Σ|dy| and rounded to float32, the
						// product and the sum rounded; below the cutoff p is 0.
						Abs: refSlack*(pd*(0x1p-22+2*eps)+eps*math.Abs(want[i])+sumULP*eps*p(i)*mag[r]) +
							0x1p-126*math.Abs(sum[r]) + 0x1p-148,
					}
				}, func(i int) bool {
					// A float32 partial sum of dy (Σ|dy| ≥ 2¹²⁵) or d
					// overflows float32; or d is infinite and exp's cutoff
					// makes p_i exactly 0 (0·Inf = NaN) where the reference
					// has a tiny p_i (tiny·Inf = Inf).
					r := i / cols
					return mag[r] >= 0x1p125 || f32Overflows(sum[r]) ||
						(!finite(sum[r]) && float64(logp[i]) < expCutoff)
				})
			},
			func(im *kernels.Impl) near {
				red := reduceULP(im, reference.RowSum, cols)
				return near{
					maxULP: logSoftmaxBackwardULP,
					floor: func(i int) float64 {
						r := i / cols
						return p(i) * (red*eps*mag[r] + reference.ULP(sum[r]) + 3*eps*math.Abs(sum[r]))
					},
					zero: func(i int) bool { return allZero[i/cols] },
					skip: func(i int) bool { return mag[i/cols] >= 0x1p125 },
				}
			})
	})
}

// testBinary runs a two-input row kernel (the backward passes) on every
// implementation, like testUnary, and in place on each input.
func testBinary(t *testing.T, desc string, a, b []float32, cols int, aName, bName string,
	run func(im *kernels.Impl, dx, a, b []float32, cols int),
	ref func(got []float32) error, mk func(im *kernels.Impl) near) {
	origA, origB := slices.Clone(a), slices.Clone(b)
	var gen []float32
	for _, im := range impls() {
		g := newGuarded(len(a))
		call(t, im, desc, func() { run(im, g.arg(), a, b, cols) })
		unchanged(t, im, aName, a, origA)
		unchanged(t, im, bName, b, origB)
		if err := g.check(!hasBits(guardBits, a, b)); err != nil {
			t.Fatalf("%s: %s: %v", im.Name(), desc, err)
		}
		out := g.out()
		if im == generic {
			if err := ref(out); err != nil {
				t.Fatalf("generic: %s against the float64 reference: %v", desc, err)
			}
			gen = slices.Clone(out)
		}
		if err := mk(im).compare(out, gen, cols); err != nil {
			t.Fatalf("%s: %s against generic: %v", im.Name(), desc, err)
		}
		inA, inB := slices.Clone(a), slices.Clone(b)
		call(t, im, desc+" in place on "+aName, func() { run(im, inA, inA, b, cols) })
		call(t, im, desc+" in place on "+bName, func() { run(im, inB, a, inB, cols) })
		if err := sameBits(inA, out); err != nil {
			t.Fatalf("%s: %s in place on %s differs from out of place: %v", im.Name(), desc, aName, err)
		}
		if err := sameBits(inB, out); err != nil {
			t.Fatalf("%s: %s in place on %s differs from out of place: %v", im.Name(), desc, bName, err)
		}
	}
}

// FuzzCrossEntropyGrad checks CrossEntropyGrad, including ignored rows and
// (when the labels argument says so) a bad label.
func FuzzCrossEntropyGrad(f *testing.F) {
	addCESeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg, labelArg uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		logits := d.values(rows * cols)
		labels, badRow := d.labels(rows, cols, labelArg)
		desc := fmt.Sprintf("CrossEntropyGrad(rows=%d, cols=%d, %v, labels %#x)", rows, cols, d, labelArg)
		origLogits, origLabels := slices.Clone(logits), slices.Clone(labels)
		checkInputs := func(im *kernels.Impl) {
			unchanged(t, im, "logits", logits, origLogits)
			if !slices.Equal(labels, origLabels) {
				t.Fatalf("%s: %s modified labels", im.Name(), desc)
			}
		}

		if badRow >= 0 {
			for _, im := range impls() {
				g := newGuarded(len(logits))
				var err error
				call(t, im, desc, func() { _, err = im.CrossEntropyGrad(g.arg(), logits, labels, cols) })
				checkInputs(im)
				if e := labelError(err, badRow, labels[badRow], cols); e != nil {
					t.Fatalf("%s: %s: %v", im.Name(), desc, e)
				}
				if e := sameBits(g.buf, newGuarded(len(logits)).buf); e != nil {
					t.Fatalf("%s: %s: wrote grad despite the bad label: %v", im.Name(), desc, e)
				}
				in := slices.Clone(logits)
				call(t, im, desc+" in place", func() { _, err = im.CrossEntropyGrad(in, in, labels, cols) })
				if e := labelError(err, badRow, labels[badRow], cols); e != nil {
					t.Fatalf("%s: %s in place: %v", im.Name(), desc, e)
				}
				if e := sameBits(in, logits); e != nil {
					t.Fatalf("%s: %s in place: wrote grad despite the bad label: %v", im.Name(), desc, e)
				}
			}
			return
		}

		// Per row: statistics, the label, and whether it counts.
		n := 0
		for _, l := range labels {
			if l != kernels.IgnoreLabel {
				n++
			}
		}
		stats := make([]rowInfo, rows)
		for r := range rows {
			stats[r] = rowStats(logits[r*cols : (r+1)*cols])
		}
		isLabel := func(i int) bool { return int(labels[i/cols]) == i%cols }
		ignored := func(i int) bool { return labels[i/cols] == kernels.IgnoreLabel }
		invN := 1 / float64(max(n, 1))

		var genGrad []float32
		var genLoss float64
		for _, im := range impls() {
			g := newGuarded(len(logits))
			var loss float64
			var err error
			call(t, im, desc, func() { loss, err = im.CrossEntropyGrad(g.arg(), logits, labels, cols) })
			checkInputs(im)
			if err != nil {
				t.Fatalf("%s: %s: unexpected error %v", im.Name(), desc, err)
			}
			if e := g.check(!hasBits(guardBits, logits)); e != nil {
				t.Fatalf("%s: %s: %v", im.Name(), desc, e)
			}
			grad := g.out()
			if im == generic {
				if e := ceRefCheck(grad, loss, logits, labels, cols, n, stats); e != nil {
					t.Fatalf("generic: %s against the float64 reference: %v", desc, e)
				}
				genGrad, genLoss = slices.Clone(grad), loss
			}
			{
				red := reduceULP(im, reference.ExpSum, cols)
				cmp := near{
					maxULP: ceGradULP,
					floor: func(i int) float64 {
						if !isLabel(i) {
							return red * eps * math.Abs(float64(genGrad[i]))
						}
						return (red + 2*ceGradULP) * eps * (math.Abs(float64(genGrad[i])) + 2*invN)
					},
					zero: func(i int) bool { return ignored(i) || !isLabel(i) },
				}
				if e := cmp.compare(grad, genGrad, cols); e != nil {
					t.Fatalf("%s: %s: grad against generic: %v", im.Name(), desc, e)
				}
				var floor float64
				for r, l := range labels {
					if l == kernels.IgnoreLabel || !stats[r].ok {
						continue
					}
					xl := float64(logits[r*cols+int(l)]) - stats[r].max
					rowLoss := stats[r].logZ - xl
					floor += red*eps*(1+math.Abs(rowLoss)) + logZULP*reference.ULP(stats[r].logZ) + reference.ULP(xl)
				}
				if e := nearValue(loss, genLoss, floor*invN+1e-12*math.Abs(genLoss)); e != nil {
					t.Fatalf("%s: %s: loss against generic: %v", im.Name(), desc, e)
				}
			}
			in := slices.Clone(logits)
			var inLoss float64
			call(t, im, desc+" in place", func() { inLoss, err = im.CrossEntropyGrad(in, in, labels, cols) })
			if e := sameBits(in, grad); e != nil || err != nil {
				t.Fatalf("%s: %s in place differs from out of place: %v (error %v)", im.Name(), desc, e, err)
			}
			if math.Float64bits(inLoss) != math.Float64bits(loss) && !(inLoss != inLoss && loss != loss) {
				t.Fatalf("%s: %s in place: loss %v, out of place %v", im.Name(), desc, inLoss, loss)
			}
		}
	})
}

// ceRefCheck checks generic's CrossEntropyGrad against the reference.
func ceRefCheck(grad []float32, loss float64, logits []float32, labels []int32, cols, n int, stats []rowInfo) error {
	want, wantLoss := reference.CrossEntropyGrad(logits, labels, cols)
	sb := reference.SoftmaxBound(logits, cols, softmaxRefRel)
	invN := 1 / float64(max(n, 1))
	err := checkRef(grad, want, cols, func(i int) reference.Tol {
		r, c := i/cols, i%cols
		switch l := labels[r]; {
		case l == kernels.IgnoreLabel:
			return reference.Tol{ExactZero: true}
		case int(l) != c:
			// s_i/n = e_i·fl(1/(Z·n)): the softmax's error and one more rounding.
			return reference.Tol{Rel: sb[i] + eps, Abs: softmaxRefAbs, ExactZero: true}
		default:
			// (s_l − 1)/n: the error of s_l/n, plus the roundings of 1/n and
			// of the difference.
			sl := want[i] + invN
			return reference.Tol{Abs: (sb[i]+eps)*sl + refSlack*eps*(math.Abs(want[i])+invN) + softmaxRefAbs}
		}
	}, nil)
	if err != nil {
		return fmt.Errorf("grad: %w", err)
	}
	// Each counted row's loss log Z − (x_l − max) is off by log Z's error: Z's
	// relative error, at most the softmax's.
	var abs float64
	for r, l := range labels {
		if l != kernels.IgnoreLabel && stats[r].ok {
			abs += refSlack * (zRefRel + stats[r].w*eps)
		}
	}
	if err := checkRefValue(loss, wantLoss, reference.Tol{Abs: abs * invN, Rel: 1e-12}); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	return nil
}

// FuzzCrossEntropyGradSoft checks CrossEntropyGradSoft. In the derived
// encodings the targets are the generic softmax of decoded values.
func FuzzCrossEntropyGradSoft(f *testing.F) {
	addRowSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		logits := d.values(rows * cols)
		targets := d.probs(rows*cols, cols, false)
		desc := fmt.Sprintf("CrossEntropyGradSoft(rows=%d, cols=%d, %v)", rows, cols, d)
		origLogits, origTargets := slices.Clone(logits), slices.Clone(targets)

		// Per row: statistics, T = Σt, A = Σ|t|, D = Σ|t_i·(x_i − max)|, and
		// whether float32 may overflow where float64 does not: in
		// c = T/Z and e·c − t (A large), or in x_i − max (the loss). An
		// infinite target also excuses the loss: the kernels compute
		// T·log Z − Σ t_i·(x_i − max), which is NaN (Inf·0 at the max) where
		// the reference's −Σ t_i·log s_i is infinite.
		s := reference.Softmax(logits, cols)
		stats := make([]rowInfo, rows)
		tsum, tabs, tdabs := make([]float64, rows), make([]float64, rows), make([]float64, rows)
		gradUnsafe := make([]bool, rows)
		lossUnsafe := false
		for r := range rows {
			x, tr := logits[r*cols:(r+1)*cols], targets[r*cols:(r+1)*cols]
			st := rowStats(x)
			stats[r] = st
			for j, v := range tr {
				tsum[r] += float64(v)
				if finite(float64(v)) {
					tabs[r] += math.Abs(float64(v))
				}
				if dj := float64(x[j]) - st.max; st.ok && finite(dj) {
					tdabs[r] += math.Abs(float64(v) * dj)
					lossUnsafe = lossUnsafe || f32Overflows(dj)
				}
			}
			gradUnsafe[r] = tabs[r] >= 0x1p125
			lossUnsafe = lossUnsafe || gradUnsafe[r] || tdabs[r] >= 0x1p125 || (st.ok && hasInf(tr))
		}
		rowsF := float64(max(rows, 1))

		var genGrad []float32
		var genLoss float64
		for _, im := range impls() {
			g := newGuarded(len(logits))
			var loss float64
			call(t, im, desc, func() { loss = im.CrossEntropyGradSoft(g.arg(), logits, targets, cols) })
			unchanged(t, im, "logits", logits, origLogits)
			unchanged(t, im, "targets", targets, origTargets)
			if e := g.check(!hasBits(guardBits, logits, targets)); e != nil {
				t.Fatalf("%s: %s: %v", im.Name(), desc, e)
			}
			grad := g.out()
			if im == generic {
				want, wantLoss := reference.CrossEntropyGradSoft(logits, targets, cols)
				sb := reference.SoftmaxBound(logits, cols, softmaxRefRel)
				err := checkRef(grad, want, cols, func(i int) reference.Tol {
					// (e_i·fl(T/Z) − t_i)·fl(1/rows): e_i's error and c's
					// rounding scaled by s_i·T, then three roundings.
					r := i / cols
					sT := math.Abs(s[i] * tsum[r])
					return reference.Tol{
						Abs: refSlack*((sT*(sb[i]+2*eps)+s[i]*sumULP*eps*tabs[r])/rowsF+3*eps*math.Abs(want[i])) +
							0x1p-126*math.Abs(tsum[r])/rowsF + 0x1p-148,
					}
				}, func(i int) bool {
					// c = T/Z overflows float32; or T is infinite and exp's
					// cutoff makes e_i exactly 0 (0·Inf = NaN) where the
					// reference has a tiny s_i (tiny·Inf = Inf).
					r := i / cols
					return gradUnsafe[r] ||
						(!finite(tsum[r]) && stats[r].ok && logits[i]-float32(stats[r].max) < expCutoff)
				})
				if err != nil {
					t.Fatalf("generic: %s against the float64 reference: grad: %v", desc, err)
				}
				if !lossUnsafe {
					// Per row T·log Z − Σ t_i·(x_i − max): log Z's error
					// times |T|, T's error times log Z, and the error of the
					// float32 dot product of t with the rounded x_i − max.
					var abs, scale float64
					for r := range rows {
						if stats[r].ok {
							abs += refSlack * (tabs[r]*(zRefRel+stats[r].w*eps) + (sumULP+1)*eps*tdabs[r] +
								sumULP*eps*tabs[r]*stats[r].logZ)
							scale += tabs[r]*stats[r].logZ + tdabs[r]
						}
					}
					// Each product t_i·(x_i − max) may underflow (2⁻¹⁵⁰).
					tol := reference.Tol{Abs: abs/rowsF + 1e-15*scale/rowsF + refSlack*float64(cols)*0x1p-150, Rel: 1e-12}
					if e := checkRefValue(loss, wantLoss, tol); e != nil {
						t.Fatalf("generic: %s against the float64 reference: loss: %v", desc, e)
					}
				}
				genGrad, genLoss = slices.Clone(grad), loss
			}
			{
				red := reduceULP(im, reference.SoftSums, cols)
				cmp := near{
					maxULP: ceSoftGradULP,
					floor: func(i int) float64 {
						r := i / cols
						return (red + 2*ceSoftGradULP) * eps * s[i] * (math.Abs(tsum[r]) + tabs[r]) / rowsF
					},
					// e_i = 0 below exp's cutoff and t_i = 0 give exactly 0.
					zero: func(i int) bool {
						r := i / cols
						return stats[r].ok && targets[i] == 0 &&
							logits[i]-float32(stats[r].max) < -87.4
					},
					skip: func(i int) bool { return gradUnsafe[i/cols] },
				}
				if e := cmp.compare(grad, genGrad, cols); e != nil {
					t.Fatalf("%s: %s: grad against generic: %v", im.Name(), desc, e)
				}
				if !lossUnsafe {
					var floor float64
					for r := range rows {
						if st := stats[r]; st.ok {
							floor += red*eps*(tabs[r]*st.logZ+tabs[r]+tdabs[r]) + tabs[r]*logZULP*reference.ULP(st.logZ)
						}
					}
					floor += float64(rows*cols) * 0x1p-149 // underflowing products
					if e := nearValue(loss, genLoss, floor/rowsF+1e-12*math.Abs(genLoss)); e != nil {
						t.Fatalf("%s: %s: loss against generic: %v", im.Name(), desc, e)
					}
				}
			}
			in := slices.Clone(logits)
			var inLoss float64
			call(t, im, desc+" in place", func() { inLoss = im.CrossEntropyGradSoft(in, in, targets, cols) })
			if e := sameBits(in, grad); e != nil {
				t.Fatalf("%s: %s in place differs from out of place: %v", im.Name(), desc, e)
			}
			if math.Float64bits(inLoss) != math.Float64bits(loss) && !(inLoss != inLoss && loss != loss) {
				t.Fatalf("%s: %s in place: loss %v, out of place %v", im.Name(), desc, inLoss, loss)
			}
		}
	})
}

// guardedMatrix decodes the m×n matrix a with row stride lda; the elements
// between rows (j ≥ n) hold the guard pattern and must stay untouched.
func guardedMatrix(d *decoder, m, n, lda int) *guarded {
	g := newGuarded(m * lda)
	a := g.out()
	for i := range m {
		for j := range n {
			a[i*lda+j] = d.value()
		}
	}
	return g
}

// betweenRows reports a write to the elements between the rows of the m×n
// matrix a with row stride lda, which hold the guard pattern.
func betweenRows(a []float32, m, n, lda int, name string) error {
	for i := range m {
		for j := n; j < lda; j++ {
			if v := a[i*lda+j]; math.Float32bits(v) != guardBits {
				return fmt.Errorf("wrote %v to %s[%d*ld%s+%d], between rows", v, name, i, name, j)
			}
		}
	}
	return nil
}

// matrixElems gathers the m×n elements of a matrix with row stride lda.
func matrixElems[T any](a []T, m, n, lda int) []T {
	out := make([]T, 0, m*n)
	for i := range m {
		out = append(out, a[i*lda:i*lda+n]...)
	}
	return out
}

// FuzzGer checks Ger: generic against the reference, every other
// implementation exactly: each element must be bit for bit generic's
// fl(fl(fl(alpha·x_i)·y_j) + a_ij) or the fused fl(fl(alpha·x_i)·y_j + a_ij)
// of an FMA (one rounding, computed exactly with math/big).
func FuzzGer(f *testing.F) {
	addGerSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, mArg, nArg uint16, pad uint8, data []byte) {
		m, n, lda := gerShape(mArg, nArg, pad)
		d := newDecoder(mode, data)
		alpha := d.alpha()
		x, y := d.values(m), d.values(n)
		a0 := guardedMatrix(d, m, n, lda)
		ai := matrixElems(a0.out(), m, n, lda)
		desc := fmt.Sprintf("Ger(m=%d, n=%d, lda=%d, alpha=%v, %v)", m, n, lda, alpha, d)
		testGer(t, desc, a0, m, n, lda, x, y, 1,
			func(im *kernels.Impl, a []float32) { im.Ger(a, lda, alpha, x, y) },
			func(a []float32) []float64 { return reference.Ger(a, lda, alpha, x, y) },
			func(want []float64) func(int) reference.Tol {
				return func(e int) reference.Tol {
					i, j := e/n, e%n
					term := math.Abs(float64(alpha) * float64(x[i]) * float64(y[j]))
					// fl(alpha·x_i), the product and the sum round once
					// each; alpha·x_i may underflow (error ≤ 2⁻¹⁵⁰·|y_j|).
					return reference.Tol{Abs: refSlack*eps*(2*term+math.Abs(want[e])) + 0x1p-149*(1+math.Abs(float64(y[j])))}
				}
			},
			func(e int) bool {
				i, j := e/n, e%n
				s := math.Abs(float64(alpha) * float64(x[i]) * float64(y[j]))
				if v := float64(ai[e]); finite(v) {
					s += math.Abs(v)
				}
				return !termSafe(alpha, x[i], y[j]) || (finite(s) && s >= 0x1p126)
			},
			func(got, gen []float32) error {
				for e := range gen {
					g, w := got[e], gen[e]
					if math.Float32bits(g) == math.Float32bits(w) || (g != g && w != w) {
						continue
					}
					i, j := e/n, e%n
					// generic rounds the product before the sum (madd); an
					// FMA implementation must give the fused result exactly.
					fused := fmaExact32(alpha*x[i], y[j], ai[e])
					if math.Float32bits(g) == math.Float32bits(fused) {
						continue
					}
					return fmt.Errorf("a[%d][%d]: got %v (bits %#08x), want generic's %v (bits %#08x) "+
						"or the fused fl(fl(alpha·x_i)·y_j + a_ij) = %v (bits %#08x)",
						i, j, g, math.Float32bits(g), w, math.Float32bits(w), fused, math.Float32bits(fused))
				}
				return nil
			})
	})
}

// FuzzGerBatch checks GerBatch: generic against the reference, the others
// against generic within the rounding of a different summation order.
func FuzzGerBatch(f *testing.F) {
	addGerBatchSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, kArg, mArg, nArg uint16, pad uint8, data []byte) {
		k, m, n, lda := gerBatchShape(kArg, mArg, nArg, pad)
		d := newDecoder(mode, data)
		alpha := d.alpha()
		x, y := d.values(k*m), d.values(k*n)
		a0 := guardedMatrix(d, m, n, lda)
		ai := matrixElems(a0.out(), m, n, lda)
		desc := fmt.Sprintf("GerBatch(k=%d, m=%d, n=%d, lda=%d, alpha=%v, %v)", k, m, n, lda, alpha, d)
		// Per element: whether every association order of the float32
		// arithmetic agrees on NaN, infinities and overflow (termSafe, and
		// no partial sum near float32's range), S = |a| + Σ_p |alpha·x_pi·y_pj|
		// over finite terms, and an absolute floor for products that
		// underflow.
		safe := make([]bool, m*n)
		mag, floor := make([]float64, m*n), make([]float64, m*n)
		for i := range m {
			for j := range n {
				e := i*n + j
				// An infinite alpha scaling a sum (alpha·Σ_p x_pi·y_pj) or
				// each term (Σ_p (alpha·x_pi)·y_pj) gives ±Inf in one order
				// and NaN in the other when the terms' signs differ.
				ok, s, sxy, fl := !math.IsInf(float64(alpha), 0) || k == 1, 0.0, 0.0, 0x1p-149
				if v := float64(ai[e]); finite(v) {
					s = math.Abs(v)
				}
				for p := range k {
					xv, yv := x[p*m+i], y[p*n+j]
					ok = ok && termSafe(alpha, xv, yv)
					if term := float64(alpha) * float64(xv) * float64(yv); finite(term) {
						s += math.Abs(term)
						fl += 0x1p-149 * (1 + math.Abs(float64(alpha)) + math.Abs(float64(xv)) + math.Abs(float64(yv)))
					}
					if xy := float64(xv) * float64(yv); finite(xy) {
						sxy += math.Abs(xy)
					}
				}
				safe[e], mag[e], floor[e] = ok && s < 0x1p126 && sxy < 0x1p126, s, fl
			}
		}
		testGer(t, desc, a0, m, n, lda, x, y, k,
			func(im *kernels.Impl, a []float32) { im.GerBatch(a, lda, alpha, x, m, y, n) },
			func(a []float32) []float64 { return reference.GerBatch(a, lda, alpha, x, m, y, n) },
			func([]float64) func(int) reference.Tol {
				// generic: k sums, each within 2⁻²⁴·S, and the roundings of
				// the k products and the k alpha·x_pi, each set within
				// 2⁻²⁴·S in total: (k+2)·2⁻²⁴·S.
				return func(e int) reference.Tol {
					return reference.Tol{Abs: refSlack*float64(k+2)*eps*mag[e] + floor[e]}
				}
			},
			func(e int) bool { return !safe[e] },
			func(got, gen []float32) error {
				// Any order is within (k+2)·2⁻²⁴·S of the exact value (k
				// sums or fmas, the products, alpha·x_pi or the final
				// scaling); two implementations differ by twice that.
				cmp := near{
					floor: func(e int) float64 { return 2*refSlack*float64(k+2)*eps*mag[e] + 2*floor[e] },
					skip:  func(e int) bool { return !safe[e] },
				}
				return cmp.compare(got, gen, n)
			})
	})
}

// termSafe reports whether alpha·x·y evaluates to the same class in every
// association order in float32: a NaN anywhere, or two infinities, decide the
// result whatever the order; with one infinity the product of the two finite
// factors must not underflow to 0 (0·Inf is NaN, tiny·Inf is Inf); with none,
// no partial product may overflow.
func termSafe(alpha, x, y float32) bool {
	f := [3]float64{float64(alpha), float64(x), float64(y)}
	infs := 0
	for _, v := range f {
		if v != v {
			return true
		}
		if math.IsInf(v, 0) {
			infs++
		}
	}
	switch infs {
	case 0:
		return math.Abs(f[0]*f[1]) < 0x1p126 && math.Abs(f[1]*f[2]) < 0x1p126 && math.Abs(f[0]*f[2]) < 0x1p126
	case 1:
		var u []float64
		for _, v := range f {
			if !math.IsInf(v, 0) {
				u = append(u, v)
			}
		}
		return u[0] == 0 || u[1] == 0 || math.Abs(u[0]*u[1]) >= 0x1p-148
	}
	return true
}

// testGer runs Ger or GerBatch (run) on every implementation with a fresh
// copy of the matrix a0: x and y must be unchanged and the elements outside
// the m×n matrix (between rows, before and after it) untouched; with an
// empty update (m, n or k 0) nothing may change at all. generic is checked
// against the reference (ref, under refTol except where refSkip), every
// other implementation with cmp(its elements, generic's).
func testGer(t *testing.T, desc string, a0 *guarded, m, n, lda int, x, y []float32, k int,
	run func(im *kernels.Impl, a []float32), ref func(a []float32) []float64,
	refTol func(want []float64) func(int) reference.Tol, refSkip func(int) bool,
	cmp func(got, gen []float32) error) {
	origX, origY := slices.Clone(x), slices.Clone(y)
	empty := m == 0 || n == 0 || k == 0
	var gen []float32
	for _, im := range impls() {
		g := &guarded{buf: slices.Clone(a0.buf), n: a0.n}
		call(t, im, desc, func() { run(im, g.arg()) })
		unchanged(t, im, "x", x, origX)
		unchanged(t, im, "y", y, origY)
		if empty {
			if err := sameBits(g.buf, a0.buf); err != nil {
				t.Fatalf("%s: %s: an empty update changed a: %v", im.Name(), desc, err)
			}
			continue
		}
		if err := g.check(false); err != nil {
			t.Fatalf("%s: %s: %v", im.Name(), desc, err)
		}
		a := g.out()
		if err := betweenRows(a, m, n, lda, "a"); err != nil {
			t.Fatalf("%s: %s: %v", im.Name(), desc, err)
		}
		got := matrixElems(a, m, n, lda)
		if im == generic {
			want := matrixElems(ref(a0.out()), m, n, lda)
			if err := checkRef(got, want, n, refTol(want), refSkip); err != nil {
				t.Fatalf("generic: %s against the float64 reference: %v", desc, err)
			}
			gen = got
		}
		if err := cmp(got, gen); err != nil {
			t.Fatalf("%s: %s against generic: %v", im.Name(), desc, err)
		}
	}
}

// storedMatrix decodes a rows×cols matrix with row stride ld into a slice
// of exactly (rows−1)·ld + cols elements (none when rows or cols is 0). The
// elements between rows hold the guard pattern, a signalling NaN: a kernel
// that summed one of them would show a NaN.
func storedMatrix(d *decoder, rows, cols, ld int) []float32 {
	if rows == 0 || cols == 0 {
		return []float32{}
	}
	a := make([]float32, (rows-1)*ld+cols)
	for i := range a {
		a[i] = math.Float32frombits(guardBits)
	}
	for i := range rows {
		for j := range cols {
			a[i*ld+j] = d.value()
		}
	}
	return a
}

// FuzzGemm checks Gemm: generic against the reference, the others against
// generic within the rounding of another blocking of k; with beta 0, C must
// not be read.
func FuzzGemm(f *testing.F) {
	addGemmSeeds(f)
	f.Fuzz(func(t *testing.T, mode, trans uint8, mArg, nArg, kArg uint16, pad uint8, data []byte) {
		g := gemmShape(trans, mArg, nArg, kArg, pad)
		m, n, k := g.m, g.n, g.k
		d := newDecoder(mode, data)
		alpha, beta := d.alpha(), d.beta()
		ra, ca, rb, cb := g.stored()
		a, b := storedMatrix(d, ra, ca, g.lda), storedMatrix(d, rb, cb, g.ldb)
		c0 := guardedMatrix(d, m, n, g.ldc)
		ci := matrixElems(c0.out(), m, n, g.ldc)
		desc := fmt.Sprintf("Gemm(%v, alpha=%v, beta=%v, %v)", g, alpha, beta, d)
		opA := func(i, p int) float64 {
			if g.transA {
				return float64(a[p*g.lda+i])
			}
			return float64(a[i*g.lda+p])
		}
		opB := func(p, j int) float64 {
			if g.transB {
				return float64(b[j*g.ldb+p])
			}
			return float64(b[p*g.ldb+j])
		}

		// Error bound. The kernels compute, per element, c = fl(beta·c)
		// (when beta ∉ {0, 1}), then for each block of k one update
		// c = alpha·s + c, where s is the block's sum of a_ip·b_pj
		// accumulated in float32 in order of p: an FMA per term, or a
		// rounded product and a rounded sum. A term meets at most k
		// roundings inside its block's sum (the block has at most k terms),
		// then at most 2 per block (alpha·s and the addition, when not fused)
		// in its own and every later block, and c's term meets the rounding
		// of beta·c besides: k + 2·blocks + 1 ≤ 3k + 1 roundings (blocks ≤ k,
		// whatever kc). Each rounding is within 2⁻²⁴ of the value rounded,
		// and every value is at most M = |beta·c| + |alpha|·Σ_p |a_ip·b_pj|
		// to first order, so the error is within γ(3k+1)·M ≤ (3k+2)·2⁻²⁴·M
		// (γ(j) = j·2⁻²⁴/(1 − j·2⁻²⁴); the extra 2⁻²⁴·M covers its second
		// order term for j ≤ 4096 and the float64 reference's own error).
		// Subnormal results round by up to 2⁻¹⁵⁰ absolutely instead: at
		// most 2k roundings in the sums (a product and an addition per
		// term), scaled by |alpha|, and 2·blocks + 1 ≤ 2k + 1 more, within
		// the floor 2⁻¹⁴⁸·(k·(1 + |alpha|) + 1), twice their sum. Any other
		// order, blocking or fusion has the same bound, so two
		// implementations differ by at most twice it.
		//
		// Special values: a NaN in an element's inputs (alpha when k > 0,
		// beta·c when beta ≠ 0, a term a_ip·b_pj, which is NaN for 0·Inf)
		// makes it NaN in float32 and float64 alike. Otherwise each term is
		// one exact product whose class (±Inf, finite) is that of the
		// reference, and a finite alpha ≠ 0 keeps that class through
		// alpha·s; the sums agree on ±Inf and NaN unless a float32
		// intermediate overflows, which M < 2¹²⁶ (and Σ|a·b| < 2¹²⁶ for a
		// small alpha) rules out. An infinite alpha turns every block sum s
		// into ±Inf by its sign and into NaN when s is 0, so the reference's
		// alpha·Σ agrees only when no block sum can be 0 or of the other
		// sign: all terms 0, or all nonzero with one sign and none so small
		// (below 2⁻¹⁴⁸) that float32 rounds it to 0. termSafe's rule for
		// GerBatch, which scales each term by alpha, would skip more.
		safe := make([]bool, m*n)
		bound, floor := make([]float64, m*n), make([]float64, m*n)
		update := alpha != 0 && k > 0 // BLAS reads A and B only then
		absAlpha := 0.0
		if update && finite(float64(alpha)) {
			absAlpha = math.Abs(float64(alpha))
		}
		for i := range m {
			for j := range n {
				e := i*n + j
				var bc float64 // beta·c; C is not read when beta is 0
				if beta != 0 {
					bc = float64(beta) * float64(ci[e])
				}
				nan := bc != bc || (update && alpha != alpha)
				var sxy float64
				var pos, neg, zero, tiny bool
				for p := 0; update && p < k; p++ {
					v := opA(i, p) * opB(p, j)
					switch {
					case v != v:
						nan = true
					case v > 0:
						pos = true
					case v < 0:
						neg = true
					default:
						zero = true
					}
					if finite(v) {
						sxy += math.Abs(v)
						tiny = tiny || (v != 0 && math.Abs(v) < 0x1p-148)
					}
				}
				mag := absAlpha * sxy
				if finite(bc) {
					mag += math.Abs(bc)
				}
				ok := mag < 0x1p126 && sxy < 0x1p126
				if update && math.IsInf(float64(alpha), 0) {
					ok = ok && !tiny && !(pos && neg) && !(zero && (pos || neg))
				}
				safe[e] = nan || ok
				bound[e] = float64(3*k+2) * eps * mag
				floor[e] = 0x1p-148 * (float64(k)*(1+absAlpha) + 1)
			}
		}
		testGemm(t, desc, g, alpha, beta, a, b, c0,
			func(e int) float64 { return bound[e] + floor[e] },
			func(e int) bool { return !safe[e] })
	})
}

// testGemm runs Gemm on every implementation with a fresh copy of C (c0): A
// and B must be unchanged and the elements outside C's m×n matrix (between
// rows, before and after it) untouched; when m or n is 0 nothing may change
// at all, and when beta is 0 the result must be the one computed with C
// zeroed (C is not read). generic is checked against the reference within
// tol except where skip, every other implementation against generic within
// twice tol.
func testGemm(t *testing.T, desc string, g gemmDims, alpha, beta float32, a, b []float32, c0 *guarded,
	tol func(e int) float64, skip func(e int) bool) {
	origA, origB := slices.Clone(a), slices.Clone(b)
	run := func(im *kernels.Impl, c []float32, what string) {
		call(t, im, what, func() {
			im.Gemm(g.transA, g.transB, g.m, g.n, g.k, alpha, a, g.lda, b, g.ldb, beta, c, g.ldc)
		})
	}
	m, n, ldc := g.m, g.n, g.ldc
	var gen []float32
	for _, im := range impls() {
		c := &guarded{buf: slices.Clone(c0.buf), n: c0.n}
		run(im, c.arg(), desc)
		unchanged(t, im, "a", a, origA)
		unchanged(t, im, "b", b, origB)
		if m == 0 || n == 0 {
			if err := sameBits(c.buf, c0.buf); err != nil {
				t.Fatalf("%s: %s: an empty product changed c: %v", im.Name(), desc, err)
			}
			continue
		}
		if err := c.check(false); err != nil {
			t.Fatalf("%s: %s: %v", im.Name(), desc, err)
		}
		if err := betweenRows(c.out(), m, n, ldc, "c"); err != nil {
			t.Fatalf("%s: %s: %v", im.Name(), desc, err)
		}
		got := matrixElems(c.out(), m, n, ldc)
		if beta == 0 {
			z := &guarded{buf: slices.Clone(c0.buf), n: c0.n}
			for i := range m {
				clear(z.out()[i*ldc : i*ldc+n])
			}
			run(im, z.arg(), desc+" on a zeroed c")
			if err := sameBits(got, matrixElems(z.out(), m, n, ldc)); err != nil {
				t.Fatalf("%s: %s: beta is 0 but the result depends on c (against c zeroed: %v)", im.Name(), desc, err)
			}
		}
		if im == generic {
			want := reference.Gemm(g.transA, g.transB, m, n, g.k, alpha, a, g.lda, b, g.ldb, beta, c0.out(), ldc)
			err := checkRef(got, matrixElems(want, m, n, ldc), n,
				func(e int) reference.Tol { return reference.Tol{Abs: tol(e)} }, skip)
			if err != nil {
				t.Fatalf("generic: %s against the float64 reference: %v", desc, err)
			}
			gen = got
		}
		cmp := near{floor: func(e int) float64 { return 2 * tol(e) }, skip: skip}
		if err := cmp.compare(got, gen, n); err != nil {
			t.Fatalf("%s: %s against generic: %v", im.Name(), desc, err)
		}
	}
}

// FuzzLinearCrossEntropy checks the fused output-layer step. For every
// implementation: a bad label returns its *LabelError with nothing written;
// otherwise the result is, bit for bit, the unfused sequence of the same
// implementation (Gemm, CrossEntropyGrad, Gemm for dw and dx, column sums:
// these sizes fit one chunk), special values included, and with finite
// inputs of moderate size it is within reference.LinearCrossEntropy's
// bounds of the float64 step and within twice them of generic. Outputs are
// guarded and must be written whole.
func FuzzLinearCrossEntropy(f *testing.F) {
	addLinearSeeds(f)
	f.Fuzz(func(t *testing.T, mode uint8, kArg, fArg, cArg, labelArg uint16, flags uint8, data []byte) {
		features := 1 + int(fArg)%64
		classes := 1 + int(cArg)%40
		k := int(kArg) % (maxElems/max(features, classes) + 1)
		k = min(k, 40)
		bias, wantDB, wantDX := flags&1 != 0, flags&2 != 0, flags&4 != 0
		d := newDecoder(mode, data)
		x, w := d.values(k*features), d.values(classes*features)
		var b []float32
		if bias {
			b = d.values(classes)
		}
		labels, badRow := d.labels(k, classes, labelArg)
		desc := fmt.Sprintf("LinearCrossEntropy(k=%d, features=%d, classes=%d, bias=%v, db=%v, dx=%v, %v, labels %#x)",
			k, features, classes, bias, wantDB, wantDX, d, labelArg)
		inputs := [][]float32{x, w, b}
		orig := [][]float32{slices.Clone(x), slices.Clone(w), slices.Clone(b)}

		var ref *reference.Linear
		var genOuts [][]float32 // generic's dw, db and dx
		if badRow < 0 && moderate(x, w, b) {
			ref = reference.LinearCrossEntropy(x, w, b, labels, features, classes, softmaxRefRel)
		}
		for _, im := range impls() {
			dw, db, dx := newGuarded(classes*features), newGuarded(classes), newGuarded(k*features)
			orNil := func(g *guarded, use bool) []float32 {
				if !use {
					return nil
				}
				return g.out()
			}
			var loss float64
			var err error
			call(t, im, desc, func() {
				loss, err = im.LinearCrossEntropy(dw.out(), orNil(db, wantDB), orNil(dx, wantDX), x, w, b, labels, features, classes)
			})
			for i, in := range inputs {
				unchanged(t, im, []string{"x", "w", "b"}[i], in, orig[i])
			}
			written := badRow < 0
			for i, g := range []*guarded{dw, db, dx} {
				if err := g.check(written && []bool{true, wantDB, wantDX}[i]); err != nil {
					t.Fatalf("%s: %s: %s: %v", im.Name(), desc, []string{"dw", "db", "dx"}[i], err)
				}
			}
			if badRow >= 0 {
				if err := labelError(err, badRow, labels[badRow], classes); err != nil {
					t.Fatalf("%s: %s: %v", im.Name(), desc, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %s: %v", im.Name(), desc, err)
			}

			// The unfused sequence.
			z := make([]float32, k*classes)
			beta := float32(0)
			if bias {
				for r := range k {
					copy(z[r*classes:], b)
				}
				beta = 1
			}
			im.Gemm(false, true, k, classes, features, 1, x, features, w, features, beta, z, classes)
			wantLoss, _ := im.CrossEntropyGrad(z, z, labels, classes)
			wantDW := make([]float32, classes*features)
			wantDXv := make([]float32, k*features)
			wantDBv := make([]float32, classes)
			// With no row counted the gradients are 0, whatever x and w hold.
			if slices.ContainsFunc(labels, func(l int32) bool { return l != kernels.IgnoreLabel }) {
				im.Gemm(true, false, classes, features, k, 1, z, classes, x, features, 0, wantDW, features)
				im.Gemm(false, false, k, features, classes, 1, z, classes, w, features, 0, wantDXv, features)
				for r := range k {
					for i := range classes {
						wantDBv[i] += z[r*classes+i]
					}
				}
			}
			same := math.Float64bits(loss) == math.Float64bits(wantLoss) || (loss != loss && wantLoss != wantLoss)
			if !same {
				t.Fatalf("%s: %s: loss %v, the unfused sequence's %v", im.Name(), desc, loss, wantLoss)
			}
			for i, c := range []struct {
				got, want []float32
				use       bool
			}{{dw.out(), wantDW, true}, {db.out(), wantDBv, wantDB}, {dx.out(), wantDXv, wantDX}} {
				if !c.use {
					continue
				}
				if err := sameBits(c.got, c.want); err != nil {
					t.Fatalf("%s: %s: %s differs from the unfused sequence's: %v", im.Name(), desc, []string{"dw", "db", "dx"}[i], err)
				}
			}

			if ref == nil {
				continue
			}
			// generic comes first: the others must agree with it within
			// twice the bounds (each is within them of the reference).
			outs := [][]float32{dw.out(), db.out(), dx.out()}
			if im == generic {
				genOuts = [][]float32{slices.Clone(outs[0]), slices.Clone(outs[1]), slices.Clone(outs[2])}
			}
			for i, bound := range [][]float64{ref.DWBound, ref.DBBound, ref.DXBound} {
				if !([]bool{true, wantDB, wantDX}[i]) {
					continue
				}
				for e, g := range outs[i] {
					if d := math.Abs(float64(g) - float64(genOuts[i][e])); !(d <= 2*bound[e]) {
						t.Fatalf("%s: %s: %s[%d] = %v, generic's %v (bound %.3g)", im.Name(), desc, []string{"dw", "db", "dx"}[i], e, g, genOuts[i][e], 2*bound[e])
					}
				}
			}
			if !(math.Abs(loss-ref.Loss) <= ref.LossBound) && !(math.IsNaN(loss) && math.IsNaN(ref.Loss)) {
				t.Fatalf("%s: %s: loss %v, reference %v ± %.3g", im.Name(), desc, loss, ref.Loss, ref.LossBound)
			}
			for i, c := range []struct {
				got         []float32
				want, bound []float64
				use         bool
			}{{dw.out(), ref.DW, ref.DWBound, true}, {db.out(), ref.DB, ref.DBBound, wantDB}, {dx.out(), ref.DX, ref.DXBound, wantDX}} {
				if !c.use {
					continue
				}
				for e, g := range c.got {
					if d := math.Abs(float64(g) - c.want[e]); !(d <= c.bound[e]) {
						t.Fatalf("%s: %s: %s[%d] = %v, reference %v ± %.3g", im.Name(), desc, []string{"dw", "db", "dx"}[i], e, g, c.want[e], c.bound[e])
					}
				}
			}
		}
	})
}

// moderate reports whether every value is finite and at most 2¹⁶ in size,
// where the step's float32 sums cannot overflow and the reference's bounds
// hold.
func moderate(vs ...[]float32) bool {
	for _, v := range vs {
		for _, e := range v {
			if !(math.Abs(float64(e)) <= 0x1p16) {
				return false
			}
		}
	}
	return true
}

// FuzzCrossEntropyGradWith checks CrossEntropyGradWith against the float64
// reference (which TestCrossEntropyWithTorch holds to PyTorch): the options
// come from opt (bit 0 weights, bit 1 row losses, bits 2-3 the reduction,
// bits 4-7 ε in sixteenths, 16 for 1; bits 8-11 z as 10⁻⁴·(bits)), the
// class weights from the data (sixteenths in [0, 4), a few exactly 0), and a bad
// label (see FuzzCrossEntropyGrad) must leave grad and Losses unwritten.
// Each implementation is held to the reference's bound, with the relative
// error of its sums as in the other targets.
func FuzzCrossEntropyGradWith(f *testing.F) {
	for i, s := range rowShapes {
		f.Add(s.mode, s.rows, s.cols, uint16(i%3), uint16(i*0x135+1), []byte{byte(i), 0x5a, 0xc3})
	}
	f.Add(sane(3), uint16(32), uint16(10), uint16(3), uint16(0xfff), []byte{1})          // all ignored, every option
	f.Add(sane(3), uint16(32), uint16(10), uint16(4|1<<3|5<<5), uint16(0x23), []byte{2}) // label −2 in row 5
	f.Fuzz(func(t *testing.T, mode uint8, rowsArg, colsArg, labelArg, opt uint16, data []byte) {
		rows, cols := rowShape(rowsArg, colsArg)
		d := newDecoder(mode, data)
		logits := d.values(rows * cols)
		labels, badRow := d.labels(rows, cols, labelArg)
		opts := kernels.CrossEntropyOptions{
			LabelSmoothing: float32(min(opt>>4&15+(opt>>4&15)/15, 16)) / 16,
			ZLoss:          float32(opt>>8&15) * 1e-4,
			Reduction:      kernels.Reduction(opt >> 2 & 3 % 3),
		}
		if opt&1 != 0 {
			opts.Weights = make([]float32, cols)
			for i := range opts.Weights {
				// Sixteenths in [0, 4): weights near 1, as real ones are
				// (a weighted mean of weights of 10⁻³⁰ divides by their
				// sum in float32 factors, see CrossEntropyOptions).
				if v := math.Mod(math.Abs(float64(d.value())), 4); v == v && i%7 != 3 {
					opts.Weights[i] = float32(math.Floor(v*16)) / 16
				}
			}
		}
		for r := range rows {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, v := range logits[r*cols : (r+1)*cols] {
				if f := float64(v); !math.IsInf(f, 0) {
					lo, hi = min(lo, f), max(hi, f)
				}
			}
			var spread float64
			for _, v := range logits[r*cols : (r+1)*cols] {
				if f := float64(v); !math.IsInf(f, 0) {
					spread += hi - f
				}
			}
			if opts.LabelSmoothing > 0 && spread > math.MaxFloat32/2 {
				// Σ (max − x) overflows float32: the smoothed loss is
				// +Inf (documented), the float64 reference's finite.
				t.Skip()
			}
			if opts.ZLoss > 0 && max(hi, -lo) > 1e15 {
				// The short rows' float32 row loss z·lse² overflows.
				t.Skip()
			}
		}
		desc := fmt.Sprintf("CrossEntropyGradWith(rows=%d, cols=%d, %v, labels %#x, options %#x)", rows, cols, d, labelArg, opt)
		newLosses := func() *guarded {
			if opt&2 == 0 {
				return nil
			}
			return newGuarded(rows)
		}
		run := func(im *kernels.Impl, grad []float32, in []float32, l *guarded) (loss float64, err error) {
			o := opts
			if l != nil {
				o.Losses = l.out()
			}
			call(t, im, desc, func() { loss, err = im.CrossEntropyGradWith(grad, in, labels, cols, o) })
			return loss, err
		}
		if badRow >= 0 {
			for _, im := range impls() {
				g, l := newGuarded(len(logits)), newLosses()
				err := func() error { _, err := run(im, g.arg(), logits, l); return err }()
				if e := labelError(err, badRow, labels[badRow], cols); e != nil {
					t.Fatalf("%s: %s: %v", im.Name(), desc, e)
				}
				if e := g.check(false); e != nil || !sameGuard(g) || (l != nil && !sameGuard(l)) {
					t.Fatalf("%s: %s: wrote despite the bad label", im.Name(), desc)
				}
			}
			return
		}
		ro := reference.CrossEntropyOptions{Weights: opts.Weights, LabelSmoothing: float64(opts.LabelSmoothing),
			ZLoss: float64(opts.ZLoss), Reduction: int(opts.Reduction)}
		want, wantLoss, wantRows := reference.CrossEntropyWith(logits, labels, cols, ro)
		for _, im := range impls() {
			tol := (reduceULP(im, reference.ExpSum, cols) + 10) * eps
			b, rb, lb := reference.CrossEntropyWithBound(logits, labels, cols, ro, tol)
			g, l := newGuarded(len(logits)), newLosses()
			loss, err := run(im, g.arg(), logits, l)
			if err != nil {
				t.Fatalf("%s: %s: unexpected error %v", im.Name(), desc, err)
			}
			if e := g.check(!hasBits(guardBits, logits)); e != nil {
				t.Fatalf("%s: %s: %v", im.Name(), desc, e)
			}
			grad := g.out()
			if e := checkRef(grad, want, cols, func(i int) reference.Tol {
				return reference.Tol{Abs: b[i], ExactZero: labels[i/cols] == kernels.IgnoreLabel}
			}, nil); e != nil {
				t.Fatalf("%s: %s: grad: %v", im.Name(), desc, e)
			}
			if e := checkRefValue(loss, wantLoss, reference.Tol{Abs: lb, Rel: 1e-12}); e != nil {
				t.Fatalf("%s: %s: loss: %v", im.Name(), desc, e)
			}
			if l != nil {
				if e := l.check(true); e != nil {
					t.Fatalf("%s: %s: Losses: %v", im.Name(), desc, e)
				}
				for r, v := range l.out() {
					if float32(wantRows[r]) == v { // a row loss beyond float32's range included
						continue
					}
					if e := checkRefValue(float64(v), wantRows[r], reference.Tol{Abs: rb[r], ExactZero: labels[r] == kernels.IgnoreLabel}); e != nil && !overflowOK(v, float32(wantRows[r]), rb[r]) {
						t.Fatalf("%s: %s: Losses[%d]: %v", im.Name(), desc, r, e)
					}
				}
			}
			in := slices.Clone(logits)
			inLoss, err := run(im, in, in, newLosses())
			if e := sameBits(in, grad); e != nil || err != nil {
				t.Fatalf("%s: %s in place differs from out of place: %v (error %v)", im.Name(), desc, e, err)
			}
			if math.Float64bits(inLoss) != math.Float64bits(loss) && !(inLoss != inLoss && loss != loss) {
				t.Fatalf("%s: %s in place: loss %v, out of place %v", im.Name(), desc, inLoss, loss)
			}
		}
	})
}

// sameGuard reports whether every element of g's buffer still holds the
// guard bits.
func sameGuard(g *guarded) bool {
	return !slices.ContainsFunc(g.buf, func(v float32) bool { return math.Float32bits(v) != guardBits })
}
