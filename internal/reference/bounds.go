package reference

import "math"

// eps is 2⁻²⁴, half an ULP of 1 in float32: the relative error of one
// float32 rounding.
const eps = 0x1p-24

// SoftmaxBound returns, for each element of src, the relative error bound of
// a float32 softmax against the float64 reference:
//
//	tol + (|x_i − m| + w)·2⁻²⁴,  w = Σ_j s_j·|x_j − m|,
//
// with m the row max and s the exact softmax. The second term is the
// unavoidable cost of rounding x_i − m to float32 before the exp (an error
// δ_i ≤ |x_i − m|·2⁻²⁴ in the exponent moves s_i by a factor e^(δ_i − Σ s_j δ_j));
// tol covers the rest (exp, the row sum, the final scaling). Elements whose
// x_i is −Inf, and rows whose softmax is NaN, get the bound tol: their
// expected values are exact 0 or NaN and are not compared by size.
func SoftmaxBound(src []float32, cols int, tol float64) []float64 {
	rows := rowsOf(len(src), cols)
	out := make([]float64, len(src))
	for r := range rows {
		x, b := src[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			for i := range b {
				b[i] = tol
			}
			continue
		}
		w := spread(x, st)
		for i, v := range x {
			b[i] = tol
			if d := st.max - float64(v); !math.IsInf(d, 0) {
				b[i] += (d + w) * eps
			}
		}
	}
	return out
}

// LogSoftmaxBound returns, for each element of src, the absolute error bound
// of a float32 log-softmax against the float64 reference:
//
//	tol + (|x_i − m| + w + log Z + |ls_i|)·2⁻²⁴
//
// with m, w as in SoftmaxBound, Z = Σ_j e^(x_j − m) and ls_i the exact
// log-probability. The terms are the float32 roundings of x_i − m, of the
// exponents inside Z (through log Z), of log Z itself and of the final
// subtraction; tol is the relative error of Z from exp and the summation,
// which log turns into an absolute error. −Inf elements and NaN rows get tol.
func LogSoftmaxBound(src []float32, cols int, tol float64) []float64 {
	rows := rowsOf(len(src), cols)
	out := make([]float64, len(src))
	for r := range rows {
		x, b := src[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			for i := range b {
				b[i] = tol
			}
			continue
		}
		w := spread(x, st)
		for i, v := range x {
			b[i] = tol
			if d := st.max - float64(v); !math.IsInf(d, 0) {
				b[i] += (d + w + st.logZ + d + st.logZ) * eps // |ls_i| = d + log Z
			}
		}
	}
	return out
}

// spread returns w = Σ_j s_j·|x_j − m| for a row with a defined softmax;
// −Inf elements (s_j = 0) add nothing.
func spread(x []float32, st rowStats) float64 {
	var w float64
	for _, v := range x {
		d := st.max - float64(v)
		if math.IsInf(d, 0) {
			continue
		}
		w += math.Exp(-d-st.logZ) * d
	}
	return w
}

// Further float32 error constants: the relative error of exp (2 ULP, where
// one ULP is at most 2⁻²³ of the value), the smallest normal float32 (the
// float32 exp returns 0 below it) and the smallest subnormal (the rounding
// unit of results in the subnormal range).
const (
	expTol = 0x1p-22
	fltMin = 0x1p-126
	subMin = 0x1p-149
)

