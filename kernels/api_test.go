package kernels_test

// Argument checks and the implementation registry: every shape error panics
// with a message that starts with "kernels:" and names the offending
// argument, for every implementation and for the package-level functions;
// Lookup, Available and Default agree with each other.

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

// panicMessage runs f and returns the message it panicked with, or ok false.
func panicMessage(f func()) (msg string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, ok = fmt.Sprint(r), true
		}
	}()
	f()
	return "", false
}

// mentions reports whether msg names arg as a word of its own (so that
// "m" is not found in "kernels:" and "s" not in "dst").
func mentions(msg, arg string) bool {
	re := regexp.MustCompile(`(^|[^A-Za-z0-9_])` + regexp.QuoteMeta(arg) + `($|[^A-Za-z0-9_])`)
	return re.MatchString(msg)
}

// kernelSet is the set of kernels under test: an implementation's methods or
// the package-level functions.
type kernelSet struct {
	name                 string
	Softmax              func(dst, src []float32, cols int)
	LogSoftmax           func(dst, src []float32, cols int)
	SoftmaxBackward      func(dx, s, dy []float32, cols int)
	LogSoftmaxBackward   func(dx, logp, dy []float32, cols int)
	CrossEntropyGrad     func(grad, logits []float32, labels []int32, cols int) (float64, error)
	CrossEntropyGradSoft func(grad, logits, targets []float32, cols int) float64
	Ger                  func(a []float32, lda int, alpha float32, x, y []float32)
	GerBatch             func(a []float32, lda int, alpha float32, x []float32, m int, y []float32, n int)
}

func implSet(im *kernels.Impl) kernelSet {
	return kernelSet{im.Name(), im.Softmax, im.LogSoftmax, im.SoftmaxBackward, im.LogSoftmaxBackward,
		im.CrossEntropyGrad, im.CrossEntropyGradSoft, im.Ger, im.GerBatch}
}

func packageSet() kernelSet {
	return kernelSet{"package-level", kernels.Softmax, kernels.LogSoftmax, kernels.SoftmaxBackward,
		kernels.LogSoftmaxBackward, kernels.CrossEntropyGrad, kernels.CrossEntropyGradSoft,
		kernels.Ger, kernels.GerBatch}
}

func kernelSets(t *testing.T) []kernelSet {
	var sets []kernelSet
	for _, im := range implementations(t) {
		sets = append(sets, implSet(im))
	}
	return append(sets, packageSet())
}

// panicCase is one call that must panic, and the arguments its message must
// name.
type panicCase struct {
	name string
	args []string
	call func(k kernelSet)
}

