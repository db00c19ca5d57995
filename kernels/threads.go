package kernels

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
)

// ThreadsEnvVar is the environment variable that sets how many goroutines
// a call may split into, for every implementation whose WithThreads was not
// called. It is read once, when the program starts; a value that is not a
// whole number from 1 to MaxThreads stops the program then, with a message.
const ThreadsEnvVar = "SOFTGRAD_THREADS"

// MaxThreads is the most goroutines a call splits into.
const MaxThreads = 1024

var envThreads = readThreadsEnv()

// readThreadsEnv returns SOFTGRAD_THREADS, or 0 when it is unset or empty.
func readThreadsEnv() int {
	v, ok := os.LookupEnv(ThreadsEnvVar)
	if !ok || v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxThreads {
		fmt.Fprintf(os.Stderr, "softgrad: %s=%q cannot be used: want a whole number of goroutines from 1 to %d (1: every call on its caller's goroutine)\n",
			ThreadsEnvVar, v, MaxThreads)
		os.Exit(2)
	}
	return n
}

// Threads returns the most goroutines a call of im splits into: the number
// given to WithThreads, or else SOFTGRAD_THREADS, or else
// runtime.GOMAXPROCS(0) at the time of the call.
func (im *Impl) Threads() int {
	switch {
	case im.threads > 0:
		return im.threads
	case envThreads > 0:
		return envThreads
	}
	return runtime.GOMAXPROCS(0)
}

// WithThreads returns im with calls split into at most n goroutines (1: every
// call runs on its caller's goroutine, as a trainer that already runs a
// worker per core wants); n = 0 restores the default of [Impl.Threads]. n
// above MaxThreads counts as MaxThreads. It panics if n < 0.
//
// Results do not depend on n: a call is split over rows or over tiles of
// its output, never over a dimension that is summed, and a sum over rows
// (a loss) is folded from fixed blocks of rows in their order.
func (im *Impl) WithThreads(n int) *Impl {
	if n < 0 {
		panic("kernels: WithThreads: n < 0")
	}
	c := *im
	c.threads = min(n, MaxThreads)
	return &c
}

// shareJob is a kernel call cut into grains: run computes the grains
// [lo, hi). Jobs are passed by value, so that a call that does not split
// allocates nothing.
type shareJob interface{ run(lo, hi int) }

// forShares runs job over the grains [0, grains) cut into at most threads
// shares of whole grains: one goroutine started for each share but the
// last, which the caller runs, and returns when all are done. A share whose
// goroutine has not started by the time the caller is done with its own
// (on a virtual machine, waking an idle CPU can take 100 µs) is run by the
// caller instead; the goroutine then finds it taken and ends. With one
// share, the job runs on the caller's goroutine and nothing is allocated.
//
// A pool of long-lived workers woken through channels measured no
// consistent gain over goroutines started per call (docs/threads.md).
func forShares[J shareJob](threads, grains int, job J) {
	shares := min(threads, grains)
	if shares <= 1 {
		job.run(0, grains)
		return
	}
	q := &shareQueue{shares: shares, grains: grains, taken: make([]atomic.Bool, shares), all: make(chan struct{})}
	for s := range shares - 1 {
		go q.run(job, s)
	}
	for s := shares - 1; s >= 0; s-- {
		q.run(job, s)
	}
	q.wait()
}

// shareQueue hands out the shares of a forShares call, each once.
type shareQueue struct {
	shares, grains int
	taken          []atomic.Bool
	done           atomic.Int64
	all            chan struct{} // closed when the last share is done
}

func (q *shareQueue) run(job shareJob, s int) {
	if q.taken[s].Swap(true) {
		return
	}
	job.run(s*q.grains/q.shares, (s+1)*q.grains/q.shares)
	if q.done.Add(1) == int64(q.shares) {
		close(q.all)
	}
}

func (q *shareQueue) wait() { awaitDone(&q.done, int64(q.shares), q.all) }

// awaitDone returns when done reaches n, which closes all: it yields a
// while first (the other goroutines' last share or grain is usually about
// to end, and waking from a channel can take tens of µs on a virtual
// machine), then sleeps on all rather than keep a CPU busy.
func awaitDone(done *atomic.Int64, n int64, all chan struct{}) {
	for range awaitSpins {
		if done.Load() >= n {
			return
		}
		runtime.Gosched()
	}
	<-all
}

// awaitSpins is how many times awaitDone yields before it sleeps: some
// 30 µs where nothing else waits for the CPU.
const awaitSpins = 500

// forGrains runs job over the grains [0, grains) on the caller's goroutine
// and up to threads−1 others, each taking the next grain not yet taken
// until none is left, so that a goroutine that starts late takes fewer, or
// none (it then touches nothing and ends). With one goroutine, the job runs
// on the caller's as one share and nothing is allocated.
func forGrains[J shareJob](threads, grains int, job J) {
	if min(threads, grains) <= 1 {
		job.run(0, grains)
		return
	}
	q := &grainQueue{grains: int64(grains), all: make(chan struct{})}
	for range min(threads, grains) - 1 {
		go q.take(job)
	}
	q.take(job)
	awaitDone(&q.done, q.grains, q.all) // the last grains may run elsewhere
}

// grainQueue hands out the grains of a forGrains call.
type grainQueue struct {
	grains     int64
	next, done atomic.Int64
	all        chan struct{} // closed when the last grain is done
}

func (q *grainQueue) take(job shareJob) {
	for i := q.next.Add(1) - 1; i < q.grains; i = q.next.Add(1) - 1 {
		job.run(int(i), int(i)+1)
		if q.done.Add(1) == q.grains {
			close(q.all)
		}
	}
}

