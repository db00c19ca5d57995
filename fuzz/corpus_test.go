package fuzz

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The committed seed corpus under testdata/fuzz/<FuzzName>/ holds the special
// values; seedCorpus builds it. TestSeedCorpus checks that the committed
// files are what seedCorpus builds (files it does not build, such as
// failures the fuzzer saved, are left alone); after changing seedCorpus or
// the decoding, rewrite them with
//
//	go test ./fuzz -run TestSeedCorpus -update-seeds
var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpus under testdata/fuzz")

// seedCols are the row lengths of the special-value seeds: 1, around the
// 8- and 16-lane vector widths and their multiples, and a large class count.
var seedCols = []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 1000}

// Seed modes: encMixed with spread 4 (so that multiples of 1/8192 below 4 in
// magnitude are exact sane values) and specials only where a seed puts them
// (1 in 256 once the data runs out); and encRaw.
const (
	seedMixed = encMixed | 2<<2 | 3<<6
	seedRaw   = encRaw
)

type seed struct {
	name string
	args []any
}

// seedEncoder writes values that newDecoder(mode, data) reads back exactly.
type seedEncoder struct {
	mode uint8
	b    []byte
}

func (e *seedEncoder) u16(u uint16) { e.b = append(e.b, byte(u), byte(u>>8)) }

func (e *seedEncoder) value(v float32) {
	if e.mode&3 == encRaw {
		u := math.Float32bits(v)
		e.u16(uint16(u))
		e.u16(uint16(u >> 16))
		return
	}
	for i, s := range specials {
		if math.Float32bits(s) == math.Float32bits(v) {
			idx := i
			for idx < 32 { // a printable index byte keeps the corpus files small
				idx += len(specials)
			}
			e.b = append(e.b, 0, byte(idx))
			return
		}
	}
	spread := spreads[e.mode>>2&15]
	k := math.Round(float64(v) / spread * 32768)
	if k < math.MinInt16 || k > math.MaxInt16 || float32(k/32768*spread) != v {
		panic(fmt.Sprintf("seed value %v is neither special nor exact at spread %v", v, spread))
	}
	e.b = append(e.b, 'A') // selector ≥ the threshold: a sane value
	e.u16(uint16(int16(k)))
}

func (e *seedEncoder) values(vs []float32) {
	for _, v := range vs {
		e.value(v)
	}
}

// base is a realistic logit, a multiple of 1/4 in [−2.75, 2.75].
func base(j, r int) float32 { return float32((j*37+r*11)%23-11) / 4 }

// rowPatterns names the special-value rows; pattern(p, cols, r) builds one.
var rowPatterns = []string{
	"neg-inf", "all-neg-inf", "pos-inf", "nan", "zero-and-minus-1000-last",
	"signed-zeros-subnormals", "huge", "huge-negative", "exp-cutoff", "zero-and-minus-1000-first",
}

func pattern(p, cols, r int) []float32 {
	x := make([]float32, cols)
	for j := range x {
		x[j] = base(j, r)
	}
	cyc := func(vals ...float32) {
		for j := range x {
			x[j] = vals[j%len(vals)]
		}
	}
	switch p {
	case 0: // −Inf logits at both ends (masked classes)
		x[cols-1] = ninf
		if cols >= 3 {
			x[0] = ninf
		}
	case 1:
		cyc(ninf)
	case 2:
		x[cols/2] = pinf
	case 3:
		x[cols-1] = qnan
	case 4: // exact probabilities 1 and 0
		cyc(-1000)
		x[cols-1] = 0
	case 5:
		cyc(negZero, 0, math.Float32frombits(1), -math.Float32frombits(1),
			math.Float32frombits(0x007fffff), 0x1p-126, negZero, 1e-30)
	case 6:
		cyc(3e38, -3e38, 1, -3e38, -math.MaxFloat32)
	case 7:
		cyc(-3e38)
		x[0] = -math.MaxFloat32
	case 8:
		cyc(0, -87.33654, -87.34, -88, -103.97, -104, -1, -1000)
	case 9:
		cyc(-1000)
		x[0] = 0
		if cols >= 3 {
			x[cols-1] = ninf
		}
	}
	return x
}

// patternRows returns the patterns of one seed for a row length: all of them
// where they fit in maxElems (at most four rows of 1000).
func patternRows(cols int) []int {
	if cols*len(rowPatterns) <= maxElems {
		ps := make([]int, len(rowPatterns))
		for i := range ps {
			ps[i] = i
		}
		return ps
	}
	return []int{0, 4, 3, 6}
}