func panicCases() []panicCase {
	buf := make([]float32, 64)
	x6, y6, z6 := make([]float32, 6), make([]float32, 6), make([]float32, 6)
	x5 := make([]float32, 5)
	labels2 := []int32{0, 1}
	var cs []panicCase
	add := func(name string, args []string, call func(k kernelSet)) {
		cs = append(cs, panicCase{name, args, call})
	}

	// The two forward kernels share their checks.
	forward := []struct {
		name string
		f    func(k kernelSet) func(dst, src []float32, cols int)
	}{
		{"Softmax", func(k kernelSet) func(dst, src []float32, cols int) { return k.Softmax }},
		{"LogSoftmax", func(k kernelSet) func(dst, src []float32, cols int) { return k.LogSoftmax }},
	}
	for _, fw := range forward {
		add(fw.name+" len(src) not a multiple of cols", []string{"src", "cols"},
			func(k kernelSet) { fw.f(k)(y6, x5, 2) })
		add(fw.name+" cols < 0", []string{"cols"}, func(k kernelSet) { fw.f(k)(y6, x6, -3) })
		add(fw.name+" cols < 0 with empty src", []string{"cols"}, func(k kernelSet) { fw.f(k)(nil, nil, -1) })
		add(fw.name+" cols == 0 with data", []string{"cols"}, func(k kernelSet) { fw.f(k)(y6, x6, 0) })
		add(fw.name+" dst too short", []string{"dst"}, func(k kernelSet) { fw.f(k)(y6[:5], x6, 3) })
		add(fw.name+" dst nil", []string{"dst"}, func(k kernelSet) { fw.f(k)(nil, x6, 3) })
		add(fw.name+" dst overlaps src (dst after)", []string{"dst", "src"},
			func(k kernelSet) { fw.f(k)(buf[1:7], buf[0:6], 3) })
		add(fw.name+" dst overlaps src (dst before)", []string{"dst", "src"},
			func(k kernelSet) { fw.f(k)(buf[0:6], buf[5:11], 3) })
	}

	backward := []struct {
		name, in string
		f        func(k kernelSet) func(dx, in, dy []float32, cols int)
	}{
		{"SoftmaxBackward", "s", func(k kernelSet) func(dx, in, dy []float32, cols int) { return k.SoftmaxBackward }},
		{"LogSoftmaxBackward", "logp", func(k kernelSet) func(dx, in, dy []float32, cols int) { return k.LogSoftmaxBackward }},
	}
	for _, bw := range backward {
		add(bw.name+" len("+bw.in+") not a multiple of cols", []string{bw.in, "cols"},
			func(k kernelSet) { bw.f(k)(z6, x5, x5, 2) })
		add(bw.name+" cols < 0", []string{"cols"}, func(k kernelSet) { bw.f(k)(z6, x6, y6, -1) })
		add(bw.name+" cols == 0 with data", []string{"cols"}, func(k kernelSet) { bw.f(k)(z6, x6, y6, 0) })
		add(bw.name+" dy shorter", []string{"dy", bw.in}, func(k kernelSet) { bw.f(k)(z6, x6, y6[:3], 3) })
		add(bw.name+" dy longer", []string{"dy", bw.in}, func(k kernelSet) { bw.f(k)(z6, x6[:3], y6, 3) })
		add(bw.name+" dx too short", []string{"dx"}, func(k kernelSet) { bw.f(k)(z6[:5], x6, y6, 3) })
		add(bw.name+" dx overlaps "+bw.in, []string{"dx", bw.in},
			func(k kernelSet) { bw.f(k)(buf[2:8], buf[0:6], y6, 3) })
		add(bw.name+" dx overlaps dy", []string{"dx", "dy"},
			func(k kernelSet) { bw.f(k)(buf[0:6], x6, buf[3:9], 3) })
	}

	add("CrossEntropyGrad len(logits) not a multiple of cols", []string{"logits", "cols"},
		func(k kernelSet) { k.CrossEntropyGrad(y6, x5, labels2, 2) })
	add("CrossEntropyGrad cols < 0", []string{"cols"}, func(k kernelSet) { k.CrossEntropyGrad(y6, x6, labels2, -3) })
	add("CrossEntropyGrad cols == 0 with data", []string{"cols"},
		func(k kernelSet) { k.CrossEntropyGrad(y6, x6, labels2, 0) })
	add("CrossEntropyGrad labels too short", []string{"labels"},
		func(k kernelSet) { k.CrossEntropyGrad(y6, x6, labels2[:1], 3) })
	add("CrossEntropyGrad labels too long", []string{"labels"},
		func(k kernelSet) { k.CrossEntropyGrad(y6, x6, []int32{0, 0, 0}, 3) })
	add("CrossEntropyGrad labels with no rows", []string{"labels"},
		func(k kernelSet) { k.CrossEntropyGrad(nil, nil, labels2, 3) })
	add("CrossEntropyGrad grad too short", []string{"grad"},
		func(k kernelSet) { k.CrossEntropyGrad(y6[:4], x6, labels2, 3) })
	add("CrossEntropyGrad grad overlaps logits", []string{"grad", "logits"},
		func(k kernelSet) { k.CrossEntropyGrad(buf[1:7], buf[0:6], labels2, 3) })
	// An invalid label is bad data, not a programmer error, but a shape
	// error still panics first.
	add("CrossEntropyGrad grad too short with a bad label", []string{"grad"},
		func(k kernelSet) { k.CrossEntropyGrad(y6[:4], x6, []int32{7, 0}, 3) })

	add("CrossEntropyGradSoft len(logits) not a multiple of cols", []string{"logits", "cols"},
		func(k kernelSet) { k.CrossEntropyGradSoft(y6, x5, x5, 2) })
	add("CrossEntropyGradSoft cols < 0", []string{"cols"}, func(k kernelSet) { k.CrossEntropyGradSoft(z6, x6, y6, -2) })
	add("CrossEntropyGradSoft cols == 0 with data", []string{"cols"},
		func(k kernelSet) { k.CrossEntropyGradSoft(z6, x6, y6, 0) })
	add("CrossEntropyGradSoft targets length", []string{"targets", "logits"},
		func(k kernelSet) { k.CrossEntropyGradSoft(z6, x6, y6[:3], 3) })
	add("CrossEntropyGradSoft grad too short", []string{"grad"},
		func(k kernelSet) { k.CrossEntropyGradSoft(z6[:5], x6, y6, 3) })
	add("CrossEntropyGradSoft grad overlaps logits", []string{"grad", "logits"},
		func(k kernelSet) { k.CrossEntropyGradSoft(buf[4:10], buf[0:6], y6, 3) })
	add("CrossEntropyGradSoft grad overlaps targets", []string{"grad", "targets"},
		func(k kernelSet) { k.CrossEntropyGradSoft(buf[0:6], x6, buf[5:11], 3) })
	add("CrossEntropyGradSoft grad is targets", []string{"grad", "targets"},
		func(k kernelSet) { k.CrossEntropyGradSoft(buf[0:6], x6, buf[0:6], 3) })

	a := make([]float32, 64)
	add("Ger lda < n", []string{"lda"}, func(k kernelSet) { k.Ger(a, 2, 1, x5[:2], x5[:3]) })
	add("Ger lda 0", []string{"lda"}, func(k kernelSet) { k.Ger(a, 0, 1, nil, nil) })
	add("Ger a too short", []string{"a"}, func(k kernelSet) { k.Ger(a[:8], 3, 1, x5[:3], x5[:3]) })
	add("Ger a overlaps x", []string{"a", "x"}, func(k kernelSet) { k.Ger(buf[0:9], 3, 1, buf[8:11], y6[:3]) })
	add("Ger a overlaps y", []string{"a", "y"}, func(k kernelSet) { k.Ger(buf[0:9], 3, 1, x6[:3], buf[0:3]) })
	add("GerBatch m < 0", []string{"m"}, func(k kernelSet) { k.GerBatch(a, 3, 1, nil, -1, nil, 3) })
	add("GerBatch n < 0", []string{"n"}, func(k kernelSet) { k.GerBatch(a, 3, 1, nil, 3, nil, -1) })
	add("GerBatch len(x) not a multiple of m", []string{"x", "m"},
		func(k kernelSet) { k.GerBatch(a, 3, 1, x5, 2, y6, 3) })
	add("GerBatch len(y) not a multiple of n", []string{"y", "n"},
		func(k kernelSet) { k.GerBatch(a, 3, 1, x6, 3, x5, 3) })
	// X 3×2 and Y 2×3: k is 3 for x and 2 for y.
	add("GerBatch k differs", []string{"k"}, func(k kernelSet) { k.GerBatch(a, 3, 1, x6, 2, y6, 3) })
	// From here on X is 2×2 and Y 2×3 (k = 2), A 2×3.
	x4 := x6[:4]
	add("GerBatch lda < n", []string{"lda"}, func(k kernelSet) { k.GerBatch(a, 2, 1, x4, 2, y6, 3) })
	add("GerBatch a too short", []string{"a"}, func(k kernelSet) { k.GerBatch(a[:5], 3, 1, x4, 2, y6, 3) })
	add("GerBatch a too short, k 0", []string{"a"}, func(k kernelSet) { k.GerBatch(a[:5], 3, 1, nil, 2, nil, 3) })
	add("GerBatch a overlaps x", []string{"a", "x"},
		func(k kernelSet) { k.GerBatch(buf[0:6], 3, 1, buf[4:8], 2, y6, 3) })
	add("GerBatch a overlaps y", []string{"a", "y"},
		func(k kernelSet) { k.GerBatch(buf[0:6], 3, 1, x4, 2, buf[5:11], 3) })
	return cs
}

