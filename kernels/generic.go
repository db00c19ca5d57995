package kernels

import (
	"math"
)

// The pure-Go implementation. It is the fallback wherever no SIMD
// implementation runs and the reference the SIMD implementations are fuzzed
// against, so each kernel here spells out the exact sequence of float32
// operations the SIMD kernels perform: the same exp, the same max-subtraction,
// the same scaling. Row sums are the exception: they are accumulated in
// float64 here, which makes this path the more accurate one.

var genericImpl = &Impl{
	name: "generic",
	k: kernelSet{
		softmax:              softmaxRows,
		logSoftmax:           logSoftmaxRows,
		softmaxBackward:      softmaxBackwardRows,
		logSoftmaxBackward:   logSoftmaxBackwardRows,
		crossEntropyGrad:     crossEntropyGradRows,
		crossEntropyGradSoft: crossEntropyGradSoftRows,
		ger:                  gerGeneric,
		gerBatch:             gerBatchGeneric,
	},
}

// Constants of exp on x ≤ 0: two-constant Cody-Waite reduction
// x = n·ln2 + t, |t| ≤ ln2/2, and a degree-5 minimax polynomial for e^t
// (the "rr2_p5" scheme, ≤ 2 ULP; see ExpMaxULP in the tests).
const (
	expLog2e  = 0x1.715476p+0  // 1/ln 2
	expMagic  = 0x1.8000FEp23  // 1.5·2²³ + 127: rounds to an integer n in the low mantissa bits, biased so that bits<<23 is 2ⁿ
	expLn2Hi  = 0x1.62E400p-1  // ln 2 rounded to 16 bits, so n·ln2Hi is exact
	expLn2Lo  = 0x1.7F7D1Cp-20 // ln 2 − ln2Hi
	expC5     = 0x1.0F9F9Cp-7
	expC4     = 0x1.573A1Ap-5
	expC3     = 0x1.555A80p-3
	expC2     = 0x1.FFFDC6p-2
	expC1     = 0x1.FFFFF6p-1
	expCutoff = -0x1.5D589Ep6 // −87.33654: below it e^x is subnormal in float32 and the result is +0
)

// fma32 returns a·b+c rounded once to float32, as a SIMD FMA does, on every
// architecture: the float64 product of two float32 values is exact, so only
// the sum rounds (to float64, then float32; the double rounding changes the
// result in about one case in 2²⁹).
func fma32(a, b, c float32) float32 {
	return float32(float64(a)*float64(b) + float64(c))
}

// expNeg returns e^x for x ≤ 0 within 2 ULP, +0 for x below expCutoff and
// NaN for NaN. It is the scalar twin of the generator's exp routine (the
// SIMD kernels evaluate exactly these steps, lane by lane).
func expNeg(x float32) float32 {
	v := fma32(x, expLog2e, expMagic)
	s := math.Float32frombits(math.Float32bits(v) << 23) // 2ⁿ
	n := v - expMagic
	t := fma32(n, -expLn2Hi, x)
	t = fma32(n, -expLn2Lo, t)
	p := fma32(expC5, t, expC4)
	p = fma32(p, t, expC3)
	p = fma32(p, t, expC2)
	p = fma32(p, t, expC1)
	t *= s
	f := fma32(t, p, s)
	if x < expCutoff {
		f = 0
	}
	return f
}

// rowMax returns the largest element of a non-empty row. A NaN may or may not
// be returned when the row holds one; either way the row's exp sum becomes
// NaN and with it every output of the row, which is the semantics all
// implementations share.
func rowMax(x []float32) float32 {
	m0, m1, m2, m3 := x[0], x[0], x[0], x[0]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		if v[0] > m0 {
			m0 = v[0]
		}
		if v[1] > m1 {
			m1 = v[1]
		}
		if v[2] > m2 {
			m2 = v[2]
		}
		if v[3] > m3 {
			m3 = v[3]
		}
	}
	for ; i < len(x); i++ {
		if x[i] > m0 {
			m0 = x[i]
		}
	}
	return max(m0, m1, m2, m3)
}

