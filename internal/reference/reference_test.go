package reference

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

var (
	inf  = float32(math.Inf(1))
	ninf = float32(math.Inf(-1))
	nan  = float32(math.NaN())
	ln3  = float32(math.Log(3))
)

// near reports whether every element of got is within 1e-12 relative (or
// matches as NaN/Inf/exact) of want.
func near(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				t.Errorf("%s[%d] = %v, want NaN", name, i, g)
			}
		case math.IsInf(w, 0) || w == 0:
			if g != w {
				t.Errorf("%s[%d] = %v, want exactly %v", name, i, g, w)
			}
		case math.Abs(g-w) > 1e-12*math.Abs(w):
			t.Errorf("%s[%d] = %.17g, want %.17g", name, i, g, w)
		}
	}
}

func TestSoftmax(t *testing.T) {
	// softmax([0, ln 3]) = [1/4, 3/4]; ln 3 is rounded to float32, so compare
	// with the exact value for that input.
	d := math.Exp(float64(ln3))
	near(t, "softmax", Softmax([]float32{0, ln3}, 2), []float64{1 / (1 + d), d / (1 + d)})
	if s := Softmax([]float32{0, ln3}, 2); math.Abs(s[0]-.25) > 1e-7 || math.Abs(s[1]-.75) > 1e-7 {
		t.Errorf("softmax([0, ln 3]) = %v, want ≈ [0.25 0.75]", s)
	}
	// Shift invariance and uniform rows, two rows at once.
	near(t, "uniform", Softmax([]float32{5, 5, 5, 5, -7, -7, -7, -7}, 4),
		[]float64{.25, .25, .25, .25, .25, .25, .25, .25})
	// Special values, one per row, with a normal row after them.
	got := Softmax([]float32{
		0, ninf, 0, // −Inf → 0
		ninf, ninf, ninf, // all −Inf → NaN
		1, inf, 2, // +Inf → NaN
		nan, 0, 0, // NaN → NaN
		0, -1000, ninf, // exact 1 and 0
		0, 0, 0,
	}, 3)
	n := math.NaN()
	near(t, "special", got, []float64{.5, 0, .5, n, n, n, n, n, n, n, n, n, 1, 0, 0, 1. / 3, 1. / 3, 1. / 3})
	if len(Softmax(nil, 0)) != 0 || len(Softmax(nil, 5)) != 0 {
		t.Error("empty input should give empty output")
	}
}

func TestLogSoftmax(t *testing.T) {
	// log softmax([0, 0, 0, 0]) = −ln 4; [0, ln 3] → [−ln 4, ln 3 − ln 4].
	l4 := math.Log(4)
	near(t, "uniform", LogSoftmax([]float32{0, 0, 0, 0}, 4), []float64{-l4, -l4, -l4, -l4})
	d := math.Exp(float64(ln3))
	near(t, "ln3", LogSoftmax([]float32{0, ln3}, 2),
		[]float64{-math.Log(1 + d), float64(ln3) - math.Log(1+d)})
	n, ni := math.NaN(), math.Inf(-1)
	near(t, "special", LogSoftmax([]float32{0, ninf, ninf, ninf, nan, 1, 0, -1000}, 2),
		[]float64{0, ni, n, n, n, n, 0, -1000})
}

func TestSoftmaxBackward(t *testing.T) {
	// s = [.25, .75], dy = [1, 0]: ⟨dy, s⟩ = .25, dx = [.25·.75, .75·(−.25)].
	near(t, "dx", SoftmaxBackward([]float32{.25, .75}, []float32{1, 0}, 2), []float64{.1875, -.1875})
	// A constant dy has zero gradient.
	near(t, "const", SoftmaxBackward([]float32{.5, .25, .25}, []float32{3, 3, 3}, 3), []float64{0, 0, 0})
}

