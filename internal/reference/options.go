package reference

import (
	"fmt"
	"math"
)

// The reductions of CrossEntropyOptions, numbered as kernels' Reduction.
const (
	ReduceMean = iota
	ReduceSum
	ReduceNone
)

// CrossEntropyOptions are kernels.CrossEntropyOptions without the output.
type CrossEntropyOptions struct {
	Weights        []float32 // nil: every class weighs 1
	LabelSmoothing float64
	ZLoss          float64
	Reduction      int
}

// CrossEntropyWith returns what kernels.CrossEntropyGradWith computes, the
// way PyTorch's F.cross_entropy with class indices spells it out
// (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing and
// nll_loss), plus the z-loss: with lp = log_softmax(x_r), w the class
// weights (1 without), ε the smoothing and C the classes, a counted row r
// with label y has
//
//	nll_r = −w_y·lp_y,  smooth_r = −Σ_c w_c·lp_c,  L_r = (1−ε)·nll_r + (ε/C)·smooth_r + z·lse_r²,
//
// and an ignored row 0. The loss is Σ L_r divided, for ReduceMean, by D =
// Σ w_y over the counted rows (their number without weights); the
// gradient is the derivative of that loss (of Σ L_r for ReduceNone) with
// respect to each logit, written out as
//
//	((1−ε)·w_y + ε·W/C + 2z·lse_r)·s_c − (1−ε)·w_y·[c = y] − (ε/C)·w_c, over D,
//
// W = Σ w_c and s the softmax. A row with an undefined softmax gets NaN
// everywhere; w_c·lp_c with w_c = 0 and lp_c = −Inf is NaN, as in PyTorch.
// With ReduceMean and D = 0 the loss is NaN, and the gradient NaN in the
// counted rows (0 with none counted). rowLoss holds each L_r.
func CrossEntropyWith(logits []float32, labels []int32, cols int, o CrossEntropyOptions) (grad []float64, loss float64, rowLoss []float64) {
	rows := rowsOf(len(logits), cols)
	sameLen(len(labels), rows, "labels and rows")
	if o.Weights != nil {
		sameLen(len(o.Weights), cols, "weights and cols")
	}
	w := func(c int) float64 {
		if o.Weights == nil {
			return 1
		}
		return float64(o.Weights[c])
	}
	var wsum float64
	for c := range cols {
		wsum += w(c)
	}
	ls, z, cf := o.LabelSmoothing, o.ZLoss, float64(cols)
	grad = make([]float64, len(logits))
	rowLoss = make([]float64, rows)
	var d float64
	counted := 0
	for _, l := range labels {
		switch {
		case l == IgnoreLabel:
		case l < 0 || int(l) >= cols:
			panic(fmt.Sprintf("reference: label %d out of range [0, %d)", l, cols))
		default:
			counted++
			d += w(int(l))
		}
	}
	div := 1.0
	if o.Reduction == ReduceMean {
		div = d
	}
	var sum float64
	for r, l := range labels {
		if l == IgnoreLabel {
			continue
		}
		x, g := logits[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			fillNaN(g)
			rowLoss[r] = math.NaN()
			sum = math.NaN()
			continue
		}
		lse := st.max + st.logZ
		// log_softmax(x)_c = (x_c − max) − log Z: x_c − lse would round
		// lse to the logits' magnitude.
		lp := func(c int) float64 { return float64(x[c]) - st.max - st.logZ }
		wy := w(int(l))
		nll := -wy * lp(int(l))
		var smooth float64
		for c := range x {
			smooth -= w(c) * lp(c)
		}
		lr := (1-ls)*nll + z*lse*lse
		if ls != 0 { // as PyTorch, which leaves out the smoothing term (and its 0·Inf) when ε is 0
			lr += ls / cf * smooth
		}
		rowLoss[r] = lr
		sum += lr
		a := (1-ls)*wy + ls*wsum/cf + 2*z*lse
		for c := range x {
			g[c] = (a*math.Exp(lp(c)) - ls/cf*w(c)) / div
		}
		g[l] -= (1 - ls) * wy / div
	}
	switch {
	case o.Reduction != ReduceMean:
		return grad, sum, rowLoss
	case counted == 0:
		return grad, math.NaN(), rowLoss
	case d == 0:
		for r, l := range labels {
			if l != IgnoreLabel {
				fillNaN(grad[r*cols : (r+1)*cols])
			}
		}
		return grad, math.NaN(), rowLoss
	}
	return grad, sum / d, rowLoss
}