// expMinusMax writes e^(x_i − m) to dst (when dst is not nil) and returns
// their sum, accumulated in float64.
func expMinusMax(dst, x []float32, m float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	if dst != nil {
		dst = dst[:len(x)]
		for ; i+4 <= len(x); i += 4 {
			v, d := x[i:i+4:i+4], dst[i:i+4:i+4]
			e0, e1, e2, e3 := expNeg(v[0]-m), expNeg(v[1]-m), expNeg(v[2]-m), expNeg(v[3]-m)
			d[0], d[1], d[2], d[3] = e0, e1, e2, e3
			s0 += float64(e0)
			s1 += float64(e1)
			s2 += float64(e2)
			s3 += float64(e3)
		}
		for ; i < len(x); i++ {
			e := expNeg(x[i] - m)
			dst[i] = e
			s0 += float64(e)
		}
	} else {
		for ; i+4 <= len(x); i += 4 {
			v := x[i : i+4 : i+4]
			s0 += float64(expNeg(v[0] - m))
			s1 += float64(expNeg(v[1] - m))
			s2 += float64(expNeg(v[2] - m))
			s3 += float64(expNeg(v[3] - m))
		}
		for ; i < len(x); i++ {
			s0 += float64(expNeg(x[i] - m))
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// scale multiplies x by c in place.
func scale(x []float32, c float32) {
	for i := range x {
		x[i] *= c
	}
}

// dot returns Σ x_i·y_i accumulated in float64.
func dot(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b := x[i:i+4:i+4], y[i:i+4:i+4]
		s0 += float64(a[0]) * float64(b[0])
		s1 += float64(a[1]) * float64(b[1])
		s2 += float64(a[2]) * float64(b[2])
		s3 += float64(a[3]) * float64(b[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sum returns Σ x_i accumulated in float64.
func sum(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// softmaxRows: per row, the max; e_i = e^(x_i − max) stored to dst with their
// sum Z; dst_i = e_i·(1/Z).
func softmaxRows(dst, src []float32, cols int) {
	for r := 0; r < len(src); r += cols {
		x, y := src[r:r+cols], dst[r:r+cols]
		m := rowMax(x)
		z := expMinusMax(y, x, m)
		scale(y, float32(1/z))
	}
}

// logSoftmaxRows: per row, the max; Z = Σ e^(x_i − max) without storing;
// dst_i = (x_i − max) − log Z.
func logSoftmaxRows(dst, src []float32, cols int) {
	for r := 0; r < len(src); r += cols {
		x, y := src[r:r+cols], dst[r:r+cols]
		m := rowMax(x)
		logZ := float32(math.Log(expMinusMax(nil, x, m)))
		for i, v := range x {
			y[i] = (v - m) - logZ
		}
	}
}

// softmaxBackwardRows: per row, d = ⟨dy, s⟩; dx_i = s_i·(dy_i − d).
func softmaxBackwardRows(dx, s, dy []float32, cols int) {
	for r := 0; r < len(s); r += cols {
		sr, g, out := s[r:r+cols], dy[r:r+cols], dx[r:r+cols]
		d := float32(dot(sr, g))
		for i, p := range sr {
			out[i] = p * (g[i] - d)
		}
	}
}

// logSoftmaxBackwardRows: per row, d = Σ dy; dx_i = dy_i − e^min(logp_i, 0)·d.
func logSoftmaxBackwardRows(dx, logp, dy []float32, cols int) {
	for r := 0; r < len(logp); r += cols {
		lp, g, out := logp[r:r+cols], dy[r:r+cols], dx[r:r+cols]
		d := float32(sum(g))
		for i, v := range lp {
			out[i] = fma32(-expNeg(min(v, 0)), d, g[i])
		}
	}
}

// crossEntropyGradRows: per counted row, the max (and the label's logit,
// read before grad may overwrite it); e_i stored to grad with their sum Z;
// grad_i = e_i·c with c = 1/(Z·n), then grad_label −= 1/n. The row's loss is
// log Z − (x_label − max).
func crossEntropyGradRows(grad, logits []float32, labels []int32, cols, counted int) float64 {
	invN := float32(1 / float64(counted))
	var loss float64
	for r, l := range labels {
		x, g := logits[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		if l == IgnoreLabel {
			clear(g)
			continue
		}
		m := rowMax(x)
		xl := x[l]
		z := expMinusMax(g, x, m)
		scale(g, float32(1/(z*float64(counted))))
		g[l] -= invN
		loss += math.Log(z) - (float64(xl) - float64(m))
	}
	return loss
}

// crossEntropyGradSoftRows: per row, the max; e_i = e^(x_i − max) stored to
// grad with Z = Σ e_i, T = Σ t_i and D = Σ t_i·(x_i − max); the loss is
// T·log Z − D; grad_i = (e_i·(T/Z) − t_i)·(1/rows), the first step fused.
func crossEntropyGradSoftRows(grad, logits, targets []float32, cols int) float64 {
	invRows := float32(float64(cols) / float64(len(logits)))
	var loss float64
	for r := 0; r < len(logits); r += cols {
		x, t, g := logits[r:r+cols], targets[r:r+cols], grad[r:r+cols]
		m := rowMax(x)
		var tsum, td float64
		for i, v := range x {
			d := v - m
			tsum += float64(t[i])
			td += float64(t[i]) * float64(d)
		}
		z := expMinusMax(g, x, m)
		c := float32(tsum / z)
		for i, e := range g {
			g[i] = fma32(e, c, -t[i]) * invRows
		}
		loss += tsum*math.Log(z) - td
	}
	return loss
}

// gerGeneric: a_i· += (alpha·x_i)·y, one row of a at a time.
func gerGeneric(a []float32, lda int, alpha float32, x, y []float32) {
	for i, xi := range x {
		axpy(a[i*lda:i*lda+len(y)], alpha*xi, y)
	}
}

// gerBatchGeneric: for each row i of A, the k updates a_i· += (alpha·x_pi)·y_p·
// in sample order, so each row of A is loaded once while Y streams past.
func gerBatchGeneric(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int) {
	k := len(x) / m
	for i := 0; i < m; i++ {
		row := a[i*lda : i*lda+n]
		for p := 0; p < k; p++ {
			axpy(row, alpha*x[p*m+i], y[p*n:(p+1)*n])
		}
	}
}

// axpy computes y += a·x with one rounding per element, as the SIMD FMA
// kernels do, so Ger agrees with them bit for bit.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] = fma32(a, x[i], y[i])
	}
}