func TestLogSoftmaxBackward(t *testing.T) {
	// logp = log[.25, .75], dy = [1, 1]: dx = dy − p·2 = [.5, −.5].
	lp := []float32{float32(math.Log(.25)), float32(math.Log(.75))}
	got := LogSoftmaxBackward(lp, []float32{1, 1}, 2)
	want := []float64{1 - 2*math.Exp(float64(lp[0])), 1 - 2*math.Exp(float64(lp[1]))}
	near(t, "dx", got, want)
	if math.Abs(got[0]-.5) > 1e-7 {
		t.Errorf("dx[0] = %v, want ≈ 0.5", got[0])
	}
	// logp above 0 counts as 0 (probability 1); −Inf is probability 0.
	near(t, "clamp", LogSoftmaxBackward([]float32{3, ninf}, []float32{1, 2}, 2), []float64{1 - 3, 2})
}

func TestCrossEntropyGrad(t *testing.T) {
	// Row 0: [0, ln 3] label 1: loss ln(4/3)... with float32 ln 3, p = d/(1+d).
	// Row 1: ignored. Row 2: [0, 0] label 0: loss ln 2. n = 2.
	d := math.Exp(float64(ln3))
	grad, loss := CrossEntropyGrad([]float32{0, ln3, 7, 8, 0, 0}, []int32{1, IgnoreLabel, 0}, 2)
	p0, p1 := 1/(1+d), d/(1+d)
	near(t, "grad", grad, []float64{p0 / 2, (p1 - 1) / 2, 0, 0, (.5 - 1) / 2, .5 / 2})
	near(t, "loss", []float64{loss}, []float64{(-math.Log(p1) + math.Log(2)) / 2})

	grad, loss = CrossEntropyGrad([]float32{1, 2}, []int32{IgnoreLabel}, 2)
	near(t, "all ignored grad", grad, []float64{0, 0})
	if !math.IsNaN(loss) {
		t.Errorf("all ignored: loss %v, want NaN", loss)
	}
	// Label on a −Inf logit: +Inf loss, finite gradient.
	grad, loss = CrossEntropyGrad([]float32{0, ninf}, []int32{1}, 2)
	near(t, "label on -Inf", append(grad, loss), []float64{1, -1, math.Inf(1)})
	// A NaN row: NaN grad row, NaN loss; the other row is unaffected.
	grad, loss = CrossEntropyGrad([]float32{nan, 0, 0, 0}, []int32{0, 1}, 2)
	near(t, "nan row", append(grad, loss), []float64{math.NaN(), math.NaN(), .25, -.25, math.NaN()})

	defer func() {
		if recover() == nil {
			t.Error("invalid label did not panic")
		}
	}()
	CrossEntropyGrad([]float32{0, 0}, []int32{2}, 2)
}

func TestCrossEntropyGradSoft(t *testing.T) {
	// [0, 0] with targets [.25, .75]: loss ln 2, grad ([.5,.5] − t)/1.
	grad, loss := CrossEntropyGradSoft([]float32{0, 0}, []float32{.25, .75}, 2)
	near(t, "grad", append(grad, loss), []float64{.25, -.25, math.Log(2)})
	// Targets summing to 2 scale the softmax term; two rows halve everything.
	grad, loss = CrossEntropyGradSoft([]float32{0, 0, 5, 5}, []float32{1, 1, 0, 1}, 2)
	near(t, "two rows", append(grad, loss), []float64{0, 0, .25, -.25, (2*math.Log(2) + math.Log(2)) / 2})
	// −Inf logit with target 0: NaN loss, finite grad.
	grad, loss = CrossEntropyGradSoft([]float32{0, ninf}, []float32{1, 0}, 2)
	near(t, "-Inf", append(grad, loss), []float64{0, 0, math.NaN()})
	if _, loss := CrossEntropyGradSoft(nil, nil, 3); !math.IsNaN(loss) {
		t.Errorf("no rows: loss %v, want NaN", loss)
	}
}

