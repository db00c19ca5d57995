package kernels

import (
	"math"
	"unsafe"
)

// The pure-Go implementation. It is the fallback wherever no SIMD
// implementation runs and the reference the SIMD implementations are fuzzed
// against, so each kernel here spells out the exact sequence of float32
// operations the SIMD kernels perform: the same exp, the same max-subtraction,
// the same scaling, with FMA wherever the target has it (see below).

var genericImpl = &Impl{name: "generic", isa: isaGeneric}

// Constants of exp on x ≤ 0: two-constant Cody-Waite reduction
// x = n·ln2 + t, |t| ≤ ln2/2, and a degree-5 minimax polynomial for e^t
// (the "rr2_p5" scheme, ≤ 2 ULP; see TestExpNegExhaustive).
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

// Every a*b + c below is written out, not put in a helper: Go lets the
// compiler fuse the two operations into one FMA, and it does where FMA is
// part of the target: arm64, ppc64le, s390x, riscv64 and amd64 with
// GOAMD64=v3. There generic computes the very bits of the SIMD kernels, which
// use FMA throughout, and runs faster. On plain amd64 (GOAMD64=v1)
// the product is rounded before the sum: exp then agrees with the FMA
// evaluation within 1 ULP, bit for bit in 99.2% of the float32 inputs in
// [cutoff, 0] (TestExpNegExhaustive). Emulating FMA with float64 arithmetic
// would agree always but runs many times slower: Go does not break the false
// dependency of CVTSS2SD/CVTSD2SS on their destination register, which chains
// every loop iteration to the one before. (A helper function would be
// inlined, but each inlined call leaves a one-byte NOP in the loop, a sixth
// of exp's instructions.) The figures: docs/performance.md.

// expRegs holds exp's constants in a variable, not as constants, so that
// expMinusMax copies them into registers once per call: as constants the
// compiler reloads each from memory on every element.
var expRegs = [...]float32{expLog2e, expMagic, -expLn2Hi, -expLn2Lo, expC5, expC4, expC3, expC2, expC1, expCutoff}

// expMinusMax writes e^(x_i − m) to dst for x_i − m ≤ 0: within 2 ULP, +0
// where x_i − m is below expCutoff, NaN for NaN. It is the one Go copy of the
// exp algorithm and the scalar twin of the generator's exp routine: the SIMD
// kernels evaluate the same steps, lane by lane, with FMA where the steps
// here write a*b + c. dst may be x.
//
// Each chunk goes through two loops, the range reduction (t, and the bits
// of v = magic + n) into stack buffers and then the polynomial: one element's
// whole chain of dependent operations is long enough that the CPU runs out
// of scheduler entries before it overlaps enough elements; two shorter
// chains overlap better.
//
// Scalar code has no cheap compare-and-clear for the cutoff, and a float
// compare competes with the arithmetic for the two ports that do floating
// point, so the second loop tests n instead, in an integer register: where
// n ≥ −125, x − m lies well above the cutoff (and 2ⁿ is a normal float32
// for n ≤ 0), and the float compare is skipped. One signed compare of v's
// bits against expFastLo tells: read as int32 they rise with v for every v
// ≥ +0, and v = magic + n exactly while |(x − m)·log2e| < 2²². Every v below
// expFastLo's (n ≤ −126, x − m ≤ −2²²/log2e, a negative v, −Inf, a NaN
// with the sign bit set) takes the compare; every v above it has x − m > 0
// or NaN, where the compare is false. The results are those of the steps
// with the compare on every element, bit for bit (TestExpNegExhaustive
// over [−88, 0], TestExpStepsEveryBinade beyond); the loops run 19 float
// operations per element instead of 21.
func expMinusMax(dst, x []float32, m float32) {
	k := expRegs
	log2e, magic, negLn2Hi, negLn2Lo := k[0], k[1], k[2], k[3]
	c5, c4, c3, c2, c1, cutoff := k[4], k[5], k[6], k[7], k[8], k[9]
	dst = dst[:len(x)]
	var tb [expChunk]float32
	var vb [expChunk]uint32
	for len(x) > 0 {
		n := min(len(x), expChunk)
		xs := x[:n]
		for i, xi := range xs {
			a := xi - m
			v := a*log2e + magic
			nf := v - magic
			t := nf*negLn2Hi + a
			t = nf*negLn2Lo + t
			tb[i], vb[i] = t, math.Float32bits(v)
		}
		d := dst[:n]
		for i := range d {
			t, b := tb[i], vb[i]
			s := math.Float32frombits(b << 23) // 2ⁿ
			p := c5*t + c4
			p = p*t + c3
			p = p*t + c2
			p = p*t + c1
			f := t*s*p + s
			if int32(b) < expFastLo && xs[i]-m < cutoff {
				f = 0 // and so +0 for x − m = −Inf, where f is NaN
			}
			d[i] = f
		}
		x, dst = x[n:], dst[n:]
	}
}