// TestAPIPanics checks every shape error of every kernel, for every
// implementation and the package-level functions.
func TestAPIPanics(t *testing.T) {
	for _, k := range kernelSets(t) {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range panicCases() {
				msg, ok := panicMessage(func() { c.call(k) })
				if !ok {
					t.Errorf("%s: no panic", c.name)
					continue
				}
				if !strings.HasPrefix(msg, "kernels:") {
					t.Errorf("%s: panic %q does not start with \"kernels:\"", c.name, msg)
				}
				for _, arg := range c.args {
					if !mentions(msg, arg) {
						t.Errorf("%s: panic %q does not name %s", c.name, msg, arg)
					}
				}
			}
		})
	}
}

// TestAPINoPanics checks calls at the edges of what is allowed: empty batches,
// cols == 0 with no data, outputs that are exactly an input, outputs longer
// than their input, outputs next to (not overlapping) their inputs, and
// empty rank-1 updates.
func TestAPINoPanics(t *testing.T) {
	for _, k := range kernelSets(t) {
		t.Run(k.name, func(t *testing.T) {
			buf := make([]float32, 32)
			x6 := []float32{1, 2, 3, 4, 5, 6}
			for _, c := range []struct {
				name string
				call func()
			}{
				{"empty", func() {
					k.Softmax(nil, nil, 0)
					k.Softmax(nil, nil, 5)
					k.LogSoftmax(nil, nil, 0)
					k.SoftmaxBackward(nil, nil, nil, 0)
					k.LogSoftmaxBackward(nil, nil, nil, 3)
					k.CrossEntropyGrad(nil, nil, nil, 0)
					k.CrossEntropyGradSoft(nil, nil, nil, 2)
				}},
				{"in place", func() {
					s := buf[0:6]
					copy(s, x6)
					k.Softmax(s, s, 3)
					k.LogSoftmax(s, s, 3)
					dy := buf[8:14]
					k.SoftmaxBackward(s, s, dy, 3)
					k.SoftmaxBackward(dy, s, dy, 3)
					k.LogSoftmaxBackward(s, s, dy, 3)
					k.LogSoftmaxBackward(dy, s, dy, 3)
					k.CrossEntropyGrad(s, s, []int32{0, 2}, 3)
					k.CrossEntropyGradSoft(s, s, dy, 3)
				}},
				{"longer output overlapping nothing written", func() {
					// dst = buf[0:12] is longer than src = buf[6:12]; only
					// buf[0:6] is written, which src does not overlap.
					k.Softmax(buf[0:12], buf[6:12], 3)
				}},
				{"adjacent", func() {
					k.Softmax(buf[0:6], buf[6:12], 3)
					k.SoftmaxBackward(buf[0:6], buf[6:12], buf[12:18], 3)
				}},
				{"Ger empty", func() {
					k.Ger(nil, 1, 1, nil, nil)
					k.Ger(nil, 3, 1, x6, nil)
					k.Ger(nil, 3, 1, nil, x6[:3])
					k.GerBatch(nil, 1, 1, nil, 0, nil, 0)
					k.GerBatch(nil, 3, 1, x6, 6, nil, 0)       // n = 0
					k.GerBatch(nil, 3, 1, nil, 0, x6, 3)       // m = 0 (X is k×0 for any k)
					k.GerBatch(buf[:12], 3, 1, nil, 4, nil, 3) // k = 0
				}},
				{"Ger exact size", func() {
					k.Ger(buf[0:8], 3, 1, x6[:3], x6[:2]) // (3-1)·3+2 = 8
					k.GerBatch(buf[0:8], 3, 1, x6, 3, x6[:4], 2)
				}},
			} {
				if msg, ok := panicMessage(c.call); ok {
					t.Errorf("%s: unexpected panic %q", c.name, msg)
				}
			}
		})
	}
}

