package fuzz

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/softgrad/softgrad/internal/reference"
	"github.com/softgrad/softgrad/kernels"
)

// eps is 2⁻²⁴, the relative error of one float32 rounding.
const eps = 0x1p-24

// refSlack multiplies the first-order error bounds of the generic kernels
// against the float64 reference, for the second-order terms they leave out.
const refSlack = 2

// generic is the pure-Go implementation: checked against the float64
// reference, and the yardstick of every other implementation.
var generic = func() *kernels.Impl {
	im, err := kernels.Lookup("generic")
	if err != nil {
		panic(err)
	}
	return im
}()

// impls returns generic followed by every other available implementation.
func impls() []*kernels.Impl {
	out := []*kernels.Impl{generic}
	for _, im := range kernels.Available() {
		if im.Name() != generic.Name() {
			out = append(out, im)
		}
	}
	return out
}

// call runs a kernel and turns a panic into a test failure that names the
// implementation and the input.
func call(t *testing.T, im *kernels.Impl, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: %s panicked: %v\n%s", im.Name(), what, r, debug.Stack())
		}
	}()
	f()
}

// Guarded outputs. An output is allocated with headGuard elements before it
// and tailGuard after the part the kernel may write, all holding guardBits
// (a signalling NaN, which no float32 arithmetic produces); the kernel gets
// the slice from the start of the output to the end of the tail, so it is
// longer than needed, as the API allows.
const (
	headGuard = 16
	tailGuard = 19
	guardBits = 0x7fa5a5a5
)

type guarded struct {
	buf []float32
	n   int
}

func newGuarded(n int) *guarded {
	g := &guarded{buf: make([]float32, headGuard+n+tailGuard), n: n}
	for i := range g.buf {
		g.buf[i] = math.Float32frombits(guardBits)
	}
	return g
}

// arg is the slice handed to the kernel: the output and the tail guard.
func (g *guarded) arg() []float32 { return g.buf[headGuard:] }

// out is the part the kernel must write.
func (g *guarded) out() []float32 { return g.buf[headGuard : headGuard+g.n] }

// check reports a write outside the output, and (when written is true) an
// output element the kernel did not write.
func (g *guarded) check(written bool) error {
	for i, v := range g.buf {
		inOut := i >= headGuard && i < headGuard+g.n
		isGuard := math.Float32bits(v) == guardBits
		switch {
		case !inOut && !isGuard:
			where := fmt.Sprintf("%d elements before the output", headGuard-i)
			if i >= headGuard {
				where = fmt.Sprintf("output tail element %d (output has %d elements)", i-headGuard, g.n)
			}
			return fmt.Errorf("wrote %v (bits %#08x) %s", v, math.Float32bits(v), where)
		case inOut && isGuard && written:
			return fmt.Errorf("left output element %d unwritten", i-headGuard)
		}
	}
	return nil
}

// hasBits reports whether any input holds the guard pattern (then an output
// copying it through cannot be told from an unwritten one).
func hasBits(bits uint32, inputs ...[]float32) bool {
	for _, in := range inputs {
		for _, v := range in {
			if math.Float32bits(v) == bits {
				return true
			}
		}
	}
	return false
}

