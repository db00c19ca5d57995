//go:build !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestTwoPassStream runs the two-pass softmax with its output streamed
// (non-temporal stores, which it uses for outputs larger than the cache)
// on every SIMD isa, with dst starting at each of the 16 float32 offsets
// within 64 bytes, and requires the output of the cached path bit for bit,
// with the words around dst untouched.
func TestTwoPassStream(t *testing.T) {
	defer func(b int) { streamAbove = b }(streamAbove)
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range []isa{isaAVX2, isaAVX512} {
		im := avx2Impl
		if k == isaAVX512 {
			im = avx512Impl
		}
		if _, err := Lookup(im.Name()); err != nil {
			t.Logf("%s: %v", im.Name(), err)
			continue
		}
		for _, cols := range []int{twoPassCols + 1, twoPassCols + 3*statsBlock + 37} {
			rows := twoPassRows(r, cols)
			src := append(append(append([]float32{}, rows["uniform"]...), rows["nan-at-end"]...), rows["spread"]...)
			want := make([]float32, len(src))
			streamAbove = math.MaxInt
			if k.streams(len(src)) {
				t.Fatal("streams with streamAbove = MaxInt")
			}
			softmaxTwoPass(k, want, src, cols)
			streamAbove = 0
			if !k.streams(len(src)) {
				t.Fatalf("%s does not stream with streamAbove = 0", im.Name())
			}
			const guard = 32
			for off := range 16 {
				buf := make([]float32, off+len(src)+guard)
				for i := range buf {
					buf[i] = -7
				}
				softmaxTwoPass(k, buf[off:off+len(src)], src, cols)
				name := fmt.Sprintf("%s/cols=%d/offset=%d", im.Name(), cols, off)
				for i, v := range buf {
					inside := i >= off && i < off+len(src)
					switch {
					case !inside && v != -7:
						t.Fatalf("%s: wrote element %d outside dst", name, i-off)
					case inside && math.Float32bits(v) != math.Float32bits(want[i-off]):
						t.Fatalf("%s: dst[%d] = %v, the cached path gives %v", name, i-off, v, want[i-off])
					}
				}
			}
		}
	}
}
