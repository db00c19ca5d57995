// The NEON row kernels' work written with arm_neon.h intrinsics, the way
// XNNPACK's neonfma kernels are structured (a main loop of four vectors,
// the rr2_p5 exp of shared numerics, one accumulator per vector), for
// clang to schedule: `go run ./bench/mca` compiles it with clang -O3 for
// aarch64, cuts its loops out of the object as it does the kernels', and
// prints each kernel's cycles per element beside this reference's, on the
// same core models. Only the main loops are compared (16 elements an
// iteration on both sides), so the tails are plain scalar loops here.
//
// Each function is named ref_<routine>, after the routine of
// ../../kernels/softmax_arm64.s it mirrors.

#include <arm_neon.h>
#include <stddef.h>

// exp(a) for a ≤ 0: n = round(a/ln2) through the magic constant, t = a −
// n·ln2 in two steps, p(t) of degree 5, 2ⁿ·(1 + t·p), 0 below the cutoff.
static inline float32x4_t exp_neg(float32x4_t a) {
	const float32x4_t log2e = vdupq_n_f32(0x1.715476p+0f), magic = vdupq_n_f32(0x1.8000FEp23f);
	const float32x4_t ln2hi = vdupq_n_f32(0x1.62E400p-1f), ln2lo = vdupq_n_f32(0x1.7F7D1Cp-20f);
	const float32x4_t c5 = vdupq_n_f32(0x1.0F9F9Cp-7f), c4 = vdupq_n_f32(0x1.573A1Ap-5f);
	const float32x4_t c3 = vdupq_n_f32(0x1.555A80p-3f), c2 = vdupq_n_f32(0x1.FFFDC6p-2f);
	const float32x4_t c1 = vdupq_n_f32(0x1.FFFFF6p-1f), cutoff = vdupq_n_f32(-0x1.5D589Ep6f);
	float32x4_t v = vfmaq_f32(magic, a, log2e);
	float32x4_t s = vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(v), 23));
	float32x4_t n = vsubq_f32(v, magic);
	float32x4_t t = vfmsq_f32(a, n, ln2hi);
	t = vfmsq_f32(t, n, ln2lo);
	float32x4_t p = vfmaq_f32(c4, c5, t);
	p = vfmaq_f32(c3, p, t);
	p = vfmaq_f32(c2, p, t);
	p = vfmaq_f32(c1, p, t);
	float32x4_t ts = vmulq_f32(t, s);
	float32x4_t f = vfmaq_f32(s, ts, p);
	return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(f), vcltq_f32(a, cutoff)));
}

static float exp_scalar(float a) { return vgetq_lane_f32(exp_neg(vdupq_n_f32(a)), 0); }

// rowMaxes' row: the max, the first sweep of the routines that take
// e^(x − max) (their first loop, as in the NEON routines).
static float row_max(const float *x, size_t n) {
	float32x4_t m0 = vdupq_n_f32(x[0]), m1 = m0, m2 = m0, m3 = m0;
	for (; n >= 16; n -= 16, x += 16) {
		m0 = vmaxq_f32(m0, vld1q_f32(x)), m1 = vmaxq_f32(m1, vld1q_f32(x + 4));
		m2 = vmaxq_f32(m2, vld1q_f32(x + 8)), m3 = vmaxq_f32(m3, vld1q_f32(x + 12));
	}
	float m = vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
	for (; n > 0; n--, x++) m = *x > m ? *x : m;
	return m;
}

// expMinusMax: dst_i = e^(x_i − m).
void ref_expMinusMax(float *dst, const float *x, size_t n, float m) {
	float32x4_t vm = vdupq_n_f32(m);
	for (; n >= 16; n -= 16, x += 16, dst += 16) {
		float32x4_t a0 = vsubq_f32(vld1q_f32(x), vm), a1 = vsubq_f32(vld1q_f32(x + 4), vm);
		float32x4_t a2 = vsubq_f32(vld1q_f32(x + 8), vm), a3 = vsubq_f32(vld1q_f32(x + 12), vm);
		vst1q_f32(dst, exp_neg(a0));
		vst1q_f32(dst + 4, exp_neg(a1));
		vst1q_f32(dst + 8, exp_neg(a2));
		vst1q_f32(dst + 12, exp_neg(a3));
	}
	for (; n > 0; n--) *dst++ = exp_scalar(*x++ - m);
}