// rowSeeds builds the special-value seeds of a row kernel: per row length,
// one seed in the mixed encoding (for the backward passes and soft targets:
// derived s, logp and targets from the special rows, with realistic dy) and,
// up to 33 columns, one in the raw encoding (s, logp, dy, targets holding the
// special values directly: raw data repeats, so the second input equals the
// first). withLabels appends CrossEntropyGrad labels: 0, cols−1,
// IgnoreLabel and another, in turn.
func rowSeeds(withLabels bool) []seed {
	var seeds []seed
	for _, cols := range seedCols {
		for _, mode := range []uint8{seedMixed, seedRaw} {
			if mode == seedRaw && cols > 33 {
				continue
			}
			ps := patternRows(cols)
			e := &seedEncoder{mode: mode}
			for r, p := range ps {
				e.values(pattern(p, cols, r))
			}
			name := fmt.Sprintf("specials-cols%d-%s", cols, encNames[mode&3])
			args := []any{mode, uint16(len(ps)), uint16(cols)}
			if withLabels {
				for r := range ps {
					e.u16([]uint16{0, uint16(cols - 1), 0xFFFF, uint16(r * 7 % cols)}[r%4])
				}
				args = append(args, uint16(0))
			}
			seeds = append(seeds, seed{name, append(args, e.b)})
		}
	}
	if withLabels {
		// Every label ignored, and each kind of bad label.
		e := &seedEncoder{mode: seedMixed}
		e.values(slices.Concat(pattern(0, 7, 0), pattern(2, 7, 1), pattern(8, 7, 2)))
		seeds = append(seeds, seed{"all-ignored", []any{uint8(seedMixed), uint16(3), uint16(7), uint16(3), e.b}})
		for kind, what := range []string{"cols", "minus-2", "minint32", "maxint32"} {
			arg := uint16(4 | kind<<3 | (kind%3)<<5)
			seeds = append(seeds, seed{"bad-label-" + what, []any{uint8(seedMixed), uint16(3), uint16(7), arg, e.b}})
		}
	}
	return seeds
}

// gerSeeds builds Ger's special-value seeds: per n in seedCols, a few rows
// whose x, y, a and alpha hold special values.
func gerSeeds() []seed {
	var seeds []seed
	xs := []float32{1.5, ninf, 0, qnan, math.Float32frombits(1), 3e38, negZero, -2}
	for c, n := range seedCols {
		pad := c % 4
		lda := max(1, n+pad)
		m := min(len(xs), maxElems/lda)
		e := &seedEncoder{mode: seedMixed}
		// alpha: 1, −0.01, 0 or (by d.value) 3e38, a subnormal, NaN.
		switch c % 6 {
		case 0, 1, 2:
			e.b = append(e.b, []byte{0, 4, 7}[c%3])
		default:
			e.b = append(e.b, 0x80)
			e.value([]float32{3e38, math.Float32frombits(0x007fffff), qnan}[c%3])
		}
		e.values(xs[:m])
		y := pattern(0, n, 1)
		y[0] = negZero
		y[n/2] = pinf
		if n > 2 {
			y[1] = 3e38
			y[n-1] = math.Float32frombits(1)
		}
		e.values(y)
		for i := range m {
			a := pattern(5*(i%2), n, i+2) // realistic rows and rows of −0, subnormals
			e.values(a)
		}
		seeds = append(seeds, seed{fmt.Sprintf("specials-n%d", n),
			[]any{uint8(seedMixed), uint16(m), uint16(n), uint8(pad), e.b}})
	}
	return seeds
}

