package fuzz

import (
	"fmt"
	"math"

	"github.com/softgrad/softgrad/kernels"
)

// Input decoding. Every fuzz target takes a mode byte, a few integers that
// fix the shape, and a []byte of data that a decoder turns into float32
// values (and, for CrossEntropyGrad, labels). Shapes are always valid, so a
// kernel panic is always a failure.

// Size limits: each input matrix holds at most maxElems elements, so that a
// 10 s fuzz run does many executions; GerBatch and Gemm also bound their
// k·m·n work.
const (
	maxElems        = 4096
	maxGerBatchWork = 1 << 16
	maxLdaPad       = 17 // lda = n + pad%maxLdaPad
	// Gemm's m and n reach past two of avx512's 12×32 tiles, several of
	// avx2's 6×16 and many of generic's 4×4, with a part tile at every
	// remainder; k reaches past the first block of k (kc, at least 64 and
	// 128 or 192 for avx512 with a 32 or 48 KiB L1) where m·n is small.
	maxGemmMN   = 70
	maxGemmK    = 300
	maxGemmWork = 1 << 16
)

// Value encodings, the low two bits of the mode byte.
const (
	encSane       = 0 // realistic values; s, logp and targets derived through softmax
	encSaneDirect = 1 // realistic values used as they are (s, logp, targets arbitrary)
	encMixed      = 2 // realistic values with special values sprinkled in; derived
	encRaw        = 3 // raw float32 bit patterns (every NaN, ±Inf, −0, subnormal); direct
)

var encNames = [4]string{"sane", "sane-direct", "mixed", "raw"}

// spreads is the scale of realistic values, chosen by bits 2–5 of the mode
// byte: a value is uniform in [−spread, spread). Spreads of 1000 and more
// push most exponentials below float32's range.
var spreads = [16]float64{1, 2, 4, 8, 16, 32, 0.5, 0.1, 64, 100, 1000, 1e4, 1e-3, 3, 10, 20}

// specialThreshold is, for encMixed, how many of 256 selector byte values
// pick a special value; bits 6–7 of the mode byte choose it.
var specialThreshold = [4]int{64, 16, 4, 1}

// specials are the values encMixed sprinkles in. −Inf appears several times
// because masked logits are the common case.
var specials = []float32{
	ninf, ninf, ninf, pinf, qnan, 0, negZero,
	-1000, 1000, 1, -1,
	-87.33654, -87.34, -88, 88.72, -103.97, -104, // around exp's cutoff and range
	math.Float32frombits(1), -math.Float32frombits(1), // smallest subnormal
	math.Float32frombits(0x007fffff), -math.Float32frombits(0x007fffff), // largest subnormal
	0x1p-126, -0x1p-126, // smallest normal
	3e38, -3e38, math.MaxFloat32, -math.MaxFloat32,
	16777216, 1e-30, -1e30,
	math.Float32frombits(0xffc00001), // a negative NaN with a payload
}

var (
	pinf    = float32(math.Inf(1))
	ninf    = float32(math.Inf(-1))
	qnan    = float32(math.NaN())
	negZero = math.Float32frombits(0x80000000)
)

// decoder turns fuzz data into values. When the data runs out, encRaw
// cycles through it again (so a short seed can fill a large matrix with a
// repeating bit pattern) and the other encodings continue with a
// deterministic pseudo-random stream seeded by the data, so that a few bytes
// make a large realistic input.
type decoder struct {
	data      []byte
	pos       int
	enc       int
	spreadIdx int
	threshold int
	rng       uint64
}

func newDecoder(mode uint8, data []byte) *decoder {
	h := uint64(14695981039346656037) // FNV-1a
	for _, b := range append([]byte{mode}, data...) {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return &decoder{
		data:      data,
		enc:       int(mode & 3),
		spreadIdx: int(mode>>2) & 15,
		threshold: specialThreshold[mode>>6],
		rng:       h,
	}
}

func (d *decoder) String() string {
	s := fmt.Sprintf("%s spread=%g", encNames[d.enc], spreads[d.spreadIdx])
	if d.enc == encMixed {
		s += fmt.Sprintf(" specials=%d/256", d.threshold)
	}
	return s
}

// derived reports whether probability-like inputs (s, logp, targets) are to
// be computed from the decoded values by the generic softmax or log-softmax
// rather than used as they are.
func (d *decoder) derived() bool { return d.enc == encSane || d.enc == encMixed }

func (d *decoder) byte() byte {
	if d.pos < len(d.data) {
		d.pos++
		return d.data[d.pos-1]
	}
	if d.enc == encRaw {
		if len(d.data) == 0 {
			return 0
		}
		b := d.data[d.pos%len(d.data)]
		d.pos++
		return b
	}
	// splitmix64
	d.rng += 0x9e3779b97f4a7c15
	z := d.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return byte(z ^ z>>31)
}

func (d *decoder) u16() uint16 { return uint16(d.byte()) | uint16(d.byte())<<8 }

// sane decodes a realistic value: an int16 scaled to [−spread, spread).
func (d *decoder) sane() float32 {
	return float32(float64(int16(d.u16())) / 32768 * spreads[d.spreadIdx])
}

func (d *decoder) value() float32 {
	switch d.enc {
	case encRaw:
		return math.Float32frombits(uint32(d.u16()) | uint32(d.u16())<<16)
	case encMixed:
		if int(d.byte()) < d.threshold {
			return specials[int(d.byte())%len(specials)]
		}
	}
	return d.sane()
}

func (d *decoder) values(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = d.value()
	}
	return v
}