// sameBits reports the first element where got and want differ in bits,
// except that any two NaNs match.
func sameBits(got, want []float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
			return fmt.Errorf("element %d: got %v (bits %#08x), want %v (bits %#08x)",
				i, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
	return nil
}

// unchanged fails the test when a kernel modified one of its inputs.
func unchanged(t *testing.T, im *kernels.Impl, name string, got, orig []float32) {
	t.Helper()
	if err := sameBits(got, orig); err != nil {
		t.Fatalf("%s modified its input %s: %v", im.Name(), name, err)
	}
}

// fmaExact32 returns a·b+c rounded once to float32 (the hardware FMA). It
// uses math/big for finite inputs: a·b is exact in float64 and the sum is
// exact at 1000 bits, so the only rounding is the final one.
func fmaExact32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	if math.IsInf(p, 0) || math.IsNaN(p) || math.IsInf(float64(c), 0) || c != c {
		return float32(p + float64(c))
	}
	x := new(big.Float).SetPrec(1000).SetFloat64(p)
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// Comparison against the float64 reference.

// checkRef compares the generic implementation's got to the float64
// reference want with reference.CheckFunc, after two adjustments for
// float32's range: an element where skip(i) is true (a float32 intermediate
// may overflow where float64 does not, so the values need not agree) is not
// compared, and an infinite got matches a finite want when the tolerance
// reaches beyond ±MaxFloat32 on its side (float32 rounds such a value to
// that infinity).
func checkRef(got []float32, want []float64, cols int, tol func(int) reference.Tol, skip func(int) bool) error {
	adj := slices.Clone(want)
	for i, w := range adj {
		g := float64(got[i])
		switch {
		case skip != nil && skip(i):
			adj[i] = g
		case math.IsInf(g, 0) && finite(w) && math.Copysign(1, g)*w+tol(i).Bound(w) >= math.MaxFloat32*(1-0x1p-20):
			adj[i] = g
		}
	}
	return reference.CheckFunc(got, adj, cols, tol)
}

// overflowOK reports whether two values, at least one of them infinite and
// not equal, are within floor of each other once float32 overflow is taken
// into account: the finite one (or, for opposite infinities, ±MaxFloat32)
// reaches float32's range on the infinity's side within floor.
func overflowOK(g, w float32, floor float64) bool {
	a, b := float64(g), float64(w)
	if math.IsInf(a, 0) {
		a, b = b, a // a is finite or the other infinity, b infinite
	}
	if math.IsInf(a, 0) {
		return floor >= 2*math.MaxFloat32
	}
	return math.Copysign(1, b)*a+floor >= math.MaxFloat32*(1-0x1p-20)
}

// checkRefValue compares a loss to its reference under tol.
func checkRefValue(got, want float64, tol reference.Tol) error {
	return reference.CheckValue(got, want, tol)
}

// Comparison against generic.

// near says how closely an implementation's output must match generic's,
// element by element: NaN where generic has NaN (and only there), the same
// infinity where generic has one (unless floor(i) reaches float32's range:
// see overflowOK), and otherwise within maxULP ULPs, or within maxULP ULPs
// (of generic's value) plus floor(i) absolutely. Where zero(i) is true a zero in either output must be
// a zero (±0) in the other: the zero is structural (an exp that underflowed,
// an ignored row), not an accident of rounding. Elements where skip(i) is
// true are not compared.
type near struct {
	maxULP uint32
	floor  func(i int) float64
	zero   func(i int) bool
	skip   func(i int) bool
}

func (c near) compare(got, want []float32, cols int) error {
	return reference.CompareEach(got, want, cols, "generic", func(i int, g, w float32) string {
		switch {
		case c.skip != nil && c.skip(i):
		case g != g || w != w:
			if g == g || w == w {
				return "NaN in only one of them"
			}
		case math.IsInf(float64(g), 0) || math.IsInf(float64(w), 0):
			if g != w && (c.floor == nil || !overflowOK(g, w, c.floor(i))) {
				return "infinities differ"
			}
		case c.zero != nil && (g == 0 || w == 0) && c.zero(i):
			if g != w {
				return "a structural zero differs"
			}
		default:
			u := reference.ULPDiff(g, w)
			if u <= c.maxULP {
				break
			}
			d, fl := math.Abs(float64(g)-float64(w)), 0.0
			if c.floor != nil {
				fl = c.floor(i)
			}
			if bound := float64(c.maxULP)*reference.ULP(float64(w)) + fl; !(d <= bound) {
				return fmt.Sprintf("%d ULP and |difference| %.3g > %d ULP + floor %.3g", u, d, c.maxULP, fl)
			}
		}
		return ""
	})
}

// nearValue compares a loss (float64) with generic's: NaN and infinities
// identical, otherwise within floor.
func nearValue(got, want, floor float64) error {
	switch {
	case math.IsNaN(got) || math.IsNaN(want):
		if !math.IsNaN(got) || !math.IsNaN(want) {
			return fmt.Errorf("got %v, generic %v: NaN in only one of them", got, want)
		}
	case math.IsInf(got, 0) || math.IsInf(want, 0):
		if got != want {
			return fmt.Errorf("got %v, generic %v: infinities differ", got, want)
		}
	case math.Abs(got-want) > floor:
		return fmt.Errorf("got %.10g, generic %.10g: |difference| %.3g > %.3g", got, want, math.Abs(got-want), floor)
	}
	return nil
}

// labelError checks that err is the *kernels.LabelError for the bad label.
func labelError(err error, row int, label int32, cols int) error {
	var le *kernels.LabelError
	switch {
	case err == nil:
		return fmt.Errorf("no error for label %d in row %d (cols %d)", label, row, cols)
	case !errors.As(err, &le):
		return fmt.Errorf("error %T %q, want *kernels.LabelError", err, err)
	case le.Row != row || le.Label != label || le.Cols != cols:
		return fmt.Errorf("LabelError{Row: %d, Label: %d, Cols: %d}, want {%d, %d, %d}",
			le.Row, le.Label, le.Cols, row, label, cols)
	}
	return nil
}

// Row statistics in float64, for error bounds.

type rowInfo struct {
	ok   bool    // the row's softmax is defined (no NaN, no +Inf, not all −Inf)
	max  float64 // row max
	logZ float64 // log Σ exp(x_j − max)
	w    float64 // Σ s_j·|x_j − max|, the spread term of reference.SoftmaxBound
}

func rowStats(x []float32) rowInfo {
	m := math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if f != f || math.IsInf(f, 1) {
			return rowInfo{}
		}
		m = max(m, f)
	}
	if math.IsInf(m, -1) || len(x) == 0 {
		return rowInfo{}
	}
	var z, wz float64 // Σ e_j and Σ e_j·|x_j − max|
	for _, v := range x {
		if d := m - float64(v); !math.IsInf(d, 0) {
			e := math.Exp(-d)
			z += e
			wz += e * d
		}
	}
	return rowInfo{ok: true, max: m, logZ: math.Log(z), w: wz / z}
}