// gerBatchSeeds builds GerBatch's special-value seeds, including the empty
// updates (k, m or n 0).
func gerBatchSeeds() []seed {
	var seeds []seed
	shapes := [][3]int{{1, 3, 7}, {2, 5, 16}, {3, 4, 17}, {7, 9, 33}, {4, 2, 65}, {2, 2, 1000},
		{3, 8, 9}, {5, 15, 8}, {0, 3, 5}, {5, 0, 8}, {5, 4, 0},
		// Through the packed blocks of the SIMD implementations (n > 64),
		// across a block of columns and a block of rows.
		{4, 10, 200}, {2, 193, 130},
		// Through AVX-512's turned-around tiles of 10-class heads (n 9 to
		// 11): a tile of 32 rows, one of 16, and a part one.
		{5, 40, 10}, {3, 50, 11}, {2, 33, 9}}
	for c, sh := range shapes {
		k, m, n := sh[0], sh[1], sh[2]
		pad := c % 3
		e := &seedEncoder{mode: seedMixed}
		e.b = append(e.b, []byte{0, 4, 3}[c%3]) // alpha 1, −0.01, −0.001
		x := make([]float32, k*m)
		for i := range x {
			x[i] = base(i, 3)
		}
		sp := []float32{ninf, qnan, 0, math.Float32frombits(1), 3e38, negZero, pinf}
		if len(x) > 2 {
			x[len(x)/2] = sp[c%len(sp)]
			x[len(x)-1] = sp[(c+3)%len(sp)]
		}
		e.values(x)
		y := make([]float32, k*n)
		for i := range y {
			y[i] = base(i, 5)
		}
		if len(y) > 2 {
			y[0] = sp[(c+1)%len(sp)]
			y[len(y)-1] = sp[(c+5)%len(sp)]
		}
		e.values(y)
		for i := range m {
			e.values(pattern(5*(i%2), max(n, 1), i)[:n])
		}
		seeds = append(seeds, seed{fmt.Sprintf("specials-k%d-m%d-n%d", k, m, n),
			[]any{uint8(seedMixed), uint16(k), uint16(m), uint16(n), uint8(pad), e.b}})
	}
	return seeds
}

// choice writes the selector byte of v in set (alphas or gemmBetas), or,
// when v is not in it, a selector ≥ 128 and v itself.
func (e *seedEncoder) choice(v float32, set []float32) {
	for i, s := range set {
		if math.Float32bits(s) == math.Float32bits(v) {
			e.b = append(e.b, byte(i))
			return
		}
	}
	e.b = append(e.b, 0x80)
	e.value(v)
}

// gemmSeeds builds Gemm's special-value seeds: each transpose on the tiles
// of every implementation and one past them (12×32 and 13×33 for avx512,
// 6×16 and 7×17 for avx2, 4×4 and 5×5 for generic), the largest m and n, k
// past the first block of avx512 (128 or 192) and the largest k, and the
// products that only scale C (k 0, alpha 0) or change nothing (m or n 0).
// A and B are realistic with two special values each; C holds a NaN, an
// infinity, −0 and a subnormal, which beta 0 must drop.
func gemmSeeds() []seed {
	var seeds []seed
	shapes := []struct {
		trans       uint8
		m, n, k     int
		alpha, beta float32
	}{
		{0, 13, 33, 5, 1, 0}, {1, 12, 32, 3, -0.01, 1}, {2, 7, 17, 9, 0.5, -1}, {3, 6, 16, 17, 1, 0.5},
		{0, 5, 5, 1, -1, qnan}, {3, 4, 4, 2, 2, 0}, {1, 1, 1, 1, 1, 2}, {2, 25, 65, 8, -0.001, 0},
		{0, 70, 70, 13, 1, 1}, {2, 3, 10, 193, 0.1, 0}, {1, 9, 7, 300, -1, -1}, {3, 2, 31, 129, 1, 0},
		{0, 11, 15, 257, 0.5, 1},
		{0, 4, 9, 0, 1, -1}, {1, 5, 6, 0, 1, 0}, {2, 6, 7, 4, 0, 0.5}, {3, 7, 3, 4, 0, 0},
		{1, 0, 8, 5, 1, 0}, {2, 6, 0, 5, 1, 1},
		{0, 3, 4, 5, pinf, 1}, {1, 8, 3, 2, qnan, 0},
	}
	sp := []float32{ninf, qnan, 0, math.Float32frombits(1), 3e38, negZero, pinf}
	for c, sh := range shapes {
		pad := uint8(c%3 | (c+1)%4<<3 | c%4<<6)
		g := gemmShape(sh.trans, uint16(sh.m), uint16(sh.n), uint16(sh.k), pad)
		if g.m != sh.m || g.n != sh.n || g.k != sh.k {
			panic(fmt.Sprintf("gemm seed %d: shape %v, want m=%d, n=%d, k=%d", c, g, sh.m, sh.n, sh.k))
		}
		e := &seedEncoder{mode: seedMixed}
		e.choice(sh.alpha, alphas[:])
		e.choice(sh.beta, gemmBetas[:])
		ra, ca, rb, cb := g.stored()
		a := make([]float32, ra*ca)
		for i := range a {
			a[i] = base(i, 3)
		}
		if len(a) > 2 {
			a[len(a)/2] = sp[c%len(sp)]
			a[len(a)-1] = sp[(c+3)%len(sp)]
		}
		e.values(a)
		b := make([]float32, rb*cb)
		for i := range b {
			b[i] = base(i, 5)
		}
		if len(b) > 2 {
			b[0] = sp[(c+1)%len(sp)]
			b[len(b)-1] = sp[(c+5)%len(sp)]
		}
		e.values(b)
		cm := make([]float32, g.m*g.n)
		for i := range cm {
			cm[i] = base(i, 7)
		}
		for i, v := range []float32{qnan, pinf, negZero, math.Float32frombits(1)} {
			if i < len(cm) {
				cm[(c+i*5)%len(cm)] = v
			}
		}
		e.values(cm)
		op := [4]string{"NN", "TN", "NT", "TT"}[sh.trans]
		seeds = append(seeds, seed{fmt.Sprintf("specials-%s-m%d-n%d-k%d", op, g.m, g.n, g.k),
			[]any{uint8(seedMixed), sh.trans, uint16(g.m), uint16(g.n), uint16(g.k), pad, e.b}})
	}
	return seeds
}