// expRows' row: m = max, dst_i = e^(x_i − m), and their sum (four
// accumulators).
float ref_expRows(float *dst, const float *x, size_t n) {
	float m = row_max(x, n);
	float32x4_t vm = vdupq_n_f32(m), s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	for (; n >= 16; n -= 16, x += 16, dst += 16) {
		float32x4_t e0 = exp_neg(vsubq_f32(vld1q_f32(x), vm)), e1 = exp_neg(vsubq_f32(vld1q_f32(x + 4), vm));
		float32x4_t e2 = exp_neg(vsubq_f32(vld1q_f32(x + 8), vm)), e3 = exp_neg(vsubq_f32(vld1q_f32(x + 12), vm));
		vst1q_f32(dst, e0);
		vst1q_f32(dst + 4, e1);
		vst1q_f32(dst + 8, e2);
		vst1q_f32(dst + 12, e3);
		s0 = vaddq_f32(s0, e0), s1 = vaddq_f32(s1, e1), s2 = vaddq_f32(s2, e2), s3 = vaddq_f32(s3, e3);
	}
	float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
	for (; n > 0; n--) s += (*dst++ = exp_scalar(*x++ - m));
	return s;
}

// expSumRows' row: m = max, Σ e^(x_i − m), nothing stored.
float ref_expSumRows(const float *x, size_t n) {
	float m = row_max(x, n);
	float32x4_t vm = vdupq_n_f32(m), s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	for (; n >= 16; n -= 16, x += 16) {
		s0 = vaddq_f32(s0, exp_neg(vsubq_f32(vld1q_f32(x), vm)));
		s1 = vaddq_f32(s1, exp_neg(vsubq_f32(vld1q_f32(x + 4), vm)));
		s2 = vaddq_f32(s2, exp_neg(vsubq_f32(vld1q_f32(x + 8), vm)));
		s3 = vaddq_f32(s3, exp_neg(vsubq_f32(vld1q_f32(x + 12), vm)));
	}
	float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
	for (; n > 0; n--) s += exp_scalar(*x++ - m);
	return s;
}

// scaleRows' row: x_i ·= c.
void ref_scaleRows(float *x, size_t n, float c) {
	for (; n >= 16; n -= 16, x += 16) {
		vst1q_f32(x, vmulq_n_f32(vld1q_f32(x), c));
		vst1q_f32(x + 4, vmulq_n_f32(vld1q_f32(x + 4), c));
		vst1q_f32(x + 8, vmulq_n_f32(vld1q_f32(x + 8), c));
		vst1q_f32(x + 12, vmulq_n_f32(vld1q_f32(x + 12), c));
	}
	for (; n > 0; n--, x++) *x *= c;
}

// logSoftmaxRows' row: dst_i = (x_i − m) − logZ.
void ref_logSoftmaxRows(float *dst, const float *x, size_t n, float m, float logZ) {
	float32x4_t vm = vdupq_n_f32(m), vl = vdupq_n_f32(logZ);
	for (; n >= 16; n -= 16, x += 16, dst += 16)
		for (int j = 0; j < 16; j += 4) vst1q_f32(dst + j, vsubq_f32(vsubq_f32(vld1q_f32(x + j), vm), vl));
	for (; n > 0; n--) *dst++ = (*x++ - m) - logZ;
}

// softTargetRows' row: m = max, grad_i = e^(x_i − m), and Σ grad_i, Σ t_i,
// Σ t_i·(x_i − m).
void ref_softTargetRows(float *grad, const float *x, const float *t, size_t n, float out[4]) {
	float m = out[3] = row_max(x, n);
	float32x4_t vm = vdupq_n_f32(m), z = vdupq_n_f32(0), ts = z, td = z;
	for (; n >= 16; n -= 16, x += 16, t += 16, grad += 16)
		for (int j = 0; j < 16; j += 4) {
			float32x4_t a = vsubq_f32(vld1q_f32(x + j), vm), tj = vld1q_f32(t + j);
			ts = vaddq_f32(ts, tj);
			td = vfmaq_f32(td, tj, a);
			float32x4_t e = exp_neg(a);
			vst1q_f32(grad + j, e);
			z = vaddq_f32(z, e);
		}
	out[0] = vaddvq_f32(z), out[1] = vaddvq_f32(ts), out[2] = vaddvq_f32(td);
	for (; n > 0; n--, x++, t++) {
		float e = exp_scalar(*x - m);
		*grad++ = e, out[0] += e, out[1] += *t, out[2] += *t * (*x - m);
	}
}

