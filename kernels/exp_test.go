package kernels

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
)

// ulpDistance returns how many float32 values lie between a and b (0 when
// they are equal, both NaN or ±0).
func ulpDistance(a, b float32) uint32 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxUint32
	}
	if a == b {
		return 0
	}
	ia, ib := orderedBits(a), orderedBits(b)
	if ia > ib {
		return uint32(ia - ib)
	}
	return uint32(ib - ia)
}

// orderedBits maps a float32 to an integer that increases with the float.
func orderedBits(f float32) int64 {
	b := int64(math.Float32bits(f))
	if b&(1<<31) != 0 {
		return -(b &^ (1 << 31))
	}
	return b
}

// expSteps evaluates exp's steps for x ≤ 0 as expMinusMax's doc states them, with
// the cutoff compared on every input, and with a*b + c as Go evaluates it
// for this target (fused or not): what expNeg must equal bit for bit,
// whichever inputs its fast path skips the compare for.
func expSteps(x float32) float32 {
	return expWith(x, func(a, b, c float32) float32 { return a*b + c })
}

// expFMA is expNeg with every a*b + c replaced by a single-rounding FMA (a
// float64 product of float32 values is exact, so only the sum rounds, twice:
// to float64, then float32): what the SIMD kernels compute lane by lane.
func expFMA(x float32) float32 {
	return expWith(x, func(a, b, c float32) float32 { return float32(float64(a)*float64(b) + float64(c)) })
}

// expWith evaluates exp's steps for x ≤ 0 with the given multiply-add.
func expWith(x float32, fma func(a, b, c float32) float32) float32 {
	v := fma(x, expLog2e, expMagic)
	s := math.Float32frombits(math.Float32bits(v) << 23)
	n := v - expMagic
	t := fma(n, -expLn2Hi, x)
	t = fma(n, -expLn2Lo, t)
	p := fma(expC5, t, expC4)
	p = fma(p, t, expC3)
	p = fma(p, t, expC2)
	p = fma(p, t, expC1)
	f := fma(t*s, p, s)
	if x < expCutoff {
		f = 0
	}
	return f
}

