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
// 10 s fuzz run does many executions; GerBatch also bounds its k·m·n work.
const (
	maxElems        = 4096
	maxGerBatchWork = 1 << 16
	maxLdaPad       = 17 // lda = n + pad%maxLdaPad
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

// alpha decodes the scale of Ger and GerBatch: in the realistic encodings
// one of a few learning-rate-like values or a realistic value, in encRaw any
// bits.
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
