package kernels

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/softgrad/softgrad/internal/reference"
)

// linearCase is one output-layer step: k samples of features, classes
// classes, with or without the bias and the optional gradients.
type linearCase struct {
	k, features, classes int
	bias, wantDB, wantDX bool
	ignored              int // every ignored-th label is IgnoreLabel (0: none)
}

func (c linearCase) String() string {
	return fmt.Sprintf("k=%d features=%d classes=%d bias=%v db=%v dx=%v ignored=%d",
		c.k, c.features, c.classes, c.bias, c.wantDB, c.wantDX, c.ignored)
}

// linearStep holds a step's operands and outputs.
type linearStep struct {
	x, w, b, dw, db, dx []float32
	labels              []int32
}

func newLinearStep(c linearCase, rng *rand.Rand) *linearStep {
	s := &linearStep{
		x:      randSlice(rng, c.k*c.features, 1),
		w:      randSlice(rng, c.classes*c.features, 0.5),
		dw:     make([]float32, c.classes*c.features),
		labels: make([]int32, c.k),
	}
	if c.bias {
		s.b = randSlice(rng, c.classes, 1)
	}
	if c.wantDB {
		s.db = make([]float32, c.classes)
	}
	if c.wantDX {
		s.dx = make([]float32, c.k*c.features)
	}
	// The outputs start as NaN: every element must be written.
	for _, o := range [][]float32{s.dw, s.db, s.dx} {
		for i := range o {
			o[i] = float32(math.NaN())
		}
	}
	for r := range s.labels {
		s.labels[r] = int32(rng.IntN(c.classes))
		if c.ignored > 0 && r%c.ignored == c.ignored-1 {
			s.labels[r] = IgnoreLabel
		}
	}
	return s
}

func randSlice(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32((2*rng.Float64() - 1) * scale)
	}
	return s
}

func (s *linearStep) run(im *Impl, c linearCase) (float64, error) {
	return im.LinearCrossEntropy(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, c.features, c.classes)
}

// unfused runs the step as the sequence of public calls: the logits X·Wᵀ +
// b, crossEntropy over them in place, Gᵀ·X, G·W and the column sums of G.
func (s *linearStep) unfused(t *testing.T, im *Impl, c linearCase, crossEntropy func(z []float32) (float64, error)) (loss float64, dw, db, dx []float32) {
	t.Helper()
	k, F, C := c.k, c.features, c.classes
	z := make([]float32, k*C)
	for r := range k {
		copy(z[r*C:], s.b)
	}
	im.Gemm(false, true, k, C, F, 1, s.x, F, s.w, F, 1, z, C)
	loss, err := crossEntropy(z)
	if err != nil {
		t.Fatal(err)
	}
	dw, db, dx = make([]float32, C*F), make([]float32, C), make([]float32, k*F)
	im.Gemm(true, false, C, F, k, 1, z, C, s.x, F, 0, dw, F)
	im.Gemm(false, false, k, F, C, 1, z, C, s.w, F, 0, dx, F)
	for r := range k {
		for i := range C {
			db[i] += z[r*C+i]
		}
	}
	return loss, dw, db, dx
}

// linearTol is the softmax's relative error in the reference's bounds: the
// package doc's, for rows up to 262 144.
const linearTol = 1e-5

func checkNear(t *testing.T, what string, got []float32, want, bound []float64) {
	t.Helper()
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= bound[i]) {
			t.Errorf("%s[%d] = %g, want %g ± %.3g (off by %.3g)", what, i, got[i], want[i], bound[i], d)
			return
		}
	}
}

// withLinearChunks runs f with LinearCrossEntropy's chunks of rows rows.
func withLinearChunks(rows int, f func()) {
	floats, least := linearChunkFloats, linearChunkRows
	linearChunkFloats, linearChunkRows = 1, rows
	defer func() { linearChunkFloats, linearChunkRows = floats, least }()
	f()
}