// probs decodes rows of values and, when the encoding is derived, turns them
// into distributions with the generic softmax (log=false) or log-softmax.
func (d *decoder) probs(n, cols int, log bool) []float32 {
	v := d.values(n)
	if d.derived() && n > 0 {
		if log {
			generic.LogSoftmax(v, v, cols)
		} else {
			generic.Softmax(v, v, cols)
		}
	}
	return v
}

// Label encoding: each label is a uint16 u from the data; 0xFFFF is
// IgnoreLabel, anything else is u % cols. The labels argument of
// FuzzCrossEntropyGrad adds more:
//
//	bits 0–1: also ignore a row when (0) never, (1) u>>13 == 7, (2) u>>15 == 1, (3) always
//	bit 2:    replace the label of row (labels>>5) % rows by a bad one:
//	bits 3–4: cols, −2, MinInt32 or MaxInt32
func (d *decoder) labels(rows, cols int, arg uint16) (labels []int32, badRow int) {
	labels = make([]int32, rows)
	for r := range labels {
		u := d.u16()
		ignore := u == 0xFFFF
		switch arg & 3 {
		case 1:
			ignore = ignore || u>>13 == 7
		case 2:
			ignore = ignore || u>>15 == 1
		case 3:
			ignore = true
		}
		if ignore {
			labels[r] = kernels.IgnoreLabel
		} else {
			labels[r] = int32(int(u) % cols)
		}
	}
	badRow = -1
	if arg&4 != 0 && rows > 0 {
		badRow = int(arg>>5) % rows
		labels[badRow] = [4]int32{int32(cols), -2, math.MinInt32, math.MaxInt32}[arg>>3&3]
	}
	return labels, badRow
}

// alpha decodes the scale of Ger, GerBatch and Gemm: in the realistic
// encodings one of a few learning-rate-like values or a realistic value, in
// encRaw any bits.
func (d *decoder) alpha() float32 {
	if d.enc == encRaw {
		return d.value()
	}
	b := d.byte()
	if b < 128 {
		return alphas[b%8]
	}
	return d.value()
}

var alphas = [8]float32{1, -1, 0.5, -0.001, -0.01, 0.1, 2, 0}

// beta decodes Gemm's scale of C: half the time one of the values BLAS
// treats apart (0, which does not read C, and 1, which leaves it unscaled)
// or −1, 0.5, NaN or 2, otherwise a decoded value (any bits in encRaw).
func (d *decoder) beta() float32 {
	if b := d.byte(); b < 128 {
		return gemmBetas[b%8]
	}
	return d.value()
}

var gemmBetas = [8]float32{0, 1, -1, 0.5, qnan, 0, 1, 2}

// rowShape maps the shape arguments of the row kernels to rows×cols with
// rows·cols ≤ maxElems; cols == 0 gives the empty batch.
func rowShape(rowsArg, colsArg uint16) (rows, cols int) {
	cols = int(colsArg) % (maxElems + 1)
	if cols == 0 {
		return 0, 0
	}
	return int(rowsArg) % (maxElems/cols + 1), cols
}

// gerShape maps Ger's arguments to an m×n update of a matrix with row
// stride lda, m·lda ≤ maxElems; m or n may be 0.
func gerShape(mArg, nArg uint16, pad uint8) (m, n, lda int) {
	n = int(nArg) % (maxElems + 1)
	lda = max(1, n+int(pad)%maxLdaPad)
	m = int(mArg) % (maxElems/lda + 1)
	return m, n, lda
}

// gerBatchShape is gerShape plus k, with k·m, k·n ≤ maxElems and
// k·m·n ≤ maxGerBatchWork.
func gerBatchShape(kArg, mArg, nArg uint16, pad uint8) (k, m, n, lda int) {
	m, n, lda = gerShape(mArg, nArg, pad)
	kmax := min(maxElems/max(1, m), maxElems/max(1, n), maxGerBatchWork/max(1, m*n))
	return int(kArg) % (kmax + 1), m, n, lda
}

// gemmDims is the shape of one Gemm call.
type gemmDims struct {
	transA, transB bool
	m, n, k        int
	lda, ldb, ldc  int
}

func (g gemmDims) String() string {
	op := func(trans bool) string {
		if trans {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s, m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d",
		op(g.transA), op(g.transB), g.m, g.n, g.k, g.lda, g.ldb, g.ldc)
}

// stored returns the rows and columns of A and B as stored: A is m×k, or
// k×m when transposed, and B k×n, or n×k.
func (g gemmDims) stored() (ra, ca, rb, cb int) {
	ra, ca, rb, cb = g.m, g.k, g.k, g.n
	if g.transA {
		ra, ca = ca, ra
	}
	if g.transB {
		rb, cb = cb, rb
	}
	return ra, ca, rb, cb
}

// gemmShape maps Gemm's arguments to a product: bits 0 and 1 of trans
// transpose A and B; m, n ≤ maxGemmMN and k ≤ maxGemmK, with A and B within
// maxElems elements and m·n·k ≤ maxGemmWork; pad lengthens the rows of A by
// 0–7 elements (bits 0–2), of B by 0–7 (bits 3–5) and of C by 0–3 (bits 6–7).
func gemmShape(trans uint8, mArg, nArg, kArg uint16, pad uint8) gemmDims {
	g := gemmDims{transA: trans&1 != 0, transB: trans&2 != 0}
	g.m, g.n = int(mArg)%(maxGemmMN+1), int(nArg)%(maxGemmMN+1)
	kmax := min(maxGemmK, maxElems/max(1, g.m), maxElems/max(1, g.n), maxGemmWork/max(1, g.m*g.n))
	g.k = int(kArg) % (kmax + 1)
	_, ca, _, cb := g.stored()
	g.lda = max(1, ca) + int(pad&7)
	g.ldb = max(1, cb) + int(pad>>3&7)
	g.ldc = max(1, g.n) + int(pad>>6)
	return g
}