// SoftmaxBackwardBound returns, for each element, the absolute error bound
// of a float32 SoftmaxBackward against the float64 reference:
//
//	|s_i|·(tol·A + 2·2⁻²⁴·(|dy_i| + A)) + 2⁻¹⁴⁹,  A = Σ_j |s_j·dy_j|,
//
// where tol is the relative error (against A) of the dot product d = ⟨dy, s⟩,
// and the other terms are the float32 roundings of dy_i − d and of the
// product with s_i (|dy_i − d| ≤ |dy_i| + A); 2⁻¹⁴⁹ covers subnormal
// results. The bound does not depend on cancellation in dy_i − d.
func SoftmaxBackwardBound(s, dy []float32, cols int, tol float64) []float64 {
	rows := rowsOf(len(s), cols)
	sameLen(len(dy), len(s), "s and dy")
	out := make([]float64, len(s))
	for r := range rows {
		sr, g, b := s[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		var a float64
		for i := range sr {
			a += math.Abs(float64(sr[i]) * float64(g[i]))
		}
		for i := range sr {
			b[i] = math.Abs(float64(sr[i]))*(tol*a+2*eps*(math.Abs(float64(g[i]))+a)) + subMin
		}
	}
	return out
}

// LogSoftmaxBackwardBound returns, for each element, the absolute error
// bound of a float32 LogSoftmaxBackward against the float64 reference:
//
//	e_i·(2⁻²²·|D| + tol·S) + 2⁻²⁴·|dx_i| + 2⁻¹²⁶·|D| + 2⁻¹⁴⁹
//
// with e_i = exp(min(logp_i, 0)), D = Σ dy, S = Σ |dy| and dx_i the exact
// result: the exp's 2 ULP, the error of the row sum (tol relative to S), the
// final fused multiply-add's rounding, the exp flushed to 0 below 2⁻¹²⁶, and
// subnormal results.
func LogSoftmaxBackwardBound(logp, dy []float32, cols int, tol float64) []float64 {
	rows := rowsOf(len(logp), cols)
	sameLen(len(dy), len(logp), "logp and dy")
	want := LogSoftmaxBackward(logp, dy, cols)
	out := make([]float64, len(logp))
	for r := range rows {
		lp, g, b := logp[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
		var d, s float64
		for _, v := range g {
			d += float64(v)
			s += math.Abs(float64(v))
		}
		d = math.Abs(d)
		for i, v := range lp {
			e := math.Exp(min(float64(v), 0))
			b[i] = e*(expTol*d+tol*s) + eps*math.Abs(want[r*cols+i]) + fltMin*d + subMin
		}
	}
	return out
}

// CrossEntropyGradBound returns the absolute error bounds of a float32
// CrossEntropyGrad against the float64 reference: for each gradient element
// of a counted row,
//
//	(ρ_i·s_i + [i = label]·2·2⁻²⁴)/n + 2⁻¹²⁶,
//
// with ρ_i the SoftmaxBound of the row under tol and s its softmax (the
// softmax term), 2·2⁻²⁴ the roundings of 1/n and of the subtraction of the
// one-hot term, and 2⁻¹²⁶ the exp flushed to 0; 0 for ignored rows, whose
// gradient must be exactly 0. For the loss, the mean over counted rows of
//
//	tol + (w_r + 2·L_r)·2⁻²⁴
//
// where tol is the relative error of the row sum Z (an absolute error of
// log Z), w_r is as in SoftmaxBound (the exponents' roundings as seen
// through Z), and L_r = log Z + max − x_label, the row loss, covers
// rounding log Z, x_label − max and the row loss to float32. Labels must be
// valid.
func CrossEntropyGradBound(logits []float32, labels []int32, cols int, tol float64) (grad []float64, loss float64) {
	rows := rowsOf(len(logits), cols)
	sameLen(len(labels), rows, "labels and rows")
	grad = make([]float64, len(logits))
	n := 0
	for _, l := range labels {
		if l != IgnoreLabel {
			n++
		}
	}
	if n == 0 {
		return grad, 0
	}
	for r, l := range labels {
		if l == IgnoreLabel {
			continue
		}
		x, b := logits[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			continue // NaN row: nothing is compared by size
		}
		rho := SoftmaxBound(x, cols, tol)
		for i, v := range x {
			s := math.Exp(float64(v) - st.max - st.logZ)
			b[i] = rho[i]*s/float64(n) + fltMin
		}
		b[l] += 2 * eps / float64(n)
		w := spread(x, st)
		lr := st.logZ + st.max - float64(x[l])
		loss += tol + (w+2*lr)*eps
	}
	return grad, loss / float64(n)
}

// CrossEntropyGradSoftBound returns the absolute error bounds of a float32
// CrossEntropyGradSoft against the float64 reference. With T = Σ t_i,
// Σ|t| = Σ |t_i| and ρ_i the SoftmaxBound of the row under tol, each
// gradient element gets
//
//	(s_i·(|T|·(ρ_i + 2⁻²⁴) + tol·Σ|t|) + 3·2⁻²⁴·|s_i·T − t_i| + 2⁻¹²⁶·|T|)/rows + 2⁻¹⁴⁹
//
// (the softmax term, the sum T and the rounding of T/Z; the fused
// multiply-add, 1/rows and the final product; the exp flushed to 0;
// subnormal results), and the loss the mean over rows of
//
//	tol·(Σ|t|·(1 + log Z) + P) + 2⁻²⁴·(|T|·(w + log Z) + P + |L_r|)
//
// with P = Σ |t_i·(x_i − max)| and L_r the row loss: the errors of Z
// (through log Z), of T and of the sum P of float32 terms, and the
// roundings of x_i − max, of log Z and of the row loss.
func CrossEntropyGradSoftBound(logits, targets []float32, cols int, tol float64) (grad []float64, loss float64) {
	rows := rowsOf(len(logits), cols)
	sameLen(len(targets), len(logits), "logits and targets")
	grad = make([]float64, len(logits))
	if rows == 0 {
		return grad, 0
	}
	nr := float64(rows)
	for r := range rows {
		x, t, b := logits[r*cols:(r+1)*cols], targets[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		st := stats(x)
		if st.nan {
			continue
		}
		var T, absT, p, lr float64
		for i, v := range x {
			ti := float64(t[i])
			T += ti
			absT += math.Abs(ti)
			if d := st.max - float64(v); !math.IsInf(d, 0) {
				p += math.Abs(ti) * d
				lr += ti * (d + st.logZ)
			}
		}
		rho := SoftmaxBound(x, cols, tol)
		for i, v := range x {
			s := math.Exp(float64(v) - st.max - st.logZ)
			ti := float64(t[i])
			b[i] = (s*(math.Abs(T)*(rho[i]+eps)+tol*absT)+3*eps*math.Abs(s*T-ti)+fltMin*math.Abs(T))/nr + subMin
		}
		w := spread(x, st)
		loss += tol*(absT*(1+st.logZ)+p) + eps*(math.Abs(T)*(w+st.logZ)+p+math.Abs(lr))
	}
	return grad, loss / nr
}

// GerBatchBound returns, for each element of a, the absolute error bound of
// a float32 GerBatch (Ger when k = 1) against the float64 reference:
// (3k + 1)·2⁻²⁴ times the GerBatchMagnitude of the element, plus 2⁻¹⁴⁹. Each
// of the k updates may round three times, each by at most 2⁻²⁴ of that
// magnitude: alpha·x (or the partial sum Σ x·y), the product with y when it
// is not fused into the addition, and the addition; one more rounding covers
// implementations that scale by alpha last. Elements outside the m×n matrix
// get 0: they must not change.
func GerBatchBound(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) []float64 {
	k := batchK(len(x), m, len(y), n)
	mag := GerBatchMagnitude(a, lda, alpha, x, m, y, n)
	out := make([]float64, len(a))
	for i := range m {
		for j := range n {
			out[i*lda+j] = float64(3*k+1)*eps*mag[i*lda+j] + subMin
		}
	}
	return out
}