// implNames are the implementation names the package documents.
var implNames = []string{"generic", "avx2", "avx512", "neon"}

func TestAPILookup(t *testing.T) {
	av := implementations(t)
	im, err := kernels.Lookup("generic")
	if err != nil || im == nil || im.Name() != "generic" {
		t.Fatalf(`Lookup("generic") = %v, %v`, im, err)
	}

	_, err = kernels.Lookup("nope")
	if err == nil {
		t.Fatal(`Lookup("nope") succeeded`)
	}
	for _, frag := range append([]string{"kernels:", "nope"}, implNames...) {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf(`Lookup("nope") error %q does not mention %q`, err, frag)
		}
	}
	if _, err := kernels.Lookup(""); err == nil {
		t.Error(`Lookup("") succeeded`)
	}
	if _, err := kernels.Lookup("Generic"); err == nil {
		t.Error(`Lookup("Generic") succeeded: names are case-sensitive`)
	}

	// A documented name is found exactly when Available lists it; this stays
	// true whichever SIMD implementations the build has and the CPU runs.
	for _, name := range implNames {
		im, err := kernels.Lookup(name)
		i := slices.IndexFunc(av, func(a *kernels.Impl) bool { return a.Name() == name })
		switch {
		case i >= 0 && err != nil:
			t.Errorf("Lookup(%q): %v, but Available lists it", name, err)
		case i >= 0 && im != av[i]:
			t.Errorf("Lookup(%q) returned %p, Available has %p", name, im, av[i])
		case i < 0 && err == nil:
			t.Errorf("Lookup(%q) succeeded, but Available does not list it", name)
		case i < 0:
			if im != nil {
				t.Errorf("Lookup(%q) returned %v with error %v", name, im, err)
			}
			if !strings.HasPrefix(err.Error(), "kernels:") || !strings.Contains(err.Error(), name) {
				t.Errorf("Lookup(%q) error %q should start with \"kernels:\" and name it", name, err)
			}
			t.Logf("Lookup(%q): %v", name, err)
		}
	}
}