var linearCases = []linearCase{
	{k: 1, features: 1, classes: 1, bias: true, wantDB: true, wantDX: true},
	{k: 7, features: 13, classes: 10, bias: true, wantDB: true, wantDX: true},
	{k: 33, features: 40, classes: 10, ignored: 3, wantDX: true},
	{k: 64, features: 78, classes: 17, bias: true, wantDB: true},
	{k: 40, features: 50, classes: 100, bias: true, wantDB: true, wantDX: true, ignored: 5},
	{k: 9, features: 20, classes: 300, wantDB: true, wantDX: true},
}

// TestLinearCrossEntropy checks the step against the float64 reference,
// in one chunk and in chunks of 1, 4 and 16 rows, for every implementation.
func TestLinearCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 11))
	for _, c := range linearCases {
		s := newLinearStep(c, rng)
		ref := reference.LinearCrossEntropy(s.x, s.w, s.b, s.labels, c.features, c.classes, linearTol)
		for _, chunk := range []int{0, 1, 4, 16} {
			for _, im := range Available() {
				name := fmt.Sprintf("%s/%v/chunk=%d", im.Name(), c, chunk)
				run := func() (float64, error) { return s.run(im, c) }
				var loss float64
				var err error
				if chunk == 0 {
					loss, err = run()
				} else {
					withLinearChunks(chunk, func() { loss, err = run() })
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if d := math.Abs(loss - ref.Loss); !(d <= ref.LossBound) {
					t.Errorf("%s: loss %g, want %g ± %.3g", name, loss, ref.Loss, ref.LossBound)
				}
				checkNear(t, name+": dw", s.dw, ref.DW, ref.DWBound)
				if s.db != nil {
					checkNear(t, name+": db", s.db, ref.DB, ref.DBBound)
				}
				if s.dx != nil {
					checkNear(t, name+": dx", s.dx, ref.DX, ref.DXBound)
				}
			}
		}
	}
}

// TestLinearCrossEntropyUnfused checks that one chunk is exactly the unfused
// sequence of public calls, and that chunks stay within the bound of it.
func TestLinearCrossEntropyUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 12))
	c := linearCase{k: 50, features: 30, classes: 20, bias: true, wantDB: true, wantDX: true, ignored: 4}
	s := newLinearStep(c, rng)
	for _, im := range Available() {
		want, dw, db, dx := s.unfused(t, im, c, func(z []float32) (float64, error) {
			return im.CrossEntropyGrad(z, z, s.labels, c.classes)
		})
		loss, err := s.run(im, c)
		if err != nil {
			t.Fatal(err)
		}
		if loss != want || !slices.Equal(s.dw, dw) || !slices.Equal(s.db, db) || !slices.Equal(s.dx, dx) {
			t.Errorf("%s: one chunk differs from the unfused sequence (loss %v, want %v)", im.Name(), loss, want)
		}
	}
}

// TestLinearCrossEntropySpecial checks the special cases: no row counted,
// a NaN in a row of x, and a bad label in the last chunk.
func TestLinearCrossEntropySpecial(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	c := linearCase{k: 20, features: 8, classes: 6, bias: true, wantDB: true, wantDX: true}
	for _, im := range Available() {
		s := newLinearStep(c, rng)
		for r := range s.labels {
			s.labels[r] = IgnoreLabel
		}
		fill := func(v float32) {
			for _, o := range [][]float32{s.dw, s.db, s.dx} {
				for i := range o {
					o[i] = v
				}
			}
		}
		fill(float32(math.NaN()))
		loss, err := s.run(im, c)
		if err != nil || !math.IsNaN(loss) {
			t.Errorf("%s: all ignored: loss %v, err %v; want NaN, nil", im.Name(), loss, err)
		}
		for _, o := range [][]float32{s.dw, s.db, s.dx} {
			if slices.ContainsFunc(o, func(v float32) bool { return v != 0 }) {
				t.Errorf("%s: all ignored: a gradient is not 0", im.Name())
			}
		}

		// A NaN in row 3 of x: row 3's loss, and so the mean, is NaN; dx's
		// other rows stay finite.
		s = newLinearStep(c, rng)
		s.x[3*c.features+2] = float32(math.NaN())
		loss, err = s.run(im, c)
		if err != nil || !math.IsNaN(loss) {
			t.Errorf("%s: NaN in x: loss %v, err %v; want NaN", im.Name(), loss, err)
		}
		for r := range c.k {
			row := s.dx[r*c.features : (r+1)*c.features]
			if nan := slices.ContainsFunc(row, func(v float32) bool { return v != v }); nan != (r == 3) {
				t.Errorf("%s: NaN in x's row 3: dx's row %d has a NaN: %v", im.Name(), r, nan)
			}
		}

		// A bad label in the last chunk: an error, and nothing written.
		s = newLinearStep(c, rng)
		s.labels[c.k-1] = int32(c.classes)
		fill(7)
		withLinearChunks(4, func() { loss, err = s.run(im, c) })
		var le *LabelError
		if !errors.As(err, &le) || le.Row != c.k-1 || le.Label != int32(c.classes) || le.Cols != c.classes {
			t.Errorf("%s: bad label: err %v, want a *LabelError for row %d", im.Name(), err, c.k-1)
		}
		for _, o := range [][]float32{s.dw, s.db, s.dx} {
			if slices.ContainsFunc(o, func(v float32) bool { return v != 7 }) {
				t.Errorf("%s: bad label: a gradient was written", im.Name())
			}
		}
	}
}

