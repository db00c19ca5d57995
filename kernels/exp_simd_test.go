//go:build (amd64 || arm64) && !purego

package kernels

import (
	"fmt"
	"math"
	"math/big"
	"runtime"
	"sync"
	"testing"
)

// simdExp is the element-wise exp routine of a SIMD implementation (the
// generated twin of expMinusMax); simdExps (exp_simd_<arch>_test.go) lists
// them by implementation name.
type simdExp struct {
	impl string
	exp  func(dst, x []float32, m float32)
}

// forEachSIMDExp runs f for each SIMD exp this CPU can run.
func forEachSIMDExp(t *testing.T, f func(t *testing.T, exp func(dst, x []float32, m float32))) {
	for _, s := range simdExps {
		t.Run(s.impl, func(t *testing.T) {
			if _, err := Lookup(s.impl); err != nil {
				t.Skip(err)
			}
			f(t, s.exp)
		})
	}
}

// fmaExact returns a·b+c rounded once to float32: in a big.Float of 400
// bits every sum of float32 products is exact.
func fmaExact(a, b, c float32) float32 {
	var p, s big.Float
	p.SetPrec(400).SetFloat64(float64(a))
	p.Mul(&p, new(big.Float).SetFloat64(float64(b)))
	s.SetPrec(400).Add(&p, new(big.Float).SetFloat64(float64(c)))
	f, _ := s.Float32()
	return f
}

// expExactFMA is expFMA with exact FMAs (no double rounding): what the SIMD
// routines must compute bit for bit, for x in [cutoff, 0].
func expExactFMA(x float32) float32 { return expWith(x, fmaExact) }

// TestExpSIMDSweep compares each SIMD exp with the generic expMinusMax over
// every float32 in [−88, 0] (with -short, every 997th), and with the FMA
// evaluation expFMA. Against generic, which rounds each product before its
// sum, the SIMD result must be within 1 ULP (bit-identical for about 99.2%
// of the inputs); below the cutoff both must be +0. Against expFMA it must
// be identical except where expFMA's float64 emulation rounds twice; each
// such input is checked against an exact FMA evaluation instead.
func TestExpSIMDSweep(t *testing.T) {
	stride := uint32(1)
	if testing.Short() {
		stride = 997
	}
	forEachSIMDExp(t, func(t *testing.T, exp func(dst, x []float32, m float32)) {
		// Negative float32 ordered by bit pattern run from −0 (0x80000000)
		// upwards in magnitude to −88; the range is split among the CPUs.
		first, last := uint32(0x80000000), math.Float32bits(-88)
		type result struct {
			n, same, ulp1, double int // inputs, identical to generic, 1 ULP off, double roundings of expFMA
			worst                 uint32
			worstX                float32
			bad                   string
		}
		workers := runtime.GOMAXPROCS(0)
		results := make([]result, workers)
		span := (last - first) / uint32(workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				r := &results[w]
				lo := first + uint32(w)*span
				hi := lo + span
				if w == workers-1 {
					hi = last + 1
				}
				const batch = 4096
				x := make([]float32, 0, batch)
				got, want := make([]float32, batch), make([]float32, batch)
				for b := uint64(lo); b < uint64(hi) && r.bad == ""; {
					x = x[:0]
					for ; b < uint64(hi) && len(x) < batch; b += uint64(stride) {
						x = append(x, math.Float32frombits(uint32(b)))
					}
					exp(got, x, 0)
					expMinusMax(want, x, 0)
					for i, xi := range x {
						g := got[i]
						if xi < expCutoff {
							if g != 0 || math.Signbit(float64(g)) {
								r.bad = fmt.Sprintf("exp(%g) = %g, want +0 below the cutoff", xi, g)
								break
							}
							continue
						}
						r.n++
						switch d := ulpDistance(g, want[i]); d {
						case 0:
							r.same++
						case 1:
							r.ulp1++
						default:
							if d > r.worst {
								r.worst, r.worstX = d, xi
							}
						}
						if f := expFMA(xi); math.Float32bits(g) != math.Float32bits(f) {
							if e := expExactFMA(xi); math.Float32bits(g) != math.Float32bits(e) {
								r.bad = fmt.Sprintf("exp(%g) = %g (%#x), exact FMA evaluation %g (%#x)",
									xi, g, math.Float32bits(g), e, math.Float32bits(e))
								break
							}
							r.double++
						}
					}
				}
			})
		}
		wg.Wait()
		var total result
		for _, r := range results {
			if r.bad != "" {
				t.Fatal(r.bad)
			}
			total.n += r.n
			total.same += r.same
			total.ulp1 += r.ulp1
			total.double += r.double
			if r.worst > total.worst {
				total.worst, total.worstX = r.worst, r.worstX
			}
		}
		maxULP := 0
		switch {
		case total.worst > 0:
			maxULP = int(total.worst)
		case total.ulp1 > 0:
			maxULP = 1
		}
		t.Logf("%d inputs in [cutoff, 0] (stride %d): against generic max %d ULP, %.3f%% bit-identical, %d differ by 1 ULP",
			total.n, stride, maxULP, 100*float64(total.same)/float64(total.n), total.ulp1)
		t.Logf("against expFMA: identical except %d inputs where its float64 emulation rounds twice (there the exact FMA evaluation matches)",
			total.double)
		if total.worst > 1 {
			t.Fatalf("exp(%g) differs from generic by %d ULP, want ≤ 1", total.worstX, total.worst)
		}
	})
}