func TestGer(t *testing.T) {
	// 2×2 matrix with lda 3 (one padding element per row) plus a trailing guard.
	a := []float32{1, 2, 99, 3, 4, 99, 7}
	got := Ger(a, 3, -.5, []float32{1, 2}, []float32{10, 20})
	near(t, "ger", got, []float64{1 - 5, 2 - 10, 99, 3 - 10, 4 - 20, 99, 7})
	// GerBatch with k = 2 equals two Gers.
	x := []float32{1, 2, 3, 4} // k=2, m=2
	y := []float32{1, 0, 2, 5} // k=2, n=2
	got = GerBatch(a, 3, 1, x, 2, y, 2)
	// A += XᵀY: [1 3;2 4]·[1 0;2 5] = [7 15; 10 20].
	near(t, "gerbatch", got, []float64{8, 17, 99, 13, 24, 99, 7})
	mag := GerBatchMagnitude(a, 3, -1, x, 2, []float32{-1, 0, 2, -5}, 2)
	near(t, "magnitude", mag, []float64{8, 17, 99, 13, 24, 99, 7})
	near(t, "k=0", GerBatch(a, 3, 1, nil, 2, nil, 2), []float64{1, 2, 99, 3, 4, 99, 7})
}

func TestGemm(t *testing.T) {
	// op(A) = [1 2 3; 4 5 6], op(B) = [1 0; −1 2; 0.5 1]: op(A)·op(B) =
	// [0.5 7; 2 16]. Each operand is stored both ways with a padding element
	// per row (9s); C has ldc 3 and a trailing element.
	aN := []float32{1, 2, 3, 9, 4, 5, 6}       // 2×3, lda 4
	aT := []float32{1, 4, 9, 2, 5, 9, 3, 6}    // 3×2, lda 3
	bN := []float32{1, 0, 9, -1, 2, 9, 0.5, 1} // 3×2, ldb 3
	bT := []float32{1, -1, 0.5, 9, 0, 2, 1}    // 2×3, ldb 4
	c := []float32{1, -2, 99, 3, nan, 99, 7}   // 2×2, ldc 3
	for _, tr := range [4][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		a, lda, b, ldb := aN, 4, bN, 3
		if tr[0] {
			a, lda = aT, 3
		}
		if tr[1] {
			b, ldb = bT, 4
		}
		name := fmt.Sprintf("transA=%v transB=%v", tr[0], tr[1])
		// beta 0: C's NaN does not survive.
		near(t, name+" beta=0", Gemm(tr[0], tr[1], 2, 2, 3, 2, a, lda, b, ldb, 0, c, 3),
			[]float64{1, 14, 99, 4, 32, 99, 7})
		near(t, name+" beta=-0.5", Gemm(tr[0], tr[1], 2, 2, 3, 1, a, lda, b, ldb, -.5, c, 3),
			[]float64{0.5 - 0.5, 7 + 1, 99, 2 - 1.5, math.NaN(), 99, 7})
	}
	// alpha 0 and k 0 scale C only: the NaN in A is not read.
	aNaN := []float32{nan, 2, 3, 9, 4, 5, 6}
	want := []float64{-2, 4, 99, -6, math.NaN(), 99, 7}
	near(t, "alpha=0", Gemm(false, false, 2, 2, 3, 0, aNaN, 4, bN, 3, -2, c, 3), want)
	near(t, "k=0", Gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, -2, c, 3), want)
	near(t, "alpha=0 beta=0", Gemm(false, false, 2, 2, 3, 0, aNaN, 4, bN, 3, 0, c, 3), []float64{0, 0, 99, 0, 0, 99, 7})
	near(t, "m=0", Gemm(false, false, 0, 2, 3, 1, nil, 3, bN, 3, 0, c, 3), toFloat64(c))

	// Magnitude: |beta·c| + |alpha|·Σ|a·b| with Σ|a·b| = [4.5 7; 12 16];
	// beta 0 leaves C out, alpha 0 the products.
	cm := []float32{1, -2, 99, 3, -4, 99, 7}
	near(t, "magnitude", GemmMagnitude(false, false, 2, 2, 3, -2, aN, 4, bN, 3, 0.5, cm, 3),
		[]float64{0.5 + 2*4.5, 1 + 2*7, 99, 1.5 + 2*12, 2 + 2*16, 99, 7})
	near(t, "magnitude beta=0", GemmMagnitude(true, true, 2, 2, 3, 1, aT, 3, bT, 4, 0, c, 3),
		[]float64{4.5, 7, 99, 12, 16, 99, 7})
	near(t, "magnitude alpha=0", GemmMagnitude(false, false, 2, 2, 3, 0, aNaN, 4, bN, 3, -1, cm, 3),
		[]float64{1, 2, 99, 3, 4, 99, 7})

	for _, bad := range []struct {
		name string
		f    func()
	}{
		{"negative k", func() { Gemm(false, false, 2, 2, -1, 1, aN, 4, bN, 3, 0, c, 3) }},
		{"lda below k", func() { Gemm(false, false, 2, 2, 3, 1, aN, 2, bN, 3, 0, c, 3) }},
		{"ldb below k for Bᵀ", func() { Gemm(false, true, 2, 2, 3, 1, aN, 4, bT, 2, 0, c, 3) }},
		{"short c", func() { Gemm(false, false, 2, 2, 3, 1, aN, 4, bN, 3, 0, c[:4], 3) }},
		{"short a", func() { GemmMagnitude(true, false, 2, 2, 3, 1, aT[:7], 3, bN, 3, 0, c, 3) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", bad.name)
				}
			}()
			bad.f()
		}()
	}
}