// expDotRows' row: m = max, grad_i = e^(x_i − m), and Σ grad_i,
// Σ w_i·(x_i − m).
void ref_expDotRows(float *grad, const float *x, const float *w, size_t n, float out[3]) {
	float m = out[2] = row_max(x, n);
	float32x4_t vm = vdupq_n_f32(m), z0 = vdupq_n_f32(0), z1 = z0, d0 = z0, d1 = z0;
	for (; n >= 16; n -= 16, x += 16, w += 16, grad += 16)
		for (int j = 0; j < 16; j += 8) {
			float32x4_t a0 = vsubq_f32(vld1q_f32(x + j), vm), a1 = vsubq_f32(vld1q_f32(x + j + 4), vm);
			d0 = vfmaq_f32(d0, vld1q_f32(w + j), a0);
			d1 = vfmaq_f32(d1, vld1q_f32(w + j + 4), a1);
			float32x4_t e0 = exp_neg(a0), e1 = exp_neg(a1);
			vst1q_f32(grad + j, e0);
			vst1q_f32(grad + j + 4, e1);
			z0 = vaddq_f32(z0, e0), z1 = vaddq_f32(z1, e1);
		}
	out[0] = vaddvq_f32(vaddq_f32(z0, z1)), out[1] = vaddvq_f32(vaddq_f32(d0, d1));
	for (; n > 0; n--, x++, w++) {
		float e = exp_scalar(*x - m);
		*grad++ = e, out[0] += e, out[1] += *w * (*x - m);
	}
}

// softGradRows' row: grad_i = (e_i·c − t_i)·inv.
void ref_softGradRows(float *grad, const float *t, size_t n, float c, float inv) {
	for (; n >= 16; n -= 16, grad += 16, t += 16)
		for (int j = 0; j < 16; j += 4)
			vst1q_f32(grad + j, vmulq_n_f32(vfmaq_n_f32(vnegq_f32(vld1q_f32(t + j)), vld1q_f32(grad + j), c), inv));
	for (; n > 0; n--) *grad = (*grad * c - *t++) * inv, grad++;
}

// scaleShiftRows' row: x_i = x_i·c − s·w_i.
void ref_scaleShiftRows(float *x, const float *w, size_t n, float c, float s) {
	for (; n >= 16; n -= 16, x += 16, w += 16)
		for (int j = 0; j < 16; j += 4)
			vst1q_f32(x + j, vfmaq_n_f32(vmulq_n_f32(vld1q_f32(w + j), -s), vld1q_f32(x + j), c));
	for (; n > 0; n--) *x = *x * c - s * *w++, x++;
}

// softmaxBackward's row: d = ⟨dy, s⟩, then dx_i = s_i·(dy_i − d).
void ref_softmaxBackward(float *dx, const float *s, const float *dy, size_t n) {
	float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
	const float *ps = s, *pdy = dy;
	size_t k = n;
	for (; k >= 16; k -= 16, ps += 16, pdy += 16) {
		a0 = vfmaq_f32(a0, vld1q_f32(ps), vld1q_f32(pdy));
		a1 = vfmaq_f32(a1, vld1q_f32(ps + 4), vld1q_f32(pdy + 4));
		a2 = vfmaq_f32(a2, vld1q_f32(ps + 8), vld1q_f32(pdy + 8));
		a3 = vfmaq_f32(a3, vld1q_f32(ps + 12), vld1q_f32(pdy + 12));
	}
	float d = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
	for (; k > 0; k--) d += *ps++ * *pdy++;
	float32x4_t vd = vdupq_n_f32(d);
	for (; n >= 16; n -= 16, s += 16, dy += 16, dx += 16)
		for (int j = 0; j < 16; j += 4)
			vst1q_f32(dx + j, vmulq_f32(vld1q_f32(s + j), vsubq_f32(vld1q_f32(dy + j), vd)));
	for (; n > 0; n--) *dx++ = *s++ * (*dy++ - d);
}

// logSoftmaxBackward's row: S = Σ dy, then dx_i = dy_i − e^(logp_i)·S.
void ref_logSoftmaxBackward(float *dx, const float *logp, const float *dy, size_t n) {
	float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
	const float *pdy = dy;
	size_t k = n;
	for (; k >= 16; k -= 16, pdy += 16) {
		a0 = vaddq_f32(a0, vld1q_f32(pdy)), a1 = vaddq_f32(a1, vld1q_f32(pdy + 4));
		a2 = vaddq_f32(a2, vld1q_f32(pdy + 8)), a3 = vaddq_f32(a3, vld1q_f32(pdy + 12));
	}
	float S = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
	for (; k > 0; k--) S += *pdy++;
	float32x4_t vs = vdupq_n_f32(S), zero = vdupq_n_f32(0);
	for (; n >= 16; n -= 16, logp += 16, dy += 16, dx += 16)
		for (int j = 0; j < 16; j += 4) {
			float32x4_t lp = vminq_f32(vld1q_f32(logp + j), zero);
			vst1q_f32(dx + j, vfmsq_f32(vld1q_f32(dy + j), exp_neg(lp), vs));
		}
	for (; n > 0; n--, logp++) *dx++ = *dy++ - exp_scalar(*logp < 0 ? *logp : 0) * S;
}