// expFastLo is the bits of v = magic − 125, as magic's bits are 0x4B40007F
// and v = magic + n lies in magic's binade.
const expFastLo = 0x4B40007F - 125

// expChunk is the number of elements expMinusMax reduces before it
// evaluates their polynomials.
const expChunk = 64

// expNeg returns e^x for x ≤ 0, as expMinusMax computes it.
func expNeg(x float32) float32 {
	b := [1]float32{x}
	expMinusMax(b[:], b[:], 0)
	return b[0]
}

// chunk is the number of elements the kernels that need exponentials or
// differences without storing them put through a stack buffer at a time.
const chunk = 256

// rowMax returns the largest element of a non-empty row. A NaN may or may not
// be returned when the row holds one; either way the row's exp sum becomes
// NaN and with it every output of the row, which is the semantics all
// implementations share. Where the largest element is a zero of both signs,
// it returns +0.
//
// It compares the elements' bits as integers: a float compare (UCOMISS)
// runs only on port 0, one of the two ports that do all of the exps' float
// arithmetic, while integer compares and conditional moves run on ports the
// exps leave idle. Read as int32, the bits of floats with a clear sign bit
// (+0 up to +Inf, and NaNs above them) sort in float order and below them
// every float with the sign bit set; among those, read as uint32, the bits
// sort in reverse float order (−0 lowest, −Inf above every negative number).
// So the row is scanned in two modes: while every element seen has its sign
// bit set, the maximum is the smallest of their bits as uint32; once one
// element ≥ +0 has been seen, it is the largest as int32. The block of 8
// where that element appears is scanned again in the second mode.
//
// The row is read through a []uint32 view because math.Float32bits of a
// loaded float32 compiles to a float load and a MOVD to an integer
// register, on port 0 again. Each block of 8 reduces as a tree of max (or
// min), which the compiler turns into conditional moves, so that only two
// of them depend on the previous block. It measured faster than the float
// version (docs/performance.md).
func rowMax(row []float32) float32 {
	x := unsafe.Slice((*uint32)(unsafe.Pointer(&row[0])), len(row))
	m := x[0]
	if int32(m) < 0 {
		for len(x) >= 8 {
			w := x[:8:8]
			m = min(m, min(min(w[0], w[1]), min(w[2], w[3])), min(min(w[4], w[5]), min(w[6], w[7])))
			if int32(m) >= 0 {
				break // scan this block again as int32
			}
			x = x[8:]
		}
	}
	if int32(m) >= 0 {
		k := int32(m)
		for len(x) >= 8 {
			w := x[:8:8]
			m0 := max(int32(w[0]), int32(w[1]))
			m1 := max(int32(w[2]), int32(w[3]))
			m2 := max(int32(w[4]), int32(w[5]))
			m3 := max(int32(w[6]), int32(w[7]))
			k = max(k, max(m0, m1), max(m2, m3))
			x = x[8:]
		}
		m = uint32(k)
	}
	for _, b := range x {
		if int32(m) < 0 && b < m || int32(m) >= 0 && int32(b) > int32(m) {
			m = b
		}
	}
	return math.Float32frombits(m)
}