func seedCorpus() map[string][]seed {
	row := rowSeeds(false)
	return map[string][]seed{
		"FuzzSoftmax":              row,
		"FuzzLogSoftmax":           row,
		"FuzzSoftmaxBackward":      row,
		"FuzzLogSoftmaxBackward":   row,
		"FuzzCrossEntropyGradSoft": row,
		"FuzzCrossEntropyGrad":     rowSeeds(true),
		"FuzzGer":                  gerSeeds(),
		"FuzzGerBatch":             gerBatchSeeds(),
		"FuzzGemm":                 gemmSeeds(),
	}
}

// marshalSeed writes a corpus file in the "go test fuzz v1" format.
func marshalSeed(args []any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case uint8:
			fmt.Fprintf(&b, "uint8(%d)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		default:
			panic(fmt.Sprintf("unsupported seed argument %T", a))
		}
	}
	return b.Bytes()
}

func TestSeedCorpus(t *testing.T) {
	for target, seeds := range seedCorpus() {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			path := filepath.Join(dir, s.name)
			want := marshalSeed(s.args)
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test ./fuzz -run TestSeedCorpus -update-seeds)", err)
			} else if !bytes.Equal(got, want) {
				t.Errorf("%s is out of date (run go test ./fuzz -run TestSeedCorpus -update-seeds)", path)
			}
		}
	}
}

// Realistic seeds, added in code: typical classifier shapes in the sane
// encodings (a few data bytes; the decoder's pseudo-random stream fills the
// rest), plus the empty batch.
func sane(spreadIdx int) uint8 { return uint8(encSane | spreadIdx<<2) }

var rowShapes = []struct {
	mode       uint8
	rows, cols uint16
}{
	{sane(3), 32, 10},                        // MNIST-sized batch, logits within ±8
	{sane(13), 4, 1000},                      // ImageNet classes, ±3
	{sane(5), 16, 100},                       // ±32: many exps near the cutoff
	{sane(10), 8, 50},                        // ±1000: mostly one-hot
	{uint8(encSaneDirect | 0<<2), 16, 33},    // arbitrary s, logp, targets
	{uint8(encMixed | 3<<2 | 2<<6), 64, 17},  // a special value in 1 of 64 elements
	{uint8(encMixed | 0<<2 | 1<<6), 128, 16}, // 1 in 16
	{uint8(encRaw), 3, 9},                    // raw bits
	{sane(0), 0, 0},                          // empty
	{sane(0), 0, 12},                         // no rows
}

func addRowSeeds(f *testing.F) {
	for i, s := range rowShapes {
		f.Add(s.mode, s.rows, s.cols, []byte{byte(i), 0x5a, 0xc3})
	}
}

func addCESeeds(f *testing.F) {
	for i, s := range rowShapes {
		// labels: none ignored, 1 in 8 ignored, half ignored, in turn
		f.Add(s.mode, s.rows, s.cols, uint16(i%3), []byte{byte(i), 0x5a, 0xc3})
	}
	f.Add(sane(3), uint16(32), uint16(10), uint16(3), []byte{1})           // all ignored
	f.Add(sane(3), uint16(32), uint16(10), uint16(4|1<<3|5<<5), []byte{2}) // label −2 in row 5
}

func addGerSeeds(f *testing.F) {
	for i, s := range []struct {
		mode uint8
		m, n uint16
		pad  uint8
	}{
		{sane(3), 5, 784, 0}, // first layer of an MNIST MLP (input 784)
		{sane(0), 64, 10, 0}, // hidden 64 → 10 classes
		{sane(1), 33, 17, 3}, // odd sizes, padded rows
		{uint8(encMixed | 2<<6), 7, 65, 1},
		{uint8(encRaw), 3, 9, 2},
		{sane(0), 0, 10, 0}, // empty
	} {
		f.Add(s.mode, s.m, s.n, s.pad, []byte{byte(i), 0x11, 0x7e})
	}
}