// TestExpSIMDSpecial checks special values and a nonzero m against the
// generic expMinusMax bit for bit, and lengths around the vector width,
// in place and not, against it within 1 ULP with nothing written past the
// end.
func TestExpSIMDSpecial(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	below := math.Nextafter32(expCutoff, float32(math.Inf(-1)))
	forEachSIMDExp(t, func(t *testing.T, exp func(dst, x []float32, m float32)) {
		for _, c := range []struct {
			x, m float32
		}{
			{0, 0}, {negZero, 0}, {0, negZero}, {negZero, negZero},
			{-inf, 0}, {nan, 0}, {-nan, 0}, {0, nan},
			{expCutoff, 0}, {below, 0}, {-87.5, 0}, {-1000, 0}, {-math.MaxFloat32, 0},
			{-0x1p-149, 0}, {-0x1p-126, 0}, {-1e-30, 0},
			{5, 5}, {-3, 2}, {1e30, 1e30}, {-1e30, 1e30}, {2.5, 100}, {-100, -12.25},
			{inf, inf}, {-inf, -inf}, {-inf, inf}, {3, -inf}, {math.MaxFloat32, math.MaxFloat32},
			{-math.MaxFloat32, math.MaxFloat32},
		} {
			x := []float32{c.x}
			got, want := make([]float32, 1), make([]float32, 1)
			exp(got, x, c.m)
			expMinusMax(want, x, c.m)
			if math.Float32bits(got[0]) != math.Float32bits(want[0]) && !(got[0] != got[0] && want[0] != want[0]) {
				t.Errorf("exp(%g − %g) = %g (%#x), generic %g (%#x)", c.x, c.m, got[0],
					math.Float32bits(got[0]), want[0], math.Float32bits(want[0]))
			}
		}
		const sentinel = 12345
		for n := range 70 {
			x := make([]float32, n)
			for i := range x {
				x[i] = -float32((i*7919)%1000) / 37
			}
			const m = -2.5
			want := make([]float32, n)
			expMinusMax(want, x, m)
			got := make([]float32, n+1)
			got[n] = sentinel
			exp(got[:n], x, m)
			in := append([]float32(nil), x...)
			exp(in, in, m)
			for i := range n {
				if d := ulpDistance(got[i], want[i]); d > 1 {
					t.Errorf("n=%d: exp(x[%d]=%g − %g) = %g, generic %g: %d ULP", n, i, x[i], m, got[i], want[i], d)
				}
				if math.Float32bits(in[i]) != math.Float32bits(got[i]) {
					t.Errorf("n=%d: in place x[%d] = %g, out of place %g", n, i, in[i], got[i])
				}
			}
			if got[n] != sentinel {
				t.Errorf("n=%d: wrote past the end", n)
			}
		}
	})
}

// TestFMAExact checks the reference of TestExpSIMDSweep on an input where
// float64 emulation rounds twice: (1+2⁻¹²)² + 2⁻⁶⁰ lies just above the
// midpoint between two float32; in float64 it rounds onto the midpoint, and
// then to even, downwards.
func TestFMAExact(t *testing.T) {
	a, c := float32(1+0x1p-12), float32(0x1p-60)
	if got, want := fmaExact(a, a, c), float32(1+0x1p-11+0x1p-23); got != want {
		t.Errorf("fmaExact = %g, want %g", got, want)
	}
	if got, want := float32(float64(a)*float64(a)+float64(c)), float32(1+0x1p-11); got != want {
		t.Errorf("float64 emulation = %g, want the double-rounded %g", got, want)
	}
}