// TestExpNegExhaustive sweeps every float32 in [−88, 0] and compares expNeg
// with e^x correctly rounded to float32 (math.Exp in float64 is far more
// accurate than that rounding). Above the cutoff the error must be ≤ 2 ULP;
// below it the result must be exactly +0. It also measures how far expNeg
// is from expFMA, the same algorithm with FMA as the SIMD kernels run it: at
// most 1 ULP, and that it equals expSteps bit for bit.
func TestExpNegExhaustive(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive sweep of 1.1e9 inputs; runs without -short")
	}
	const maxULP = 2
	// Negative float32 values ordered by bit pattern run from −0 (0x80000000)
	// upwards in magnitude to −88; the range is split among the CPUs.
	first, last := uint32(0x80000000), math.Float32bits(-88)
	type result struct {
		hist   [maxULP + 2]int // hist[d]: inputs with error d ULP; the last bucket counts worse ones
		fused  [3]int          // inputs where expNeg and expFMA differ by 0, 1, >1 ULP
		worstX float32
		worst  uint32
		bad    string
	}
	workers := runtime.GOMAXPROCS(0)
	results := make([]result, workers)
	var wg sync.WaitGroup
	chunk := (last - first + uint32(workers)) / uint32(workers)
	for w := range workers {
		wg.Go(func() {
			r := &results[w]
			lo := first + uint32(w)*chunk
			hi := min(uint64(lo)+uint64(chunk)-1, uint64(last))
			for b := uint64(lo); b <= hi; b++ {
				x := math.Float32frombits(uint32(b))
				got := expNeg(x)
				if want := expSteps(x); math.Float32bits(got) != math.Float32bits(want) {
					r.bad = fmt.Sprintf("expNeg(%g) = %g, but the steps give %g", x, got, want)
					return
				}
				if x < expCutoff {
					if got != 0 || math.Signbit(float64(got)) {
						r.bad = fmt.Sprintf("expNeg(%g) = %g, want +0 below the cutoff", x, got)
						return
					}
					continue
				}
				r.fused[min(ulpDistance(got, expFMA(x)), 2)]++
				d := ulpDistance(got, float32(math.Exp(float64(x))))
				r.hist[min(d, maxULP+1)]++
				if d > r.worst {
					r.worst, r.worstX = d, x
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
		for d, n := range r.hist {
			total.hist[d] += n
		}
		for d, n := range r.fused {
			total.fused[d] += n
		}
		if r.worst > total.worst {
			total.worst, total.worstX = r.worst, r.worstX
		}
	}
	t.Logf("expNeg on every float32 in [cutoff, 0]: max error %d ULP (at x = %g) against correctly rounded exp; inputs per error 0, 1, 2, >2 ULP: %v",
		total.worst, total.worstX, total.hist)
	same := float64(total.fused[0]) / float64(total.fused[0]+total.fused[1]+total.fused[2])
	t.Logf("against the FMA evaluation of the SIMD kernels: %.2f%% bit-identical, inputs per difference 0, 1, >1 ULP: %v",
		100*same, total.fused)
	if total.worst > maxULP {
		t.Fatalf("max error %d ULP > %d", total.worst, maxULP)
	}
	if total.fused[2] > 0 {
		t.Fatalf("%d inputs differ from the FMA evaluation by more than 1 ULP", total.fused[2])
	}
}

// TestExpStepsEveryBinade compares expNeg with expSteps bit for bit (any
// NaN for NaN) on inputs the exhaustive sweep leaves out: every 4099th
// float32 bit pattern, which reaches every binade of both signs, NaNs of
// both signs, the infinities and inputs above 0 (callers may pass an m below
// the row's maximum). expNeg skips the cutoff compare by a test on v's bits
// that must be exact for every one of them.
func TestExpStepsEveryBinade(t *testing.T) {
	check := func(b uint32) {
		x := math.Float32frombits(b)
		got, want := expNeg(x), expSteps(x)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("expNeg(%g) = %g (%#x), expSteps %g (%#x)", x, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	for b := uint64(0); b < 1<<32; b += 4099 {
		check(uint32(b))
	}
	for _, b := range []uint32{0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x80000000, 0x00000001, 0x80000001} {
		check(b)
	}
}

func TestExpNegSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, want float32 }{
		{0, 1},
		{float32(math.Copysign(0, -1)), 1},
		{-inf, 0},
		{-87.5, 0},
		{-1000, 0},
		{-math.MaxFloat32, 0},
	} {
		got := expNeg(c.x)
		if got != c.want || math.Signbit(float64(got)) {
			t.Errorf("expNeg(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := expNeg(float32(math.NaN())); got == got {
		t.Errorf("expNeg(NaN) = %g, want NaN", got)
	}
}

// TestExpConstants checks exp's constants against what defines them, so
// that a drifted digit fails in every build (with -short and -tags purego
// too, where no sweep runs): log2e, the magic bias, the two parts of ln 2
// and the cutoff are derived here; the minimax coefficients, which nothing
// simpler defines, are pinned by a second copy. A coefficient can drift by
// many ULP and keep exp within its bound, which no accuracy test sees, but
// generic's results would then differ from the generated SIMD code's, whose
// generator holds its own copy.
func TestExpConstants(t *testing.T) {
	ln2 := math.Ln2
	frac, exp2 := math.Frexp(ln2)
	ln2Hi := math.Ldexp(math.Round(frac*(1<<16))/(1<<16), exp2) // ln 2 in 16 significant bits
	cutoff := float32(math.Log(0x1p-126))                       // the least x with e^x ≥ 2⁻¹²⁶, in float32
	if float64(cutoff) < math.Log(0x1p-126) {
		cutoff = math.Nextafter32(cutoff, 0)
	}
	for _, c := range []struct {
		name      string
		got, want float32
	}{
		{"expLog2e", expLog2e, float32(1 / ln2)},
		{"expMagic", expMagic, 0x1.8p23 + 127},
		{"expLn2Hi", expLn2Hi, float32(ln2Hi)},
		{"expLn2Lo", expLn2Lo, float32(ln2 - ln2Hi)},
		{"expCutoff", expCutoff, cutoff},
		{"expC5", expC5, 0x1.0F9F9Cp-7},
		{"expC4", expC4, 0x1.573A1Ap-5},
		{"expC3", expC3, 0x1.555A80p-3},
		{"expC2", expC2, 0x1.FFFDC6p-2},
		{"expC1", expC1, 0x1.FFFFF6p-1},
	} {
		if math.Float32bits(c.got) != math.Float32bits(c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}
}

// TestExpNegSampled is the exhaustive sweep's accuracy check on every
// 1009th float32 of [cutoff, 0] (about a million inputs, every binade):
// within 2 ULP of e^x correctly rounded, in every build and with -short.
func TestExpNegSampled(t *testing.T) {
	first, last := uint32(0x80000000), math.Float32bits(expCutoff)
	for b := uint64(first); b <= uint64(last); b += 1009 {
		x := math.Float32frombits(uint32(b))
		if d := ulpDistance(expNeg(x), float32(math.Exp(float64(x)))); d > 2 {
			t.Fatalf("expNeg(%g) = %g, %d ULP from e^x = %g", x, expNeg(x), d, math.Exp(float64(x)))
		}
	}
}