func addGerBatchSeeds(f *testing.F) {
	for i, s := range []struct {
		mode    uint8
		k, m, n uint16
		pad     uint8
	}{
		{sane(3), 32, 64, 10, 0}, // batch 32, hidden 64 → 10 classes
		{sane(0), 8, 100, 10, 5},
		{sane(1), 17, 33, 31, 1},
		{uint8(encMixed | 2<<6), 4, 9, 16, 0},
		{uint8(encRaw), 2, 3, 5, 2},
		{sane(0), 0, 10, 10, 0}, // k = 0
	} {
		f.Add(s.mode, s.k, s.m, s.n, s.pad, []byte{byte(i), 0x2b, 0x90})
	}
}

func addGemmSeeds(f *testing.F) {
	for i, s := range []struct {
		mode, trans uint8
		m, n, k     uint16
		pad         uint8
		alpha, beta byte // selectors: alphas and gemmBetas below 128
	}{
		{sane(3), 2, 32, 10, 64, 0, 0, 0},     // logits: batch 32, 64 features → 10 classes (X·Wᵀ)
		{sane(0), 0, 32, 64, 10, 0, 0, 0},     // the gradient of the batch (G·W)
		{sane(1), 1, 10, 64, 32, 0, 4, 1},     // the gradient of the weights (Gᵀ·X), accumulated
		{sane(13), 3, 17, 33, 41, 0x5b, 2, 3}, // beta 0.5
		{uint8(encMixed | 2<<6), 1, 13, 35, 70, 0x2a, 1, 2},
		{uint8(encRaw), 2, 7, 9, 11, 0xc7, 0, 0}, // raw bits, alpha too
		{sane(0), 0, 8, 8, 0, 0, 6, 2},           // k = 0
		{sane(0), 0, 0, 8, 8, 0, 0, 0},           // empty
	} {
		f.Add(s.mode, s.trans, s.m, s.n, s.k, s.pad, []byte{s.alpha, s.beta, byte(i), 0x3c, 0x81})
	}
}

// addLinearSeeds adds LinearCrossEntropy seeds: a 10-class head, a wider
// one with ignored rows, special values, raw bits, a bad label and a batch
// with every row ignored.
func addLinearSeeds(f *testing.F) {
	for i, s := range []struct {
		mode             uint8
		k, feat, classes uint16
		labels           uint16
		flags            uint8
	}{
		{sane(0), 32, 63, 9, 0, 7},  // 32 samples, 64 features → 10 classes, everything wanted
		{sane(3), 17, 40, 39, 1, 5}, // 40 classes, about one row in eight ignored, no db
		{sane(13), 5, 7, 2, 2, 0},   // half the rows ignored, dw only
		{uint8(encMixed | 1<<6), 12, 30, 11, 0, 7},
		{uint8(encRaw), 6, 9, 4, 0, 3},
		{sane(0), 9, 20, 5, 4 | 3<<5, 7}, // a bad label in row 3
		{sane(0), 9, 20, 5, 3, 7},        // every row ignored
		{sane(0), 0, 20, 5, 0, 7},        // no rows
	} {
		f.Add(s.mode, s.k, s.feat, s.classes, s.labels, s.flags, []byte{byte(i), 0x3c, 0x81, 0x17})
	}
}

// TestSeedEncoding checks that the seed encoder and the decoder agree on
// every value the seeds use, in both seed encodings.
func TestSeedEncoding(t *testing.T) {
	var vals []float32
	for p := range rowPatterns {
		for _, cols := range []int{1, 2, 9} {
			vals = append(vals, pattern(p, cols, p)...)
		}
	}
	vals = append(vals, specials...)
	for _, mode := range []uint8{seedMixed, seedRaw} {
		e := &seedEncoder{mode: mode}
		e.values(vals)
		e.u16(0xFFFF)
		e.u16(6)
		d := newDecoder(mode, e.b)
		got := d.values(len(vals))
		if err := sameBits(got, vals); err != nil {
			t.Errorf("%s: %v", encNames[mode&3], err)
		}
		if l, _ := d.labels(2, 4, 0); l[0] != -1 || l[1] != 2 {
			t.Errorf("%s: labels %v, want [-1 2]", encNames[mode&3], l)
		}
	}
}
