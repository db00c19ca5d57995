// Package accuracy measures an implementation of package kernels against
// exact arithmetic, through the package's public API only, and checks the
// bounds its documentation states: exp within [ExpMaxULP] ULP of the
// correctly rounded result on [[ExpMin], 0], softmax and cross-entropy
// within the bounds of internal/reference against a float64 computation on
// random and adversarial rows ([Groups]), and every implementation close to
// generic ([Agree]). `softgrad check` prints what it measures.
//
// The package has no exp of its own to call: [Exp] reads an
// implementation's exp off LogSoftmaxBackward, whose dx_i = dy_i −
// e^logp_i·Σdy is exactly e^logp_i when dy is zero but for one −1.
package accuracy

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/softgrad/softgrad/internal/reference"
	"github.com/softgrad/softgrad/kernels"
)

// The exp contract of the kernels documentation.
const (
	// ExpMin is the smallest argument of the exp domain, −87.33654: below
	// it e^x is subnormal in float32 and the kernels' exp gives exactly +0.
	ExpMin = -0x1.5D589Ep6
	// ExpMaxULP is the largest error of exp on [ExpMin, 0], in ULP of the
	// correctly rounded result.
	ExpMaxULP = 2
	// ExpSampleStride is the stride, in float32 values, of the default
	// (sampled) exp measurement: a prime, so that the samples fall on every
	// pattern of low mantissa bits.
	ExpSampleStride = 97
)

// Impl is the part of a *kernels.Impl that the measurements call; tests
// substitute implementations with known errors.
type Impl interface {
	Softmax(dst, src []float32, cols int)
	CrossEntropyGrad(grad, logits []float32, labels []int32, cols int) (loss float64, err error)
	LogSoftmaxBackward(dx, logp, dy []float32, cols int)
}

var _ Impl = (*kernels.Impl)(nil)

// ExpStats is the result of [Exp].
type ExpStats struct {
	Stride uint32  // every Stride-th float32 of the domain was measured
	Inputs int64   // the number of arguments in [ExpMin, 0] measured
	MaxULP uint32  // the largest error, in ULP of the correctly rounded e^x
	WorstX float32 // an argument with that error
	// Err reports the first missed bound: an error above ExpMaxULP, or an
	// argument below ExpMin (or −Inf) whose result is not +0.
	Err error
}

// ExpInputs returns how many float32 arguments lie in [ExpMin, 0] (−0 and
// +0 counted once).
func ExpInputs() int64 { return int64(math.Float32bits(ExpMin)-0x80000000) + 1 }

// expBatch is the number of arguments measured per LogSoftmaxBackward call.
const expBatch = 4096

// Exp measures im's exp on every stride-th float32 in [ExpMin, 0], from −0
// downwards in magnitude, against float32(math.Exp(float64(x))), the
// correctly rounded e^x (math.Exp's float64 result is far more accurate than
// float32's rounding). Stride 1 is every one of the 1.1·10⁹ arguments (under
// a minute per implementation on 2 cores). It also checks that arguments
// below ExpMin give exactly +0. The work is split among GOMAXPROCS
// goroutines; progress, if not nil, is called from them with the number of
// arguments each batch has just finished.
func Exp(im Impl, stride uint32, progress func(n int64)) ExpStats {
	stride = max(stride, 1)
	first, last := uint32(0x80000000), math.Float32bits(ExpMin) // −0, ExpMin
	count := (int64(last-first))/int64(stride) + 1
	workers := int64(runtime.GOMAXPROCS(0))
	per := (count + workers - 1) / workers
	type part struct {
		n      int64
		worst  uint32
		worstX float32
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, count) // sample indices
		wg.Go(func() {
			p := &parts[w]
			logp := make([]float32, expBatch+1)
			dy := make([]float32, expBatch+1)
			dx := make([]float32, expBatch+1)
			for i := lo; i < hi; i += expBatch {
				n := int(min(hi-i, expBatch))
				for j := range n {
					logp[j] = math.Float32frombits(first + uint32(i+int64(j))*stride)
					dy[j] = 0
				}
				logp[n], dy[n] = 0, -1 // Σ dy = −1, so dx_j = e^logp_j exactly
				im.LogSoftmaxBackward(dx[:n+1], logp[:n+1], dy[:n+1], n+1)
				for j, x := range logp[:n] {
					if d := reference.ULPDiff(dx[j], float32(math.Exp(float64(x)))); d > p.worst {
						p.worst, p.worstX = d, x
					}
				}
				p.n += int64(n)
				if progress != nil {
					progress(int64(n))
				}
			}
		})
	}
	wg.Wait()
	st := ExpStats{Stride: stride, WorstX: float32(math.Copysign(0, -1))}
	for _, p := range parts {
		st.Inputs += p.n
		if p.worst > st.MaxULP {
			st.MaxULP, st.WorstX = p.worst, p.worstX
		}
	}
	if st.MaxULP > ExpMaxULP {
		st.Err = fmt.Errorf("exp(%g) is %d ULP from the correctly rounded result, above the bound of %d",
			st.WorstX, st.MaxULP, ExpMaxULP)
	}
	if err := expFlush(im); err != nil && st.Err == nil {
		st.Err = err
	}
	return st
}

// expFlush checks that arguments below ExpMin give exactly +0.
func expFlush(im Impl) error {
	below := []float32{
		math.Nextafter32(ExpMin, float32(math.Inf(-1))), -87.5, -88, -100, -1000,
		-math.MaxFloat32, float32(math.Inf(-1)),
	}
	n := len(below)
	logp := append(below, 0)
	dy := make([]float32, n+1)
	dy[n] = -1
	dx := make([]float32, n+1)
	im.LogSoftmaxBackward(dx, logp, dy, n+1)
	for i, x := range below {
		if dx[i] != 0 || math.Signbit(float64(dx[i])) {
			return fmt.Errorf("exp(%g) = %g, want +0 below %g", x, dx[i], float32(ExpMin))
		}
	}
	return nil
}
