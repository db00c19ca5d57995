package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/softgrad/softgrad/internal/reference"
)

// twoPassRows returns rows of cols elements that stress the two-pass path's
// folding of block maxima and sums (statsBlock = 2048 elements per block):
// maxima rising or falling from block to block, blocks of only −Inf before,
// between and after finite ones, spreads beyond exp's range, ties, and the
// rows that must come out NaN (a NaN or +Inf in any block, only −Inf).
func twoPassRows(r *rand.Rand, cols int) map[string][]float32 {
	ninf, pinf := float32(math.Inf(-1)), float32(math.Inf(1))
	fill := func(f func(i int) float32) []float32 {
		row := make([]float32, cols)
		for i := range row {
			row[i] = f(i)
		}
		return row
	}
	u := func(lo, hi float64) float32 { return float32(lo + (hi-lo)*r.Float64()) }
	last := cols - 1
	rows := map[string][]float32{
		"uniform":       fill(func(int) float32 { return u(-10, 10) }),
		"rising":        fill(func(i int) float32 { return float32(i/statsBlock)*30 + u(-5, 5) }),
		"falling":       fill(func(i int) float32 { return -float32(i/statsBlock)*30 + u(-5, 5) }),
		"spread":        fill(func(i int) float32 { return u(-1000, 0) }),
		"huge":          fill(func(i int) float32 { return float32(i%3-1) * 3e38 }),
		"ties":          fill(func(int) float32 { return 2.5 }),
		"masked":        fill(func(int) float32 { return [2]float32{u(-3, 3), ninf}[r.IntN(2)] }),
		"ninf-first":    fill(func(i int) float32 { return [2]float32{ninf, u(-3, 3)}[min(1, i/(cols/2+1))] }),
		"ninf-last":     fill(func(i int) float32 { return [2]float32{u(-3, 3), ninf}[min(1, i/(cols/2+1))] }),
		"all-ninf":      fill(func(int) float32 { return ninf }),
		"nan-at-end":    fill(func(int) float32 { return u(-3, 3) }),
		"pinf-at-end":   fill(func(int) float32 { return u(-3, 3) }),
		"nan-and-ninf":  fill(func(i int) float32 { return ninf }),
		"max-at-end":    fill(func(int) float32 { return u(-3, 3) }),
		"subnormal-out": fill(func(i int) float32 { return [2]float32{-87, 0}[i%2] - u(0, 2) }),
	}
	rows["nan-at-end"][last] = float32(math.NaN())
	rows["pinf-at-end"][last] = pinf
	rows["nan-and-ninf"][last] = float32(math.NaN())
	rows["max-at-end"][last] = 90
	return rows
}

// TestTwoPass checks the two-pass Softmax and LogSoftmax of every
// implementation against its own three-pass path on the rows of
// twoPassRows, for rows of one block, several blocks and a part block.
func TestTwoPass(t *testing.T) {
	for _, im := range Available() {
		t.Run(im.Name(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 11))
			for _, cols := range []int{1, 5, statsBlock - 1, statsBlock, statsBlock + 1, 3*statsBlock + 77} {
				for name, row := range twoPassRows(r, cols) {
					where := fmt.Sprintf("%s cols=%d %q", im.Name(), cols, name)
					if err := compareTwoPass(im.isa, row, cols); err != nil {
						t.Errorf("%s: %v", where, err)
					}
				}
			}
		})
	}
}

// FuzzTwoPass compares the two-pass and three-pass paths of every
// implementation on rows of arbitrary float32 bits.
func FuzzTwoPass(f *testing.F) {
	f.Add(uint16(3), []byte{0, 0, 0x80, 0xff, 0, 0, 0x80, 0x3f, 0, 0, 0xc0, 0x7f})
	f.Add(uint16(2049), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, colsArg uint16, data []byte) {
		cols := 1 + int(colsArg)%(3*statsBlock)
		row := make([]float32, cols)
		for i := range row {
			// Repeat the input's bits over the row, offset by the index so
			// that the blocks differ.
			if len(data) >= 4 {
				j := 4 * (i % (len(data) / 4))
				row[i] = math.Float32frombits(uint32(data[j]) | uint32(data[j+1])<<8 | uint32(data[j+2])<<16 | uint32(data[j+3])<<24)
				if row[i] == row[i] && !math.IsInf(float64(row[i]), 0) {
					row[i] -= float32(i / statsBlock)
				}
			}
		}
		for _, im := range Available() {
			if err := compareTwoPass(im.isa, row, cols); err != nil {
				t.Fatalf("%s cols=%d: %v", im.Name(), cols, err)
			}
		}
	})
}

// compareTwoPass runs Softmax and LogSoftmax of one row both ways. Where
// the three-pass output is NaN, ±0 or ±Inf the two-pass one must be the
// same; elsewhere within 4 ULP for softmax, and for log-softmax, whose
// (x_i − m) − log Z cancels, within 4 ULP of |x_i − m| + |log Z|.
func compareTwoPass(is isa, row []float32, cols int) error {
	three, two := make([]float32, cols), make([]float32, cols)
	for _, log := range []bool{false, true} {
		kernel := "Softmax"
		if log {
			kernel = "LogSoftmax"
			logSoftmaxBatch(is, three, row, cols)
			logSoftmaxTwoPass(is, two, row, cols)
		} else {
			softmaxBatch(is, three, row, cols)
			softmaxTwoPass(is, two, row, cols)
		}
		m := rowMaxGeneric(row)
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - float64(m))
		}
		logZ := math.Abs(math.Log(z))
		for i, w := range three {
			g := two[i]
			wf, gf := float64(w), float64(g)
			switch {
			case w != w || g != g || w == 0 || math.IsInf(wf, 0):
				if math.Float32bits(w) != math.Float32bits(g) && !(w != w && g != g) {
					return fmt.Errorf("%s[%d] = %v (x = %v), three-pass %v", kernel, i, g, row[i], w)
				}
				continue
			}
			scale := math.Abs(wf)
			if log {
				scale = math.Abs(float64(row[i]-m)) + logZ
			}
			if d := math.Abs(gf - wf); d > 4*reference.ULP(scale) {
				return fmt.Errorf("%s[%d] = %v (x = %v), three-pass %v: %.3g ULP apart", kernel, i, g, row[i], w, d/reference.ULP(scale))
			}
		}
	}
	return nil
}

func rowMaxGeneric(row []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range row {
		if v > m || v != v {
			m = v
		}
		if m != m {
			break
		}
	}
	return m
}
