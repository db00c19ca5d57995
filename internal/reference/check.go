package reference

import (
	"fmt"
	"math"
)

// ULPDiff returns how many float32 values lie between a and b, counting one
// end: 0 when they have identical bits, when both are NaN, or when they are
// +0 and −0; math.MaxUint32 when exactly one is NaN. Infinities count as the
// value one ULP past ±MaxFloat32.
func ULPDiff(a, b float32) uint32 {
	an, bn := a != a, b != b
	switch {
	case an && bn:
		return 0
	case an || bn:
		return math.MaxUint32
	}
	d := ordered(a) - ordered(b)
	if d < 0 {
		d = -d
	}
	return uint32(min(d, math.MaxUint32))
}

// ULP returns the spacing of float32 values at |x|: 2⁻¹⁴⁹ below the
// smallest normal float32, and beyond MaxFloat32 the spacing of its binade,
// 2¹⁰⁴.
func ULP(x float64) float64 {
	x = math.Abs(x)
	if x < 0x1p-126 {
		return 0x1p-149
	}
	if x > math.MaxFloat32 {
		return 0x1p104
	}
	_, e := math.Frexp(x) // x = f·2^e, f in [0.5, 1)
	return math.Ldexp(1, e-24)
}

// CompareEach compares got with another float32 result, want (from the
// implementation or code path that the message calls who), element by
// element: why(i, g, w) returns "" when the pair is acceptable and the reason
// when it is not. It returns nil when every pair is; otherwise an error that
// names the first failing element (index, and row and column when cols > 0),
// gives both values with their bits and the reason, and says how many
// elements failed. got and want must have the same length.
func CompareEach(got, want []float32, cols int, who string, why func(i int, g, w float32) string) error {
	if len(got) != len(want) {
		return fmt.Errorf("length mismatch: got %d elements, %s %d", len(got), who, len(want))
	}
	var first error
	bad := 0
	for i := range want {
		g, w := got[i], want[i]
		msg := why(i, g, w)
		if msg == "" {
			continue
		}
		bad++
		if first == nil {
			pos := fmt.Sprintf("element %d", i)
			if cols > 0 {
				pos += fmt.Sprintf(" (%s)", position(i, cols))
			}
			first = fmt.Errorf("%s: got %v (bits %#08x), %s %v (bits %#08x): %s",
				pos, g, math.Float32bits(g), who, w, math.Float32bits(w), msg)
		}
	}
	if bad > 1 {
		return fmt.Errorf("%w (and %d more of %d elements)", first, bad-1, len(want))
	}
	return first
}

// ordered maps a non-NaN float32 to an integer such that adjacent floats map
// to adjacent integers and +0 and −0 both map to 0.
func ordered(f float32) int64 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return -int64(b &^ (1 << 31))
	}
	return int64(b)
}

// Tol is an error bound for one element: |got − want| ≤ Abs + Rel·|want|.
// Whatever the bound, a NaN want must be matched by a NaN, an infinite want
// by the same infinity, and a finite want by a finite value; with ExactZero a
// want of exactly 0 must be matched by ±0 (a probability that is exactly 0
// must come out exactly 0).
type Tol struct {
	Rel       float64 // relative to |want|
	Abs       float64 // absolute
	ExactZero bool    // want == 0 requires got == 0
}

// Bound returns Abs + Rel·|want|.
func (t Tol) Bound(want float64) float64 { return t.Abs + t.Rel*math.Abs(want) }

// Check compares got to want element by element under one tolerance; see
// CheckFunc.
func Check(got []float32, want []float64, cols int, tol Tol) error {
	return CheckFunc(got, want, cols, func(int) Tol { return tol })
}

// CheckFunc compares a float32 output to its float64 reference, element i
// under the tolerance tol(i), and returns nil when every element is within
// it. Otherwise the error names the first failing element by index, row and
// column (cols is the row length; cols ≤ 0 means one row), gives got, want,
// the error and the bound, and says how many elements failed. got and want
// must have the same length.
func CheckFunc(got []float32, want []float64, cols int, tol func(i int) Tol) error {
	if len(got) != len(want) {
		return fmt.Errorf("length mismatch: got %d elements, want %d", len(got), len(want))
	}
	var first error
	bad := 0
	for i := range want {
		if msg := mismatch(float64(got[i]), want[i], tol(i)); msg != "" {
			bad++
			if first == nil {
				first = fmt.Errorf("element %d (%s): got %v (bits %#08x), want %.10g: %s",
					i, position(i, cols), got[i], math.Float32bits(got[i]), want[i], msg)
			}
		}
	}
	if bad > 1 {
		return fmt.Errorf("%w (and %d more of %d elements)", first, bad-1, len(want))
	}
	return first
}

// CheckValue compares a scalar (a loss, say) to its reference under tol,
// with the same rules as CheckFunc.
func CheckValue(got, want float64, tol Tol) error {
	if msg := mismatch(got, want, tol); msg != "" {
		return fmt.Errorf("got %.10g, want %.10g: %s", got, want, msg)
	}
	return nil
}

// mismatch returns why got does not match want under tol, or "".
func mismatch(got, want float64, tol Tol) string {
	switch {
	case math.IsNaN(want):
		if !math.IsNaN(got) {
			return "want NaN"
		}
		return ""
	case math.IsNaN(got):
		return "unexpected NaN"
	case math.IsInf(want, 0):
		if got != want {
			return "want exactly that infinity"
		}
		return ""
	case math.IsInf(got, 0):
		return "unexpected infinity"
	case tol.ExactZero && want == 0:
		if got != 0 {
			return "want exactly 0"
		}
		return ""
	}
	d, b := math.Abs(got-want), tol.Bound(want)
	if !(d <= b) { // a NaN bound fails too
		rel := "inf"
		if want != 0 {
			rel = fmt.Sprintf("%.3g", d/math.Abs(want))
		}
		return fmt.Sprintf("|got−want| = %.3g (relative %s) > bound %.3g", d, rel, b)
	}
	return ""
}

func position(i, cols int) string {
	if cols <= 0 {
		return fmt.Sprintf("row 0, col %d", i)
	}
	return fmt.Sprintf("row %d, col %d", i/cols, i%cols)
}

// Worst returns the largest ratio |got − want| / tol(i).Bound(want) over the
// elements whose want is finite and not excused by ExactZero, and the index
// where it occurs (−1 when there is none): a ratio ≤ 1 means every such
// element is within its bound. Non-finite elements are CheckFunc's business.
// A non-finite got for a finite want gives +Inf.
func Worst(got []float32, want []float64, tol func(i int) Tol) (ratio float64, at int) {
	at = -1
	for i, w := range want {
		t := tol(i)
		if math.IsNaN(w) || math.IsInf(w, 0) || (t.ExactZero && w == 0) {
			continue
		}
		d := math.Abs(float64(got[i]) - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		r := d / t.Bound(w)
		if d == 0 {
			r = 0
		}
		if at < 0 || r > ratio {
			ratio, at = r, i
		}
	}
	return ratio, at
}

// RelErr returns |got − want| / |want|: 0 when they are equal (including two
// zeros or the same infinity), +Inf when want is 0 and got is not, NaN when
// either is NaN.
func RelErr(got float32, want float64) float64 {
	g := float64(got)
	if g == want {
		return 0
	}
	return math.Abs(g-want) / math.Abs(want)
}
