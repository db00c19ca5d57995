package accuracy

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

func generic(t *testing.T) *kernels.Impl {
	t.Helper()
	im, err := kernels.Lookup("generic")
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// TestExp measures every available implementation on a coarse sample of
// the domain: within the bound, and the sample counted right.
func TestExp(t *testing.T) {
	const stride = 99991
	want := (ExpInputs()-1)/stride + 1
	for _, im := range kernels.Available() {
		var reported atomic.Int64
		st := Exp(im, stride, func(n int64) { reported.Add(n) })
		if st.Err != nil {
			t.Errorf("%s: %v", im.Name(), st.Err)
		}
		if st.Inputs != want || st.Stride != stride {
			t.Errorf("%s: %d inputs with stride %d, want %d with %d", im.Name(), st.Inputs, st.Stride, want, stride)
		}
		if st.MaxULP > ExpMaxULP || st.WorstX > 0 || st.WorstX < ExpMin {
			t.Errorf("%s: max %d ULP at %g", im.Name(), st.MaxULP, st.WorstX)
		}
		if reported.Load() != want {
			t.Errorf("%s: progress reported %d inputs, want %d", im.Name(), reported.Load(), want)
		}
	}
}

// TestExpInputs pins the size of the exhaustive sweep.
func TestExpInputs(t *testing.T) {
	if n := ExpInputs(); n < 1_100_000_000 || n > 1_200_000_000 {
		t.Errorf("ExpInputs() = %d", n)
	}
}

// badExp is generic with an exp off by 3 ULP for arguments in (−1, −0.5)
// and a nonzero result below the cutoff.
type badExp struct{ *kernels.Impl }

func (b badExp) LogSoftmaxBackward(dx, logp, dy []float32, cols int) {
	b.Impl.LogSoftmaxBackward(dx, logp, dy, cols)
	for i, x := range logp {
		switch {
		case x > -1 && x < -0.5:
			dx[i] = math.Float32frombits(math.Float32bits(dx[i]) + 3)
		case x == -1000:
			dx[i] = 0x1p-149
		}
	}
}

func TestExpDetects(t *testing.T) {
	st := Exp(badExp{generic(t)}, 9973, nil)
	if st.Err == nil || st.MaxULP < 3 || st.WorstX <= -1 || st.WorstX >= -0.5 {
		t.Errorf("Exp of a 3-ULP exp: max %d ULP at %g, error %v", st.MaxULP, st.WorstX, st.Err)
	}
	if err := expFlush(badExp{generic(t)}); err == nil || !strings.Contains(err.Error(), "-1000") {
		t.Errorf("expFlush of a nonzero exp(-1000): %v", err)
	}
}

// TestRows checks every available implementation on every group against
// the reference, and against generic.
func TestRows(t *testing.T) {
	groups := Groups(1)
	if testing.Short() { // under emulation in CI: leave out the 262144-long row
		for i := range groups {
			groups[i].Batches = slices.DeleteFunc(groups[i].Batches, func(b *Batch) bool { return len(b.X) > 100_000 })
		}
	}
	names := map[string]bool{}
	for _, g := range groups {
		names[g.Name] = true
		if len(g.Batches) == 0 || g.About == "" {
			t.Errorf("group %q: %d batches, about %q", g.Name, len(g.Batches), g.About)
		}
	}
	for _, n := range []string{"random", "spread", "masks", "ties", "cutoff"} {
		if !names[n] {
			t.Errorf("no group %q", n)
		}
	}
	gen := generic(t)
	for _, im := range kernels.Available() {
		for _, g := range groups {
			st := Rows(im, g)
			if st.Err != nil {
				t.Errorf("%s: %v", im.Name(), st.Err)
			}
			if !(st.SoftmaxRatio <= 1) || !(st.CERatio <= 1) || st.Elems == 0 {
				t.Errorf("%s %s: %+v", im.Name(), g.Name, st)
			}
			if g.Name == "random" && !(st.SoftmaxRel > 0 && st.SoftmaxRel < 1e-5 && st.GradErr > 0 && st.LossRel < 1e-5) {
				t.Errorf("%s %s: implausible %+v", im.Name(), g.Name, st)
			}
			ag := Agree(im, gen, g)
			if ag.Err != nil {
				t.Errorf("%s: %v", im.Name(), ag.Err)
			}
			if im == gen && (ag.SoftmaxULP != 0 || ag.GradDiff != 0 || ag.LossDiff != 0) {
				t.Errorf("generic against itself: %+v", ag)
			}
		}
	}
}

// TestGroupsDeterministic: the same seed gives the same rows and labels.
func TestGroupsDeterministic(t *testing.T) {
	a, b := Groups(7), Groups(7)
	for i := range a {
		for j := range a[i].Batches {
			x, y := a[i].Batches[j], b[i].Batches[j]
			for k := range x.X {
				if math.Float32bits(x.X[k]) != math.Float32bits(y.X[k]) {
					t.Fatalf("%s batch %d differs at %d", a[i].Name, j, k)
				}
			}
			for k := range x.Labels {
				if x.Labels[k] != y.Labels[k] {
					t.Fatalf("%s batch %d: label %d differs", a[i].Name, j, k)
				}
			}
		}
	}
}

// offImpl is generic with a softmax and a gradient off by a relative
// error rel, and a loss off by lossOff.
type offImpl struct {
	*kernels.Impl
	rel, lossOff float64
}

func (o offImpl) Softmax(dst, src []float32, cols int) {
	o.Impl.Softmax(dst, src, cols)
	for i := range src {
		dst[i] *= float32(1 + o.rel)
	}
}

func (o offImpl) CrossEntropyGrad(grad, logits []float32, labels []int32, cols int) (float64, error) {
	loss, err := o.Impl.CrossEntropyGrad(grad, logits, labels, cols)
	for i := range logits {
		grad[i] *= float32(1 + o.rel)
	}
	return loss + o.lossOff, err
}

func TestRowsDetects(t *testing.T) {
	g := Groups(1)[0]
	g.Batches = g.Batches[:3] // rows of 10 to 1000: every element fails, and each failure is formatted
	gen := generic(t)
	for _, c := range []struct {
		im   offImpl
		want string
	}{
		{offImpl{gen, 3e-5, 0}, "softmax"},
		{offImpl{gen, 0, 1e-4}, "loss"},
	} {
		st := Rows(c.im, g)
		if st.Err == nil || !strings.Contains(st.Err.Error(), c.want) {
			t.Errorf("Rows of %+v: error %v, want one about %s", c.im, st.Err, c.want)
		}
		if c.im.rel > 0 && !(st.SoftmaxRel > 1e-5 && st.SoftmaxRatio > 1) {
			t.Errorf("Rows of %+v: %+v", c.im, st)
		}
		if ag := Agree(c.im, gen, g); ag.Err == nil {
			t.Errorf("Agree of %+v: no error (%+v)", c.im, ag)
		}
	}
}

func TestNear(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	rel := func(w float64) float64 { return 1e-6 * math.Abs(w) }
	for _, c := range []struct {
		got, want []float32
		ulp       uint32
		ok        bool
	}{
		{[]float32{1, 0.5, 0, nan, inf}, []float32{1, 0.5, 0, nan, inf}, 0, true},
		{[]float32{math.Nextafter32(1, 2)}, []float32{1}, 1, true},
		{[]float32{1.001}, []float32{1}, 8389, false},
		{[]float32{0}, []float32{1e-30}, 0, false},
		{[]float32{nan}, []float32{1}, 0, false},
		{[]float32{inf}, []float32{-inf}, 0, false},
	} {
		u, err := near(c.got, c.want, len(c.got), rel)
		if u != c.ulp || (err == nil) != c.ok {
			t.Errorf("near(%v, %v) = %d, %v; want %d, ok %v", c.got, c.want, u, err, c.ulp, c.ok)
		}
	}
}