// scale multiplies x by c in place, 8 elements at a time with no index to
// check against the length: the compiler then emits 4 instructions per
// element instead of 5.
func scale(x []float32, c float32) {
	for len(x) >= 8 {
		w := x[:8:8]
		w[0] *= c
		w[1] *= c
		w[2] *= c
		w[3] *= c
		w[4] *= c
		w[5] *= c
		w[6] *= c
		w[7] *= c
		x = x[8:]
	}
	for i := range x {
		x[i] *= c
	}
}

// sum returns Σ x_i: pairs of terms added in float32, the pairs in
// float64. Each term then carries one float32 rounding at most, and the
// float64 additions 2⁻⁵³ each, so that for any row this package takes the
// result is within about 2⁻²⁴ of Σ|x_i| of the exact sum: generic is the
// yardstick of the other implementations, whose sums differ from it by
// their own rounding (internal/reference's SumDepth). Pairs take half the
// conversions to float64 of single terms (docs/performance.md).
//
// The accumulators are eight variables, not an array: the compiler keeps an
// array on the stack, and every addition then waits for the store of the
// one before it.
func sum(x []float32) float64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	for len(x) >= 16 {
		w := x[:16:16]
		s0 += float64(w[0] + w[1])
		s1 += float64(w[2] + w[3])
		s2 += float64(w[4] + w[5])
		s3 += float64(w[6] + w[7])
		s4 += float64(w[8] + w[9])
		s5 += float64(w[10] + w[11])
		s6 += float64(w[12] + w[13])
		s7 += float64(w[14] + w[15])
		x = x[16:]
	}
	for _, e := range x {
		s0 += float64(e)
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dot returns Σ x_i·y_i as sum adds: each pair of products x_i·y_i +
// x_j·y_j in float32 (two roundings at most, one where the compiler fuses
// a multiply with the add), the pairs in float64.
func dot(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	for len(x) >= 16 {
		a, b := x[:16:16], y[:16:16]
		s0 += float64(a[0]*b[0] + a[1]*b[1])
		s1 += float64(a[2]*b[2] + a[3]*b[3])
		s2 += float64(a[4]*b[4] + a[5]*b[5])
		s3 += float64(a[6]*b[6] + a[7]*b[7])
		s4 += float64(a[8]*b[8] + a[9]*b[9])
		s5 += float64(a[10]*b[10] + a[11]*b[11])
		s6 += float64(a[12]*b[12] + a[13]*b[13])
		s7 += float64(a[14]*b[14] + a[15]*b[15])
		x, y = x[16:], y[16:]
	}
	for i, e := range x {
		s0 += float64(e * y[i])
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// expRowsGeneric: per row, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ dst_i.
func expRowsGeneric(dst, src []float32, cols int, m []float32, z []float64) {
	if cols <= shortCols {
		n := len(m) * cols
		subRowMax(dst[:n], src[:n], cols, m)
		expMinusMax(dst[:n], dst[:n], 0)
		for r := range m {
			z[r] = sum(dst[r*cols : (r+1)*cols])
		}
		return
	}
	for r := range m {
		x, y := src[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
		m[r] = rowMax(x)
		expMinusMax(y, x, m[r])
		z[r] = sum(y)
	}
}

// expSumRowsGeneric: per row, m_r = max; z_r = Σ e^(x_i − m_r), not stored.
func expSumRowsGeneric(src []float32, cols int, m []float32, z []float64) {
	var buf [chunk]float32
	if cols <= shortCols {
		step := chunk / cols
		for r0 := 0; r0 < len(m); r0 += step {
			mr := m[r0:min(r0+step, len(m))]
			b := buf[:len(mr)*cols]
			subRowMax(b, src[r0*cols:], cols, mr)
			expMinusMax(b, b, 0)
			for r := range mr {
				z[r0+r] = sum(b[r*cols : (r+1)*cols])
			}
		}
		return
	}
	for r := range m {
		x := src[r*cols : (r+1)*cols]
		m[r] = rowMax(x)
		z[r] = 0
		for i := 0; i < cols; i += chunk {
			n := min(cols-i, chunk)
			expMinusMax(buf[:n], x[i:i+n], m[r])
			z[r] += sum(buf[:n])
		}
	}
}

// shortCols is the longest row whose exps expRowsGeneric and
// expSumRowsGeneric take a block at a time instead of a row at a time:
// subRowMax writes x − max for every row of the block, then one call to
// expMinusMax(…, 0) takes them all. expMinusMax evaluates x − m as its first
// step, and (x − m) − 0 is x − m exactly, so the results are those of a call
// per row, bit for bit, while the cost of a call (its buffers are zeroed on
// entry) and of starting its loops is paid once per block. That measured
// faster up to 16 columns; from about 20 up the extra pass costs more than
// it saves (docs/performance.md).
const shortCols = 16

// subRowMax: for the len(m) rows of x, m_r = max and dst_i = x_i − m_r. dst
// may be x.
func subRowMax(dst, x []float32, cols int, m []float32) {
	for r := range m {
		row, y := x[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
		mr := rowMax(row)
		for i, v := range row {
			y[i] = v - mr
		}
		m[r] = mr
	}
}

// scaleRowsGeneric: x_ri ·= c_r.
func scaleRowsGeneric(x []float32, cols int, c []float32) {
	for r, cr := range c {
		scale(x[r*cols:(r+1)*cols], cr)
	}
}

// scaleStreamGeneric: dst_i = src_i·c. (The SIMD twins write with
// non-temporal stores; see twopass.go.)
func scaleStreamGeneric(dst, src []float32, c float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v * c
	}
}

// logSoftmaxRowsGeneric: dst_i = (x_i − m_r) − logZ_r.
func logSoftmaxRowsGeneric(dst, src []float32, cols int, m, logZ []float32) {
	for r := range m {
		x, y := src[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
		mr, lz := m[r], logZ[r]
		for i, v := range x {
			y[i] = (v - mr) - lz
		}
	}
}

// softTargetRowsGeneric: per row, m_r = max; T_r = Σ t_i;
// D_r = Σ t_i·(x_i − m_r); grad_i = e^(x_i − m_r); z_r = Σ grad_i. Each
// chunk of x is read before the same chunk of grad is written, so grad may
// be logits.
func softTargetRowsGeneric(grad, logits, targets []float32, cols int, m []float32, z, tsum, td []float64) {
	var d [chunk]float32
	for r := range m {
		x, t, g := logits[r*cols:(r+1)*cols], targets[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		m[r] = rowMax(x)
		td[r] = 0
		for i := 0; i < cols; i += chunk {
			n := min(cols-i, chunk)
			for j, v := range x[i : i+n] {
				d[j] = v - m[r]
			}
			td[r] += dot(t[i:i+n], d[:n])
			expMinusMax(g[i:i+n], d[:n], 0) // (x − m) − 0 is x − m exactly: as with x and m
		}
		tsum[r] = sum(t)
		z[r] = sum(g)
	}
}

// expDotRowsGeneric: per row, m_r = max; dst_i = e^(x_i − m_r); z_r = Σ
// dst_i; d_r = Σ w_i·(x_i − m_r), with the class weights w (label
// smoothing's sum, crossEntropyWithBatch).
func expDotRowsGeneric(dst, src, w []float32, cols int, m []float32, z, d []float64) {
	var a [chunk]float32
	w = w[:cols]
	for r := range m {
		x, y := src[r*cols:(r+1)*cols], dst[r*cols:(r+1)*cols]
		m[r] = rowMax(x)
		d[r] = 0
		for i := 0; i < cols; i += chunk {
			n := min(cols-i, chunk)
			for j, v := range x[i : i+n] {
				a[j] = v - m[r]
			}
			d[r] += dot(w[i:i+n], a[:n])
			expMinusMax(y[i:i+n], a[:n], 0)
		}
		z[r] = sum(y)
	}
}

// scaleShiftRowsGeneric: x_ri = x_ri·c_r − s·w_i, the product s·w_i
// rounded (the conversion keeps the compiler from fusing it) and the rest
// one fused multiply-add in the SIMD kernels.
func scaleShiftRowsGeneric(x, w []float32, cols int, c []float32, s float32) {
	w = w[:cols]
	for r, cr := range c {
		g := x[r*cols : (r+1)*cols]
		for i, e := range g {
			g[i] = e*cr - float32(s*w[i])
		}
	}
}

// softGradRowsGeneric: grad_i = (e_i·c_r − t_i)·invRows, the first step
// fused in the SIMD kernels.
func softGradRowsGeneric(grad, targets []float32, cols int, c []float32, invRows float32) {
	for r, cr := range c {
		t, g := targets[r*cols:(r+1)*cols], grad[r*cols:(r+1)*cols]
		for i, e := range g {
			g[i] = (e*cr - t[i]) * invRows
		}
	}
}

// softmaxBackwardGeneric: per row, d = ⟨dy, s⟩; dx_i = s_i·(dy_i − d).
func softmaxBackwardGeneric(dx, s, dy []float32, cols int) {
	for r := 0; r < len(s); r += cols {
		sr, g, out := s[r:r+cols], dy[r:r+cols], dx[r:r+cols]
		d := float32(dot(sr, g))
		for i, p := range sr {
			out[i] = p * (g[i] - d)
		}
	}
}

// logSoftmaxBackwardGeneric: per row, d = Σ dy; dx_i = dy_i − e^min(logp_i, 0)·d.
func logSoftmaxBackwardGeneric(dx, logp, dy []float32, cols int) {
	var p [chunk]float32
	for r := 0; r < len(logp); r += cols {
		lp, g, out := logp[r:r+cols], dy[r:r+cols], dx[r:r+cols]
		d := float32(sum(g))
		for i := 0; i < cols; i += chunk {
			n := min(cols-i, chunk)
			for j, v := range lp[i : i+n] {
				p[j] = min(v, 0)
			}
			expMinusMax(p[:n], p[:n], 0)
			for j, e := range p[:n] {
				out[i+j] = -e*d + g[i+j]
			}
		}
	}
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

// axpy computes y += a·x.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] = a*x[i] + y[i]
	}
}

// gemmTileGeneric is the micro-kernel of the generic isa (the twin of every
// generated gemmTile): a block of rows of tiles, for i < m and j < n,
//
//	c[i*ldc+j] = alpha·Σ_{p<kc} a[(i/mr)*anext + (i%mr)*ars + p*aps]·b[(j/nr)*bnext + p*bps + j%nr] (+ c[i*ldc+j] if add)
//
// with mr, nr = gemmMRGeneric, gemmNRGeneric: one panel of Ã per mr rows,
// anext apart, and one panel of B̃ per nr columns, bnext apart. The sum is
// accumulated in float32 in order of p, and alpha·sum + c is one
// multiply-add. The panels of b are packed (bps = nr) or in place in B;
// rows and columns past m and n are computed and dropped.
func gemmTileGeneric(kc int, a []float32, ars, aps, anext int, b []float32, bps, bnext int, c []float32, ldc, m, n int, alpha float32, add bool) {
	for i0 := 0; i0 < m; i0 += gemmMRGeneric {
		mr := min(gemmMRGeneric, m-i0)
		ap := a[i0/gemmMRGeneric*anext:]
		for j0 := 0; j0 < n; j0 += gemmNRGeneric {
			nr := min(gemmNRGeneric, n-j0)
			acc := gemmAccGeneric(kc, ap, ars, aps, b[j0/gemmNRGeneric*bnext:], bps)
			for r := range mr {
				row := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+nr]
				for j := range row {
					if add {
						row[j] = alpha*acc[r][j] + row[j]
					} else {
						row[j] = alpha * acc[r][j]
					}
				}
			}
		}
	}
}

// gemmTileTGeneric is gemmTileGeneric for a tile of Cᵀ (the twin of every
// generated gemmTileT): the element (r, j) of the tile goes to c[j*ldc+r].
func gemmTileTGeneric(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	acc := gemmAccGeneric(kc, a, ars, aps, b, bps)
	for j := range nr {
		row := c[j*ldc : j*ldc+mr]
		for r := range row {
			if add {
				row[r] = alpha*acc[r][j] + row[r]
			} else {
				row[r] = alpha * acc[r][j]
			}
		}
	}
}

// gemmAccGeneric returns the sums Σ_p a[r*ars+p*aps]·b[p*bps+j] of a whole
// tile, in 16 variables that the compiler keeps in registers.
func gemmAccGeneric(kc int, a []float32, ars, aps int, b []float32, bps int) [gemmMRGeneric][gemmNRGeneric]float32 {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a0 := a[0*ars:]
	a1 := a[1*ars:]
	a2 := a[2*ars:]
	a3 := a[3*ars:]
	for p := 0; p < kc; p++ {
		bp := b[p*bps : p*bps+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		q := p * aps
		x := a0[q]
		c00, c01, c02, c03 = x*b0+c00, x*b1+c01, x*b2+c02, x*b3+c03
		x = a1[q]
		c10, c11, c12, c13 = x*b0+c10, x*b1+c11, x*b2+c12, x*b3+c13
		x = a2[q]
		c20, c21, c22, c23 = x*b0+c20, x*b1+c21, x*b2+c22, x*b3+c23
		x = a3[q]
		c30, c31, c32, c33 = x*b0+c30, x*b1+c31, x*b2+c32, x*b3+c33
	}
	return [gemmMRGeneric][gemmNRGeneric]float32{
		{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33},
	}
}

// The generic micro-kernel's tile: 16 accumulators, as many as amd64's
// float registers hold beside the operands.
const (
	gemmMRGeneric = 4
	gemmNRGeneric = 4
)

// gemmPackTGeneric is the transposing pack of a whole panel of nr = w
// columns: dst[p*w+j] = src[j*ld+p] for j < w, p < kc.
func gemmPackTGeneric(dst, src []float32, ld, kc, w int) {
	for j := range w {
		row := src[j*ld:][:kc]
		for p, v := range row {
			dst[p*w+j] = v
		}
	}
}

// gemmPackNGeneric is the copy of a whole panel of nr = w columns:
// dst[p*w+j] = src[p*ld+j] for j < w, p < kc.
func gemmPackNGeneric(dst, src []float32, ld, kc, w int) {
	for p := range kc {
		copy(dst[p*w:(p+1)*w], src[p*ld:p*ld+w])
	}
}

// gemmDotGeneric is the twin of every generated gemmDot: for r < mr and
// j < nr,
//
//	c[r*ldc+j] = alpha·Σ_{p<k} a[r*lda+p]·b[j*ldb+p] (+ c[r*ldc+j] if add)
//
// a dot product of a row of A and a row of B. Here the sum runs in order
// of p; the SIMD twins add lanes of partial sums, another order.
func gemmDotGeneric(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	for r := range mr {
		ar := a[r*lda : r*lda+k]
		row := c[r*ldc : r*ldc+nr]
		for j := range row {
			br := b[j*ldb : j*ldb+k]
			var s float32
			for p, v := range ar {
				s = v*br[p] + s
			}
			if add {
				row[j] = alpha*s + row[j]
			} else {
				row[j] = alpha * s
			}
		}
	}
}