func TestAPIAvailable(t *testing.T) {
	av := implementations(t)
	if len(av) == 0 {
		t.Fatal("Available() is empty")
	}
	if last := av[len(av)-1]; last.Name() != "generic" {
		t.Errorf("Available() ends with %q, want generic", last.Name())
	}
	seen := map[string]bool{}
	for _, im := range av {
		if seen[im.Name()] {
			t.Errorf("Available() lists %q twice", im.Name())
		}
		seen[im.Name()] = true
		if !slices.Contains(implNames, im.Name()) {
			t.Errorf("Available() lists undocumented implementation %q", im.Name())
		}
		if im.String() != im.Name() {
			t.Errorf("String() = %q, Name() = %q", im.String(), im.Name())
		}
	}
	// Available returns a fresh slice each time: changing it changes nothing.
	av[0] = nil
	if kernels.Available()[0] == nil {
		t.Error("Available() returns a shared slice")
	}
}

func TestAPIDefault(t *testing.T) {
	av := implementations(t)
	d := kernels.Default()
	if d == nil || !slices.Contains(av, d) {
		t.Fatalf("Default() = %v is not in Available()", d)
	}
	if name := os.Getenv(kernels.EnvVar); name != "" {
		if d.Name() != name {
			t.Errorf("%s=%s but Default() is %q", kernels.EnvVar, name, d.Name())
		}
	} else if d != av[0] {
		t.Errorf("Default() = %q, want the fastest, %q", d.Name(), av[0].Name())
	}
	t.Logf("Default() = %s", d.Name())

	// The package-level functions run Default: same bits.
	r := newRand(shape{3, 19}, 5)
	x := uniform(r, 57, -10, 10)
	dy := uniform(r, 57, -1, 1)
	labels := []int32{3, kernels.IgnoreLabel, 18}
	targets := distributions(r, shape{3, 19}, false, true)
	pk, dk := packageSet(), implSet(d)
	for _, c := range []struct {
		name string
		run  func(k kernelSet, out []float32) float64
	}{
		{"Softmax", func(k kernelSet, out []float32) float64 { k.Softmax(out, x, 19); return 0 }},
		{"LogSoftmax", func(k kernelSet, out []float32) float64 { k.LogSoftmax(out, x, 19); return 0 }},
		{"SoftmaxBackward", func(k kernelSet, out []float32) float64 { k.SoftmaxBackward(out, x, dy, 19); return 0 }},
		{"LogSoftmaxBackward", func(k kernelSet, out []float32) float64 {
			k.LogSoftmaxBackward(out, x, dy, 19)
			return 0
		}},
		{"CrossEntropyGrad", func(k kernelSet, out []float32) float64 {
			l, _ := k.CrossEntropyGrad(out, x, labels, 19)
			return l
		}},
		{"CrossEntropyGradSoft", func(k kernelSet, out []float32) float64 {
			return k.CrossEntropyGradSoft(out, x, targets, 19)
		}},
		{"Ger", func(k kernelSet, out []float32) float64 { k.Ger(out, 19, -0.5, dy[:3], x[:19]); return 0 }},
		{"GerBatch", func(k kernelSet, out []float32) float64 {
			k.GerBatch(out, 19, 2, dy[:9], 3, x[:57], 19) // k = 3
			return 0
		}},
	} {
		a, b := slices.Clone(x), slices.Clone(x) // also the Ger matrices
		la, lb := c.run(pk, a), c.run(dk, b)
		if err := sameBits(a, b); err != nil || !sameLoss(la, lb) {
			t.Errorf("%s: package-level and Default() differ: %v, loss %v vs %v", c.name, err, la, lb)
		}
	}
}