func TestULPDiff(t *testing.T) {
	one := float32(1)
	next := math.Float32frombits(math.Float32bits(one) + 1)
	negz := float32(math.Copysign(0, -1))
	tiny := math.Float32frombits(1) // smallest subnormal
	for _, c := range []struct {
		a, b float32
		want uint32
	}{
		{1, 1, 0},
		{one, next, 1},
		{next, one, 1},
		{0, negz, 0},
		{tiny, -tiny, 2},
		{nan, nan, 0},
		{nan, 1, math.MaxUint32},
		{0, nan, math.MaxUint32},
		{math.MaxFloat32, inf, 1},
		{ninf, inf, 2 * 0x7f800000},
		{-1, 1, 2 * math.Float32bits(1)},
	} {
		if got := ULPDiff(c.a, c.b); got != c.want {
			t.Errorf("ULPDiff(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestULP(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{1, 0x1p-23}, {1.5, 0x1p-23}, {0.75, 0x1p-24}, {0, 0x1p-149}, {0x1p-130, 0x1p-149}, {0x1p-126, 0x1p-149},
		{-2, 0x1p-22}, {math.MaxFloat32, 0x1p104}, {math.Inf(1), 0x1p104},
	} {
		if got := ULP(c.x); got != c.want {
			t.Errorf("ULP(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestCompareEach(t *testing.T) {
	exact := func(i int, g, w float32) string {
		if g != w {
			return "differ"
		}
		return ""
	}
	if err := CompareEach([]float32{1, 2, 3}, []float32{1, 2, 3}, 3, "ref", exact); err != nil {
		t.Errorf("equal slices: %v", err)
	}
	err := CompareEach([]float32{1, 5, 3, 7}, []float32{1, 2, 3, 4}, 2, "ref", exact)
	if err == nil {
		t.Fatal("two differences not reported")
	}
	for _, want := range []string{"element 1 (row 0, col 1)", "got 5", "ref 2", "differ", "and 1 more of 4"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := CompareEach([]float32{1}, []float32{1, 2}, 0, "ref", exact); err == nil {
		t.Error("length mismatch not reported")
	}
}

func TestCheck(t *testing.T) {
	tol := Tol{Rel: 1e-6, ExactZero: true}
	n := math.NaN()
	want := []float64{1, 0, n, math.Inf(-1)}
	if err := Check([]float32{1.0000005, 0, nan, ninf}, want, 2, tol); err != nil {
		t.Errorf("matching output rejected: %v", err)
	}
	for _, c := range []struct {
		got  []float32
		frag string
	}{
		{[]float32{1.00001, 0, nan, ninf}, "element 0 (row 0, col 0)"},
		{[]float32{1, 1e-30, nan, ninf}, "want exactly 0"},
		{[]float32{1, 0, 1, ninf}, "want NaN"},
		{[]float32{1, 0, nan, -3e38}, "element 3 (row 1, col 1)"},
		{[]float32{nan, 0, 0, ninf}, "and 1 more of 4"},
	} {
		err := Check(c.got, want, 2, tol)
		if err == nil || !strings.Contains(err.Error(), c.frag) {
			t.Errorf("Check(%v) = %v, want an error containing %q", c.got, err, c.frag)
		}
	}
	if err := CheckValue(math.Inf(1), math.Inf(1), Tol{}); err != nil {
		t.Error(err)
	}
	if err := CheckValue(2, 2.5, Tol{Abs: .1}); err == nil {
		t.Error("CheckValue accepted 2 for 2.5")
	}
	r, at := Worst([]float32{1.0000005, 0, nan, ninf}, want, func(int) Tol { return tol })
	if at != 0 || r <= 0 || r > 1 {
		t.Errorf("Worst = %v at %d, want a ratio in (0, 1] at 0", r, at)
	}
}

func TestBounds(t *testing.T) {
	// Row [0, 0]: m = 0, w = 0, so the bound is tol for both elements.
	b := SoftmaxBound([]float32{0, 0, 0, -4}, 2, 1e-6)
	if b[0] != 1e-6 || b[1] != 1e-6 {
		t.Errorf("SoftmaxBound([0 0]) = %v, want [1e-6 1e-6]", b[:2])
	}
	// Row [0, −4]: s_1 = e⁻⁴/(1+e⁻⁴), w = 4·s_1.
	s1 := math.Exp(-4) / (1 + math.Exp(-4))
	w := 4 * s1
	if want := 1e-6 + w*eps; math.Abs(b[2]-want) > 1e-20 {
		t.Errorf("bound[2] = %v, want %v", b[2], want)
	}
	if want := 1e-6 + (4+w)*eps; math.Abs(b[3]-want) > 1e-20 {
		t.Errorf("bound[3] = %v, want %v", b[3], want)
	}
	lb := LogSoftmaxBound([]float32{0, ninf}, 2, 1e-7)
	if lb[0] != 1e-7 || lb[1] != 1e-7 {
		t.Errorf("LogSoftmaxBound([0 -Inf]) = %v, want [1e-7 1e-7]", lb)
	}
}

func TestKernelBounds(t *testing.T) {
	// Ger: 2×2 in a stride of 3; the padding and the trailing element get 0.
	a := []float32{1, -2, 99, 3, 4, 99, 7}
	b := GerBatchBound(a, 3, -.5, []float32{1, 2}, 2, []float32{10, -20}, 2)
	// k = 1: 4·2⁻²⁴·(|a| + |alpha·x·y|) + 2⁻¹⁴⁹.
	want := []float64{4 * eps * (1 + 5), 4 * eps * (2 + 10), 0, 4 * eps * (3 + 10), 4 * eps * (4 + 20), 0, 0}
	for i := range want {
		if want[i] != 0 {
			want[i] += subMin
		}
		if math.Abs(b[i]-want[i]) > 1e-22 {
			t.Errorf("GerBatchBound[%d] = %v, want %v", i, b[i], want[i])
		}
	}
	// Cross-entropy: ignored rows get a zero bound; counted rows a positive
	// one, larger at the label; the loss bound is at least tol.
	g, l := CrossEntropyGradBound([]float32{0, 1, 2, 3}, []int32{1, IgnoreLabel}, 2, 1e-6)
	if g[2] != 0 || g[3] != 0 || !(g[0] > 0) || !(g[1] > g[0]) || !(l >= 1e-6) {
		t.Errorf("CrossEntropyGradBound = %v, %v", g, l)
	}
	gs, ls := CrossEntropyGradSoftBound([]float32{0, 1}, []float32{.5, .5}, 2, 1e-6)
	if !(gs[0] > 0) || !(gs[1] > 0) || !(ls > 1e-6) {
		t.Errorf("CrossEntropyGradSoftBound = %v, %v", gs, ls)
	}
	// Backward passes: s_i = 0 gives a bound of 2⁻¹⁴⁹ only.
	sb := SoftmaxBackwardBound([]float32{1, 0}, []float32{3, 4}, 2, 1e-6)
	if sb[1] != subMin || !(sb[0] > 3e-6) {
		t.Errorf("SoftmaxBackwardBound = %v", sb)
	}
	lb := LogSoftmaxBackwardBound([]float32{ninf, 0}, []float32{1, 1}, 2, 1e-6)
	if !(lb[0] < lb[1]) {
		t.Errorf("LogSoftmaxBackwardBound = %v: a -Inf logp should have the smaller bound", lb)
	}
}

// TestLinearCrossEntropy checks the step on one sample, one feature and two
// classes worked by hand: Z = (x, −x) + b, s_1 = σ(z_1 − z_0).
func TestLinearCrossEntropy(t *testing.T) {
	x, w, b := []float32{1}, []float32{1, -1}, []float32{0.5, 0}
	ref := LinearCrossEntropy(x, w, b, []int32{0}, 1, 2, 0)
	s1 := 1 / (1 + math.Exp(2.5)) // z = (1.5, −1): s_1 = σ(−2.5)
	g := []float64{-s1, s1}       // s_0 − 1 = −s_1
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("loss", ref.Loss, math.Log1p(math.Exp(-2.5)))
	near("dw[0]", ref.DW[0], g[0])
	near("dw[1]", ref.DW[1], g[1])
	near("db[1]", ref.DB[1], g[1])
	near("dx[0]", ref.DX[0], g[0]-g[1])
	if !(ref.DWBound[0] > 0 && ref.LossBound > 0) {
		t.Errorf("bounds %v, %v; want > 0", ref.DWBound, ref.LossBound)
	}
	if ref := LinearCrossEntropy(x, w, nil, []int32{IgnoreLabel}, 1, 2, 0); !math.IsNaN(ref.Loss) || ref.DX[0] != 0 {
		t.Errorf("no row counted: loss %v, dx %v; want NaN, 0", ref.Loss, ref.DX)
	}
}

// TestSumDepth pins SumDepth's arithmetic on a few cases worked by hand
// from its derivation.
func TestSumDepth(t *testing.T) {
	for _, c := range []struct {
		impl string
		r    Reduction
		n    int
		want int
	}{
		{"generic", ExpSum, 1000, 1},
		{"generic", RowSum, 1000, 2},
		{"avx512", ExpSum, 1000, 256/32 + 1 + 4},
		{"avx512", ExpSum, 10, 4},     // short rows: a tree over 10 columns
		{"avx512", ExpSum, 20, 2 + 1}, // 20 columns: 2 terms a lane at most
		{"avx2", ExpSum, 12, 7},       // short rows: two accumulators of 6
		{"avx2", ExpSum, 4096, 256/16 + 1 + 4},
		{"neon", ExpSum, 4096, 256/16 + 2 + 4},
		{"avx512", RowSum, 4096, 256/64 + 7},
		{"neon", RowSum, 4096, 256/16 + 7},
		{"avx2", SoftSums, 4096, 256/8 + 1},
		{"neon", SoftSums, 6, 2 + 1},
	} {
		got := SumDepth(c.impl, c.r, c.n)
		if math.Floor(got) != float64(c.want) || got-math.Floor(got) > 1e-5 {
			t.Errorf("SumDepth(%s, %d, %d) = %v, want %d and a little", c.impl, c.r, c.n, got, c.want)
		}
	}
}
