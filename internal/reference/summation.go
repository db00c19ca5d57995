package reference

import (
	"fmt"
	"math"
)

// A Reduction is one of the sums a row kernel takes over each row. The
// implementations add the same terms in different orders; SumDepth bounds
// what each order costs, so that tests can hold an implementation to
// generic (or to float64) by the rounding its order allows and no more.
type Reduction int

const (
	// ExpSum is Z = Σ e^(x_i − max) of Softmax, LogSoftmax and
	// CrossEntropyGrad.
	ExpSum Reduction = iota
	// RowSum is Σ dy (LogSoftmaxBackward) or ⟨s, dy⟩ (SoftmaxBackward).
	RowSum
	// SoftSums are CrossEntropyGradSoft's Z, Σ t and Σ t·(x − max), taken in
	// one sweep.
	SoftSums
)

// lanes is the float32 lanes of each SIMD implementation's vectors.
var lanes = map[string]int{"avx512": 16, "avx2": 8, "neon": 4}

// expSumAccs is the float32 accumulators of each SIMD implementation's
// ExpSum main loop.
var expSumAccs = map[string]int{"avx512": 2, "avx2": 2, "neon": 4}

// sumBlock is the elements a SIMD sum adds in float32 before it folds its
// accumulators into float64 (sumBlock in kernels/asm_gen/softmax.go).
const sumBlock = 256

// SumDepth bounds the rounding error of the reduction r over a row of n
// terms as the implementation impl computes it, in units of 2⁻²⁴·Σ|terms|:
// the computed sum is within SumDepth·2⁻²⁴·Σ|t_i| of the exact Σ t_i (to
// first order, which the tests' slack covers). It panics for an unknown
// implementation.
//
// A sum that adds terms into accumulators and then adds the accumulators
// together errs by at most 2⁻²⁴·Σ_i |t_i|·d_i, where d_i is the number of
// float32 roundings on the way of t_i to the result, its depth; SumDepth is
// the largest depth. Additions in float64 cost 2⁻⁵³ each, n·2⁻²⁹ in all at
// most in these units.
//
// generic (kernels/generic.go, sum and dot) adds the terms in pairs in
// float32 and the pairs in float64: depth 1, and 2 where the terms are
// products rounded to float32 (⟨s, dy⟩, Σ t·(x − max)).
//
// The SIMD implementations (kernels/asm_gen) add vectors of L lanes into
// float32 accumulator vectors, lane by lane, in blocks of 256 elements, at
// the end of which the lanes are converted to float64 (exactly) and added
// there. Within a block a lane's accumulator 0 receives at most its share
// of the main loop (4 vectors an iteration), the other accumulators added
// into it, up to 3 single vectors and a part vector:
//
//   - ExpSum: vector k of an iteration to accumulator k mod A (A = 2 on
//     AVX-512 and AVX2, 4 on NEON, whose 4 lanes make 64 vectors of a
//     block), so a share of 256/(A·L) terms, then log₂ A additions of the
//     other accumulators and 4 vectors: 256/(A·L) + log₂ A + 4. Groups of
//     short rows (AVX-512 and AVX2, up to 16 columns) are summed across
//     their columns instead: a tree of depth ⌈log₂ n⌉ on AVX-512; on AVX2
//     a tree up to 8 columns and two accumulators above (⌈n/2⌉ + 1).
//   - RowSum: vector k to accumulator k of 4, combined in two levels:
//     256/(4L) + 2 + 4, and 1 more for the part vector's products, which
//     are rounded (the others are fused into the additions).
//   - SoftSums: one accumulator: 256/L + 1, and 1 more for the rounded
//     products.
//
// A lane never receives more than ⌈min(n, 256)/L⌉ of a block's terms, which
// bounds short rows more tightly.
func SumDepth(impl string, r Reduction, n int) float64 {
	float64s := float64(n) * 0x1p-29
	if impl == "generic" {
		if r == ExpSum {
			return 1 + float64s
		}
		return 2 + float64s
	}
	L, ok := lanes[impl]
	if !ok {
		panic(fmt.Sprintf("reference: SumDepth: no summation known for implementation %q", impl))
	}
	perLane := (min(n, sumBlock) + L - 1) / L
	var depth int
	switch r {
	case ExpSum:
		A := expSumAccs[impl]
		depth = min(sumBlock/(A*L)+bitsFor(A)+4, perLane+bitsFor(A))
		if n <= 16 {
			switch impl {
			case "avx512":
				depth = max(depth, bitsFor(n))
			case "avx2":
				if n <= 8 {
					depth = max(depth, bitsFor(n))
				} else {
					depth = max(depth, (n+1)/2+1)
				}
			}
		}
	case RowSum:
		depth = min(sumBlock/(4*L)+7, perLane+3)
	case SoftSums:
		depth = min(sumBlock/L+2, perLane+1)
	default:
		panic(fmt.Sprintf("reference: SumDepth: unknown reduction %d", r))
	}
	return float64(depth) + float64s
}

// bitsFor returns ⌈log₂ n⌉ for n ≥ 1: the depth of a pairwise tree over n
// terms.
func bitsFor(n int) int { return int(math.Ceil(math.Log2(float64(n)))) }