// TestLinearCrossEntropyPanics checks the programmer errors.
func TestLinearCrossEntropyPanics(t *testing.T) {
	F, C, k := 4, 3, 2
	x, w, dw := make([]float32, k*F), make([]float32, C*F), make([]float32, C*F)
	labels := []int32{0, 1}
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"features 0", func() { LinearCrossEntropy(dw, nil, nil, x, w, nil, labels, 0, C) }},
		{"classes 0", func() { LinearCrossEntropy(dw, nil, nil, x, w, nil, labels, F, 0) }},
		{"x not rows", func() { LinearCrossEntropy(dw, nil, nil, x[:5], w, nil, labels, F, C) }},
		{"labels", func() { LinearCrossEntropy(dw, nil, nil, x, w, nil, labels[:1], F, C) }},
		{"w", func() { LinearCrossEntropy(dw, nil, nil, x, w[:5], nil, labels, F, C) }},
		{"dw", func() { LinearCrossEntropy(dw[:5], nil, nil, x, w, nil, labels, F, C) }},
		{"b", func() { LinearCrossEntropy(dw, nil, nil, x, w, make([]float32, 2), labels, F, C) }},
		{"db", func() { LinearCrossEntropy(dw, make([]float32, 2), nil, x, w, nil, labels, F, C) }},
		{"dx", func() { LinearCrossEntropy(dw, nil, make([]float32, 3), x, w, nil, labels, F, C) }},
		{"dw overlaps w", func() { LinearCrossEntropy(w, nil, nil, x, w, nil, labels, F, C) }},
		{"dx overlaps x", func() { LinearCrossEntropy(dw, nil, x, x, w, nil, labels, F, C) }},
		{"db overlaps dw", func() { LinearCrossEntropy(dw, dw[:C], nil, x, w, nil, labels, F, C) }},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", tc.name)
				} else if msg := fmt.Sprint(r); len(msg) < 9 || msg[:9] != "kernels: " {
					t.Errorf("%s: panic %q, want a kernels: message", tc.name, msg)
				}
			}()
			tc.call()
		}()
	}
}