// CrossEntropyWithBound returns the absolute error bounds of a float32
// CrossEntropyGradWith against CrossEntropyWith: per gradient element, per
// row loss, and for the loss. With tol the relative error of the row sums
// (Z, and Σ w_c·(x_c − max), whose float32 terms add one rounding), ρ_c
// the SoftmaxBound of the row under tol, A = (1−ε)·w_y + ε·W/C + 2z·lse,
// σ = (ε/C)·w_c and b = (1−ε)·w_y·[c = y], each gradient element gets
//
//	(|A|·s_c·(ρ_c + 3·2⁻²⁴) + 2z·s_c·e_lse + 4·2⁻²⁴·(|A|·s_c + σ + b) + 2⁻¹²⁶·|A|)/D + 2⁻¹⁴⁹
//
// (the softmax; the factor A, rounded, and its z-loss term through the
// error e_lse = tol + 2⁻²⁴·(2|max| + 3·log Z) of lse, which covers a
// float32 log; the roundings of the shift, the multiply-add and the label
// subtraction; the exp flushed to 0; subnormals). Each row loss gets
//
//	(1−ε)·w_y·(tol + (v + 2·nll')·2⁻²⁴) + (ε/C)·(W·e_lse + P·(tol + 2·2⁻²⁴)) + z·(2|lse|·e_lse + lse²·2⁻²⁴) + |L_r|·2⁻²⁴,
//
// with v the SoftmaxBound spread, nll' = lse − x_y, P = Σ w_c·|x_c − max|:
// the cross-entropy term as CrossEntropyGradBound's, the smoothing term
// through log Z and the weighted sum, the z-loss through lse, and the row
// loss rounded to float32. The loss bound is their sum, over D for
// ReduceMean. Rows with an undefined softmax, ignored rows and the D = 0
// case get 0 (their values are exact zeros or NaN).
func CrossEntropyWithBound(logits []float32, labels []int32, cols int, o CrossEntropyOptions, tol float64) (grad, rowLoss []float64, loss float64) {
	rows := rowsOf(len(logits), cols)
	grad = make([]float64, len(logits))
	rowLoss = make([]float64, rows)
	w := func(c int) float64 {
		if o.Weights == nil {
			return 1
		}
		return float64(o.Weights[c])
	}
	var wsum, d float64
	for c := range cols {
		wsum += w(c)
	}
	for _, l := range labels {
		if l != IgnoreLabel {
			d += w(int(l))
		}
	}
	div, undefined := 1.0, false // the mean of rows that weigh nothing is NaN, its gradient too
	if o.Reduction == ReduceMean {
		undefined = d == 0
		if !undefined {
			div = d
		}
	}
	ls, z, cf := o.LabelSmoothing, o.ZLoss, float64(cols)
	for r, l := range labels {
		if l == IgnoreLabel {
			continue
		}
		x, b := logits[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			continue
		}
		lse := st.max + st.logZ
		eLse := tol + eps*(2*math.Abs(st.max)+3*st.logZ)
		wy := w(int(l))
		a := math.Abs((1-ls)*wy + ls*wsum/cf + 2*z*lse)
		rho := SoftmaxBound(x, cols, tol)
		var p float64
		for c, v := range x {
			s := math.Exp(float64(v) - st.max - st.logZ)
			sigma := ls / cf * w(c)
			var bl float64
			if c == int(l) {
				bl = (1 - ls) * wy
			}
			b[c] = (a*s*(rho[c]+3*eps)+2*z*s*eLse+4*eps*(a*s+sigma+bl)+fltMin*a)/div + subMin
			if dv := st.max - float64(v); !math.IsInf(dv, 0) {
				p += w(c) * dv
			}
		}
		nll := st.logZ - (float64(x[l]) - st.max)
		var lr, lv float64
		if !math.IsInf(nll, 0) {
			lv = wy * nll
		}
		lr = (1-ls)*wy*(tol+(spread(x, st)+2*nll)*eps) +
			ls/cf*(wsum*eLse+p*(tol+2*eps)) +
			z*(2*math.Abs(lse)*eLse+lse*lse*eps) + (math.Abs(lv)+ls/cf*(wsum*st.logZ+p)+z*lse*lse)*eps
		rowLoss[r] = lr
		loss += lr
	}
	if undefined {
		clear(grad)
		loss = 0
	}
	return grad, rowLoss, loss / div
}
