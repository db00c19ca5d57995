package reference

import (
	"math"
	"slices"
)

// Linear is the output layer's step in float64 (kernels.LinearCrossEntropy):
// the loss and the gradients, and the absolute error bound of a float32
// computation of each.
type Linear struct {
	Loss, LossBound float64
	DW, DB, DX      []float64 // classes×features, classes, k×features
	DWBound         []float64
	DBBound         []float64
	DXBound         []float64
}

// LinearCrossEntropy returns the step for x (k×features), w
// (classes×features), b (classes values, or nil) and labels: with Z = x·wᵀ +
// b, G = (softmax(Z) − onehot)/n (n the rows not ignored; ignored rows 0),
// dw = Gᵀ·x, db = Σ_r G_r, dx = G·w and the mean loss; NaN loss and zero
// gradients when n is 0. The inputs must be finite and labels valid.
//
// The bounds are those of kernels.LinearCrossEntropy's doc, with tol the
// softmax's relative error (the package doc's 2e-6 for rows up to 4096,
// 1e-5 up to 262 144):
//
//	eZ_r   = (3·features + 4)·2⁻²⁴·max_i (Σ_f |x_rf·w_if| + |b_i|)   the logits' error
//	eG_ri  = (min(s_ri·(e^(2·eZ_r) − 1), 1) + s_ri·tol + [i = label_r]·2·2⁻²⁴ + 2⁻¹²⁶)/n     G's
//	dw_ij: (3k+2)·2⁻²⁴·Σ_r |G_ri·x_rj| + Σ_r eG_ri·|x_rj| + (2k+1)·2⁻¹⁴⁹
//	dx_rj: (3·classes+2)·2⁻²⁴·Σ_i |G_ri·w_ij| + Σ_i eG_ri·|w_ij| + (2·classes+1)·2⁻¹⁴⁹
//	db_i:  (k+1)·2⁻²⁴·Σ_r |G_ri| + Σ_r eG_ri + (k+1)·2⁻¹⁴⁹
//	loss:  the mean over counted rows of 2·eZ_r + tol·(1 + |L_r|), L_r the row's loss
//
// Logits off by at most eZ scale each probability by a factor within
// e^(±2·eZ) (2·eZ of it when eZ is small; for logits of 10¹⁰, whose float32
// rounding alone is thousands, no better than the probability's range);
// each product adds Gemm's error over its summed length, and subnormal
// results up to 2⁻¹⁵⁰ per rounding (a product and a sum per term).
func LinearCrossEntropy(x, w, b []float32, labels []int32, features, classes int, tol float64) *Linear {
	k := rowsOf(len(x), features)
	sameLen(len(labels), k, "labels and rows")
	sameLen(len(w), classes*features, "w and classes×features")
	if b != nil {
		sameLen(len(b), classes, "b and classes")
	}
	F, C := features, classes
	ref := &Linear{
		DW: make([]float64, C*F), DWBound: make([]float64, C*F),
		DB: make([]float64, C), DBBound: make([]float64, C),
		DX: make([]float64, k*F), DXBound: make([]float64, k*F),
	}
	n := 0
	for _, l := range labels {
		if l != IgnoreLabel {
			n++
		}
	}
	if n == 0 {
		ref.Loss = math.NaN()
		return ref
	}
	z := make([]float64, C)
	g := make([]float64, C)  // G's row
	eg := make([]float64, C) // its error bound
	for r, l := range labels {
		if l == IgnoreLabel {
			continue
		}
		xr := x[r*F : (r+1)*F]
		eZ := 0.0
		for i := range C {
			var v, mag float64
			for f := range F {
				p := float64(xr[f]) * float64(w[i*F+f])
				v += p
				mag += math.Abs(p)
			}
			if b != nil {
				v += float64(b[i])
				mag += math.Abs(float64(b[i]))
			}
			z[i] = v
			eZ = max(eZ, float64(3*F+4)*eps*mag)
		}
		m := slices.Max(z)
		var sum float64
		for _, v := range z {
			sum += math.Exp(v - m)
		}
		logZ := math.Log(sum)
		loss := logZ + m - z[l]
		ref.Loss += loss
		ref.LossBound += 2*eZ + tol*(1+math.Abs(loss))
		for i, v := range z {
			s := math.Exp(v - m - logZ)
			g[i] = s / float64(n)
			// s·(e^(2·eZ) − 1), taken in the exponent so that an s that
			// underflows or a factor that overflows give no 0·Inf.
			moved := min(math.Exp(v-m-logZ+2*eZ)-s, 1)
			eg[i] = (moved + s*tol + fltMin) / float64(n)
		}
		g[l] -= 1 / float64(n)
		eg[l] += 2 * eps / float64(n)
		for i := range C {
			ref.DB[i] += g[i]
			ref.DBBound[i] += float64(k+1)*eps*math.Abs(g[i]) + eg[i]
			for f := range F {
				xv, wv := float64(xr[f]), float64(w[i*F+f])
				ref.DW[i*F+f] += g[i] * xv
				ref.DWBound[i*F+f] += float64(3*k+2)*eps*math.Abs(g[i]*xv) + eg[i]*math.Abs(xv)
				ref.DX[r*F+f] += g[i] * wv
				ref.DXBound[r*F+f] += float64(3*C+2)*eps*math.Abs(g[i]*wv) + eg[i]*math.Abs(wv)
			}
		}
	}
	for i := range ref.DWBound {
		ref.DWBound[i] += float64(2*k+1) * subMin
	}
	for i := range ref.DXBound {
		ref.DXBound[i] += float64(2*C+1) * subMin
	}
	for i := range ref.DBBound {
		ref.DBBound[i] += float64(k+1) * subMin
	}
	ref.Loss /= float64(n)
	ref.LossBound /= float64(n)
	return ref
}
