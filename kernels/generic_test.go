package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowMax holds rowMax, which compares bits as integers in two modes, to
// a float compare: on rows of every length up to 40 and of 1000, 200 each,
// whose first element ≥ +0 (where rowMax changes mode) is at a random
// position or absent, with zeros of both signs, infinities and NaNs of both
// signs mixed in.
func TestRowMax(t *testing.T) {
	negNaN := math.Float32frombits(0xFFC00001)
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN()), negNaN, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32}
	r := rand.New(rand.NewPCG(7, 11))
	check := func(row []float32) {
		t.Helper()
		got := rowMax(row)
		want, hasNaN, hasPosZero := float32(math.Inf(-1)), false, false
		for _, v := range row {
			switch {
			case v != v:
				hasNaN = true
			case v > want:
				want = v
			}
			hasPosZero = hasPosZero || v == 0 && !math.Signbit(float64(v))
		}
		if want == 0 { // +0 where the row holds one, else −0
			want = float32(math.Copysign(0, -1))
			if hasPosZero {
				want = 0
			}
		}
		if hasNaN && got != got {
			return // a NaN may be returned for a row that holds one
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			shown := any(row)
			if len(row) > 40 {
				shown = fmt.Sprintf("%d elements", len(row))
			}
			t.Fatalf("rowMax(%v) = %v (%#x), want %v (%#x)", shown, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	lengths := []int{1000}
	for n := 1; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		row := make([]float32, n)
		for trial := 0; trial < 200; trial++ {
			for i := range row {
				row[i] = -r.Float32() * 10
			}
			// The first element ≥ +0 (if any) at position p, values of
			// either sign after it.
			if p := r.IntN(n + 1); p < n {
				row[p] = r.Float32()
				for i := p + 1; i < n; i++ {
					row[i] = r.Float32()*4 - 2
				}
			}
			for range r.IntN(3) {
				row[r.IntN(n)] = specials[r.IntN(len(specials))]
			}
			check(row)
		}
	}
	// Runs that ascend and descend, so that every element is a new maximum
	// or none is, in both modes.
	for _, n := range []int{7, 8, 9, 17, 64, 1000} {
		row := make([]float32, n)
		for _, base := range []float32{-100, -0.5, 0, 3} {
			for i := range row {
				row[i] = base + float32(i)*0.25
			}
			check(row)
			for i := range row {
				row[i] = base - float32(i)*0.25
			}
			check(row)
		}
	}
}