// f32Overflows reports whether a finite float64 intermediate would overflow
// when rounded to float32 (with a little margin, since float32 rounding
// errors may push it over).
func f32Overflows(x float64) bool {
	return !math.IsInf(x, 0) && x == x && math.Abs(x) >= math.MaxFloat32*(1-0x1p-20)
}

func finite(x float64) bool { return !math.IsInf(x, 0) && x == x }

func hasInf(x []float32) bool {
	for _, v := range x {
		if math.IsInf(float64(v), 0) {
			return true
		}
	}
	return false
}

// Tests of the helpers themselves: on a machine where generic is the only
// implementation (-tags purego, or an architecture without SIMD kernels),
// the comparisons against generic would otherwise only ever see identical
// outputs.

func TestNearCompare(t *testing.T) {
	one := float32(1)
	next := math.Nextafter32(one, 2)
	far := math.Float32frombits(math.Float32bits(one) + 100)
	tiny := math.Float32frombits(1)
	for _, c := range []struct {
		name      string
		cmp       near
		got, want []float32
		ok        bool
	}{
		{"identical", near{}, []float32{1, qnan, pinf, 0}, []float32{1, qnan, pinf, 0}, true},
		{"within ULP", near{maxULP: 1}, []float32{next}, []float32{one}, true},
		{"beyond ULP", near{maxULP: 1}, []float32{far}, []float32{one}, false},
		{"within floor", near{maxULP: 1, floor: func(int) float64 { return 1e-4 }}, []float32{far}, []float32{one}, true},
		{"NaN on one side", near{maxULP: 1 << 30}, []float32{qnan}, []float32{1}, false},
		{"NaN on the other", near{maxULP: 1 << 30}, []float32{1}, []float32{qnan}, false},
		{"infinity against max", near{maxULP: 10}, []float32{pinf}, []float32{math.MaxFloat32}, false},
		{"infinities of opposite sign", near{}, []float32{ninf}, []float32{pinf}, false},
		{"overflow within floor", near{floor: func(int) float64 { return 1e38 }}, []float32{pinf}, []float32{3e38}, true},
		{"overflow beyond floor", near{floor: func(int) float64 { return 1e37 }}, []float32{pinf}, []float32{3e38}, false},
		{"overflow on the other side", near{floor: func(int) float64 { return 1e38 }}, []float32{ninf}, []float32{3e38}, false},
		{"opposite overflow within floor", near{floor: func(int) float64 { return 1e39 }}, []float32{ninf}, []float32{pinf}, true},
		{"structural zero", near{maxULP: 4, zero: func(int) bool { return true }}, []float32{tiny}, []float32{0}, false},
		{"accidental zero", near{maxULP: 4}, []float32{tiny}, []float32{0}, true},
		{"signed zeros", near{zero: func(int) bool { return true }}, []float32{negZero}, []float32{0}, true},
		{"skipped", near{skip: func(int) bool { return true }}, []float32{qnan}, []float32{1}, true},
	} {
		err := c.cmp.compare(c.got, c.want, 1)
		if (err == nil) != c.ok {
			t.Errorf("%s: compare(%v, %v) = %v, want ok=%v", c.name, c.got, c.want, err, c.ok)
		}
	}
}

func TestFmaExact32(t *testing.T) {
	// a·b + c = 1 + 3·2⁻²⁴ − 2⁻⁷⁰, just below the midpoint between 1 + 2⁻²³
	// and 1 + 2⁻²²: float64 rounds it onto the midpoint and float32 then
	// rounds to even, away from the correct 1 + 2⁻²³.
	a, b, c := float32(0x1.000002p-24), float32(0x1.fffffcp-1), float32(0x1.000002p0)
	if got := fmaExact32(a, b, c); got != c {
		t.Errorf("fmaExact32 = %x, want %x", got, c)
	}
	if got := float32(float64(a)*float64(b) + float64(c)); got != 0x1.000004p0 {
		t.Errorf("double rounding example: float64 path gives %x, want 0x1.000004p0", got)
	}
	if got := fmaExact32(pinf, 0, 1); got == got {
		t.Errorf("fmaExact32(Inf, 0, 1) = %v, want NaN", got)
	}
	if got := fmaExact32(2, 3, 4); got != 10 {
		t.Errorf("fmaExact32(2, 3, 4) = %v", got)
	}
}

func TestGuarded(t *testing.T) {
	g := newGuarded(5)
	copy(g.arg(), []float32{1, 2, 3, 4, 5})
	if err := g.check(true); err != nil {
		t.Errorf("clean output: %v", err)
	}
	g.arg()[5] = 0
	if err := g.check(true); err == nil {
		t.Error("a write to the tail was not reported")
	}
	g = newGuarded(5)
	g.buf[headGuard-1] = 0
	if err := g.check(false); err == nil {
		t.Error("a write before the output was not reported")
	}
	g = newGuarded(5)
	if err := g.check(true); err == nil {
		t.Error("an unwritten output was not reported")
	}
}
