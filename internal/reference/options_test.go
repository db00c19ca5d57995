package reference

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"
)

// torchNumber is a JSON number, or "inf", "-inf" or "nan" as Python
// writes the values JSON has no numbers for.
type torchNumber float64

func (f *torchNumber) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := strconv.ParseFloat(s, 64)
		*f = torchNumber(v)
		return err
	}
	var v float64
	err := json.Unmarshal(b, &v)
	*f = torchNumber(v)
	return err
}

// TestCrossEntropyWithTorch holds CrossEntropyWith to PyTorch 1.13's
// F.cross_entropy (with the z-loss added through autograd) on the cases of
// testdata/torch_cross_entropy.py: every option alone and together, every
// reduction, −Inf logits (also on a class of weight 0), all-ignored
// batches, short and long rows.
func TestCrossEntropyWithTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/torch_cross_entropy.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name      string
			Cols      int
			Logits    []torchNumber
			Labels    []int32
			Weights   []float32
			Smoothing float64
			Z         float64
			Reduction string
			Loss      torchNumber
			RowLoss   []torchNumber
			Grad      []torchNumber
		}
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 20 {
		t.Fatalf("%d cases", len(file.Cases))
	}
	reductions := map[string]int{"mean": ReduceMean, "sum": ReduceSum, "none": ReduceNone}
	same := func(got float64, want torchNumber) bool {
		w := float64(want)
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return math.IsNaN(got) == math.IsNaN(w) && (math.IsNaN(w) || got == w)
		}
		return math.Abs(got-w) <= 1e-12*math.Max(1, math.Abs(w))
	}
	for _, c := range file.Cases {
		x := make([]float32, len(c.Logits))
		for i, v := range c.Logits {
			x[i] = float32(v)
			if float64(x[i]) != float64(v) && !math.IsNaN(float64(v)) {
				t.Fatalf("%s: logit %v is not a float32", c.Name, v)
			}
		}
		red, ok := reductions[c.Reduction]
		if !ok {
			t.Fatalf("%s: reduction %q", c.Name, c.Reduction)
		}
		grad, loss, rowLoss := CrossEntropyWith(x, c.Labels, c.Cols,
			CrossEntropyOptions{Weights: c.Weights, LabelSmoothing: c.Smoothing, ZLoss: c.Z, Reduction: red})
		if !same(loss, c.Loss) {
			t.Errorf("%s: loss %v, PyTorch %v", c.Name, loss, c.Loss)
		}
		for r, v := range c.RowLoss {
			if !same(rowLoss[r], v) {
				t.Errorf("%s: row %d loss %v, PyTorch %v", c.Name, r, rowLoss[r], v)
			}
		}
		for i, v := range c.Grad {
			if !same(grad[i], v) {
				t.Errorf("%s: grad[%d] %v, PyTorch %v", c.Name, i, grad[i], v)
			}
		}
	}
}