// TestLinearCrossEntropyWith checks LinearCrossEntropyWith: the zero
// options are LinearCrossEntropy bit for bit; in one chunk the step is
// exactly the unfused sequence of public calls with CrossEntropyGradWith;
// in chunks of 1, 5 and 16 rows (the divisor D the batch's, the row losses
// in their places) it stays within the unfused sequence's rounding.
func TestLinearCrossEntropyWith(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 14))
	c := linearCase{k: 50, features: 30, classes: 10, bias: true, wantDB: true, wantDX: true, ignored: 4}
	k, F, C := c.k, c.features, c.classes
	weights := randSlice(rng, C, 1)
	for i := range weights {
		weights[i] = float32(math.Abs(float64(weights[i])))
	}
	for _, im := range Available() {
		s := newLinearStep(c, rng)
		want, err := s.run(im, c)
		wantDW, wantDB, wantDX := slices.Clone(s.dw), slices.Clone(s.db), slices.Clone(s.dx)
		got, err2 := im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C, CrossEntropyOptions{})
		if err != nil || err2 != nil || math.Float64bits(got) != math.Float64bits(want) ||
			!slices.Equal(s.dw, wantDW) || !slices.Equal(s.db, wantDB) || !slices.Equal(s.dx, wantDX) {
			t.Errorf("%s: zero options differ from LinearCrossEntropy (loss %v, want %v; %v, %v)", im.Name(), got, want, err, err2)
		}

		for _, red := range []Reduction{ReduceMean, ReduceSum, ReduceNone} {
			opts := CrossEntropyOptions{Weights: weights, LabelSmoothing: 0.2, ZLoss: 1e-3, Reduction: red}
			rowLosses := make([]float32, k)
			o := opts
			o.Losses = rowLosses
			wantLoss, dw, db, dx := s.unfused(t, im, c, func(z []float32) (float64, error) {
				return im.CrossEntropyGradWith(z, z, s.labels, C, o)
			})
			var err error
			for _, chunk := range []int{k, 16, 5, 1} {
				losses := make([]float32, k)
				o.Losses = losses
				var loss float64
				withLinearChunks(chunk, func() {
					loss, err = im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C, o)
				})
				where := fmt.Sprintf("%s reduction %d chunks of %d", im.Name(), red, chunk)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if chunk == k {
					if loss != wantLoss || !slices.Equal(s.dw, dw) || !slices.Equal(s.db, db) || !slices.Equal(s.dx, dx) || !slices.Equal(losses, rowLosses) {
						t.Errorf("%s: one chunk differs from the unfused sequence (loss %v, want %v)", where, loss, wantLoss)
					}
					continue
				}
				// Within 10⁻⁵ of the largest element: dw and dx are sums
				// of products of either sign, added chunk by chunk.
				near := func(what string, got, want []float32) {
					var scale float64
					for _, v := range want {
						scale = max(scale, math.Abs(float64(v)))
					}
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*scale {
							t.Errorf("%s: %s[%d] = %v, unfused %v", where, what, i, got[i], want[i])
							return
						}
					}
				}
				near("dw", s.dw, dw)
				near("db", s.db, db)
				near("dx", s.dx, dx)
				near("Losses", losses, rowLosses)
				if math.Abs(loss-wantLoss) > 1e-6*math.Abs(wantLoss) {
					t.Errorf("%s: loss %v, unfused %v", where, loss, wantLoss)
				}
			}
		}
		// Weights that count for nothing: a NaN loss and NaN gradients.
		loss, err := im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C,
			CrossEntropyOptions{Weights: make([]float32, C)})
		if err != nil || !math.IsNaN(loss) || !math.IsNaN(float64(s.dw[0])) || !math.IsNaN(float64(s.db[0])) {
			t.Errorf("%s: weights all 0: loss %v (%v), dw[0] %v, db[0] %v", im.Name(), loss, err, s.dw[0], s.db[0])
		}
		// Bad data writes nothing; programmer errors panic.
		s.dw[0] = 7
		if _, err := im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C,
			CrossEntropyOptions{LabelSmoothing: 2}); err == nil || s.dw[0] != 7 {
			t.Errorf("%s: ε = 2: error %v, dw[0] %v", im.Name(), err, s.dw[0])
		}
		for name, f := range map[string]func(){
			"weights": func() {
				im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C, CrossEntropyOptions{Weights: weights[:3]})
			},
			"losses": func() {
				im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C, CrossEntropyOptions{Losses: make([]float32, 3)})
			},
			"losses overlap": func() {
				im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C, CrossEntropyOptions{Losses: s.dx[:k]})
			},
			"weights overlap": func() {
				im.LinearCrossEntropyWith(s.dw, s.db, s.dx, s.x, s.w, s.b, s.labels, F, C, CrossEntropyOptions{Weights: s.dw[:C]})
			},
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: %s: no panic", im.Name(), name)
					}
				}()
				f()
			}()
		}
	}
}
