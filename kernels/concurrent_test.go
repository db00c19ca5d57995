package kernels_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/softgrad/softgrad/kernels"
)

// concJob is one kernel call on data owned by one goroutine: run writes
// into out (after reset has restored it) and returns the loss, if any.
type concJob struct {
	name     string
	out      []float32
	reset    func()
	run      func() float64
	want     []float32
	wantLoss float64
}

// concJobs returns a call of every kernel of im on fresh data of the given
// shape; each job's buffers belong to it alone.
func concJobs(im *kernels.Impl, sh shape, seed uint64) []*concJob {
	cols, n := sh.cols, sh.rows*sh.cols
	r := newRand(sh, seed)
	x := uniform(r, n, -20, 20)
	dy := uniform(r, n, -1, 1)
	s := make([]float32, n)
	im.Softmax(s, x, cols)
	logp := make([]float32, n)
	im.LogSoftmax(logp, x, cols)
	labels := make([]int32, sh.rows)
	for i := range labels {
		labels[i] = int32(r.IntN(cols))
	}
	labels[1] = kernels.IgnoreLabel
	targets := distributions(r, sh, true, true)

	// Each job gets its own copies of its inputs, too.
	c := slices.Clone[[]float32]
	rowJob := func(name string, run func(out []float32) float64) *concJob {
		out := make([]float32, n)
		j := &concJob{name: name, out: out}
		j.reset = func() { fill(out, sentinel) }
		j.run = func() float64 { return run(out) }
		return j
	}
	gerJob := func(name string, lda int, run func(a []float32)) *concJob {
		a0 := uniform(r, 3*lda, -1, 1)
		a := make([]float32, len(a0))
		j := &concJob{name: name, out: a}
		j.reset = func() { copy(a, a0) }
		j.run = func() float64 { run(a); return 0 }
		return j
	}
	xs, xl, xc, xt, dyb, dyl, ss, lp, tg := c(x), c(x), c(x), c(x), c(dy), c(dy), c(s), c(logp), c(targets)
	gx, gy, bx, by := c(dy[:3]), c(x[:cols]), c(dy[:3*sh.rows]), c(x)
	lx, lw, lb := c(x), c(dy[:3*cols]), c(dy[:3])
	llabels := make([]int32, sh.rows)
	for i := range llabels {
		llabels[i] = int32(i % 3)
	}
	llabels[0] = kernels.IgnoreLabel
	// A layer of cols features and 3 classes over the rows of lx: out holds
	// dw (3×cols), dx (rows×cols) and db (3).
	lout := make([]float32, 3*cols+n+3)
	linearJob := &concJob{name: "LinearCrossEntropy", out: lout}
	linearJob.reset = func() { fill(lout, sentinel) }
	linearJob.run = func() float64 {
		dw, dx, db := lout[:3*cols], lout[3*cols:3*cols+n], lout[3*cols+n:]
		l, err := im.LinearCrossEntropy(dw, db, dx, lx, lw, lb, llabels, cols, 3)
		if err != nil {
			panic(err)
		}
		return l
	}
	return []*concJob{
		rowJob("Softmax", func(out []float32) float64 { im.Softmax(out, xs, cols); return 0 }),
		rowJob("LogSoftmax", func(out []float32) float64 { im.LogSoftmax(out, xl, cols); return 0 }),
		rowJob("SoftmaxBackward", func(out []float32) float64 { im.SoftmaxBackward(out, ss, dyb, cols); return 0 }),
		rowJob("LogSoftmaxBackward", func(out []float32) float64 {
			im.LogSoftmaxBackward(out, lp, dyl, cols)
			return 0
		}),
		rowJob("CrossEntropyGrad", func(out []float32) float64 {
			l, err := im.CrossEntropyGrad(out, xc, labels, cols)
			if err != nil {
				panic(err)
			}
			return l
		}),
		rowJob("CrossEntropyGradSoft", func(out []float32) float64 { return im.CrossEntropyGradSoft(out, xt, tg, cols) }),
		gerJob("Ger", cols+1, func(a []float32) { im.Ger(a, cols+1, -0.5, gx, gy) }),
		// X is rows×3, Y rows×cols: k = rows.
		gerJob("GerBatch", cols, func(a []float32) { im.GerBatch(a, cols, 0.25, bx, 3, by, cols) }),
		// C (3×cols) = 0.5·A·B + C with A 3×rows and B rows×cols.
		gerJob("Gemm", cols, func(a []float32) { im.Gemm(false, false, 3, cols, sh.rows, 0.5, bx, sh.rows, by, cols, 1, a, cols) }),
		// A layer of cols features and 3 classes over the rows of lx: out
		// holds dw (3×cols), dx (rows×cols) and db (3).
		linearJob,
	}
}

// TestConcurrent runs every kernel of every implementation from several
// goroutines at once, each on its own data, and checks that every result
// matches, bit for bit, the one the same call gave when run alone. Run it
// with -race.
func TestConcurrent(t *testing.T) {
	const workers = 4
	iters := 50
	if testing.Short() {
		iters = 10
	}
	shapes := []shape{{3, 7}, {3, 64}, {3, 301}, {3, 1000}}
	type worker struct {
		name string
		jobs []*concJob
	}
	var ws []worker
	for _, im := range implementations(t) {
		for w := range workers {
			sh := shapes[w%len(shapes)]
			jobs := concJobs(im, sh, uint64(w))
			for _, j := range jobs { // the single-threaded results
				j.reset()
				j.wantLoss = j.run()
				j.want = slices.Clone(j.out)
			}
			ws = append(ws, worker{fmt.Sprintf("%s worker %d (%v)", im.Name(), w, sh), jobs})
		}
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for it := range iters {
				for _, j := range w.jobs {
					j.reset()
					loss := j.run()
					if err := sameBits(j.out, j.want); err != nil {
						t.Errorf("%s, iteration %d: %s differs from its single-threaded result: %v", w.name, it, j.name, err)
						return
					}
					if !sameLoss(loss, j.wantLoss) {
						t.Errorf("%s, iteration %d: %s loss %v, single-threaded %v", w.name, it, j.name, loss, j.wantLoss)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