// rowSplitElems is the least work of a grain of the row kernels, in
// elements: a call of two grains or more may split (docs/threads.md). A
// variable, so that tests can split small calls.
var rowSplitElems = 1 << 18

// rowGrain returns the rows of a grain for rows of cols: whole blocks of
// rowsPerBlock(cols) rows (so that a grain's blocks are those of the whole
// call, and so are the groups of short rows within them), at least
// rowSplitElems elements.
func rowGrain(cols int) int {
	if cols > twoPassCols {
		return 1
	}
	b := rowsPerBlock(cols)
	return b * max(1, (rowSplitElems+b*cols-1)/(b*cols))
}

// The row kernels that rowsJob runs.
const (
	rowsSoftmax = iota
	rowsLogSoftmax
	rowsSoftmaxBackward
	rowsLogSoftmaxBackward
	rowsCrossEntropyGrad
	rowsCrossEntropyGradSoft
)

// rowsJob is a call of a row kernel in grains of rows: out is dst, dx or
// grad; in is src, s, logp or logits; in2 is dy or targets.
type rowsJob struct {
	kernel      int
	k           isa
	cols, grain int
	out, in     []float32
	in2         []float32
	labels      []int32
	counted     int       // CrossEntropyGrad's rows not ignored
	losses      []float64 // each grain's loss, when split
}

// split runs the job on up to threads goroutines and returns the sum of
// its grains' losses (the loss kernels), added in the grains' order
// whatever the split.
func (j rowsJob) split(threads int) float64 {
	rows := len(j.in) / j.cols
	j.grain = rowGrain(j.cols)
	grains := (rows + j.grain - 1) / j.grain
	var sum float64
	if threads < 2 || grains < 2 {
		for g := range grains {
			sum += j.grainLoss(g)
		}
		return sum
	}
	if j.kernel >= rowsCrossEntropyGrad {
		j.losses = make([]float64, grains)
	}
	forGrains(threads, grains, j)
	for _, l := range j.losses {
		sum += l
	}
	return sum
}

func (j rowsJob) run(lo, hi int) {
	for g := lo; g < hi; g++ {
		l := j.grainLoss(g)
		if j.losses != nil {
			j.losses[g] = l
		}
	}
}

// grainLoss runs grain g and returns its loss (0 for the kernels without).
func (j rowsJob) grainLoss(g int) float64 {
	cols := j.cols
	r0 := g * j.grain
	r1 := min(r0+j.grain, len(j.in)/cols)
	out, in := j.out[r0*cols:r1*cols], j.in[r0*cols:r1*cols]
	switch j.kernel {
	case rowsSoftmax:
		softmaxBatch(j.k, out, in, cols)
	case rowsLogSoftmax:
		logSoftmaxBatch(j.k, out, in, cols)
	case rowsSoftmaxBackward:
		j.k.softmaxBackward(out, in, j.in2[r0*cols:r1*cols], cols)
	case rowsLogSoftmaxBackward:
		j.k.logSoftmaxBackward(out, in, j.in2[r0*cols:r1*cols], cols)
	case rowsCrossEntropyGrad:
		return crossEntropyGradBatch(j.k, out, in, j.labels[r0:r1], cols, j.counted)
	case rowsCrossEntropyGradSoft:
		return crossEntropyGradSoftBatch(j.k, out, in, j.in2[r0*cols:r1*cols], cols, len(j.in)/cols)
	}
	return 0
}

// colSumsJob adds the rows of g to db, over grains of columns: each element
// of db receives the rows in their order, however the columns are split.
type colSumsJob struct {
	k           isa
	db, g       []float32
	cols, grain int
}

func (j colSumsJob) run(lo, hi int) {
	c0, c1 := lo*j.grain, min(hi*j.grain, j.cols)
	for r := 0; r < len(j.g); r += j.cols {
		j.k.ger(j.db[c0:c1], c1-c0, 1, linearOne[:], j.g[r+c0:r+c1])
	}
}

// colSumsSplit adds the rows of g (rows of cols) to db on up to threads
// goroutines, grains of columns of at least gerSplitElems elements of g.
func colSumsSplit(k isa, threads int, db, g []float32, cols int) {
	rows := len(g) / cols
	grain := max(1, (gerSplitElems+rows-1)/rows)
	forGrains(threads, (cols+grain-1)/grain, colSumsJob{k: k, db: db, g: g, cols: cols, grain: grain})
}

// gerSplitElems is the least work of a grain of Ger, in elements of A.
var gerSplitElems = 1 << 18

// gerJob is Ger over grains of rows of A.
type gerJob struct {
	k     isa
	a     []float32
	lda   int
	alpha float32
	x, y  []float32
	grain int
}

func (j gerJob) run(lo, hi int) {
	i0, i1 := lo*j.grain, min(hi*j.grain, len(j.x))
	n := len(j.y)
	j.k.ger(j.a[i0*j.lda:(i1-1)*j.lda+n], j.lda, j.alpha, j.x[i0:i1], j.y)
}

// gerSplit is Ger on up to threads goroutines, over rows of A.
func gerSplit(k isa, threads int, a []float32, lda int, alpha float32, x, y []float32) {
	grain := max(1, (gerSplitElems+len(y)-1)/len(y))
	forGrains(threads, (len(x)+grain-1)/grain, gerJob{k: k, a: a, lda: lda, alpha: alpha, x: x, y: y, grain: grain})
}
