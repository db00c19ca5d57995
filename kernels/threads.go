package kernels

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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
// shares of whole grains, each run once by the caller or a helper (see
// forGrains): shares are fixed, so a share's work (its packing, its blocks)
// does not depend on who runs it or when. With no helper free, the caller
// runs all the grains as one share.
func forShares[J shareJob](threads, grains int, job J, wake bool) {
	shares := min(threads, grains)
	if shares <= 1 || !withHelpers(shares-1, threads-1, shares, sharesOf[J]{job: job, shares: shares, grains: grains}, wake) {
		job.run(0, grains)
		if shares > 1 {
			ranAlone()
		}
	}
}

// sharesOf is a job's grains grouped into shares, a share per grain.
type sharesOf[J shareJob] struct {
	job            J
	shares, grains int
}

func (s sharesOf[J]) run(lo, hi int) {
	s.job.run(lo*s.grains/s.shares, hi*s.grains/s.shares)
}

// forGrains runs job over the grains [0, grains) on the caller's goroutine
// and up to threads−1 helpers (see withHelpers). With one goroutine, the
// job runs on the caller's as one share and nothing is allocated; with no
// helper free, it runs there too.
func forGrains[J shareJob](threads, grains int, job J, wake bool) {
	split := min(threads, grains) > 1
	if !split || !withHelpers(min(threads, grains)-1, threads-1, grains, job, wake) {
		job.run(0, grains)
		if split {
			ranAlone()
		}
	}
}

// withHelpers runs job over the grains [0, grains) on the caller's
// goroutine and up to n helpers (most in all; see lend), each taking the
// next grain not yet taken until none is left, so that a helper that starts
// late takes fewer, or none (it then touches nothing), and returns true
// when every grain is done. With no helper free it runs nothing and returns
// false.
//
// wake says whether the call is long enough to wait for a sleeping helper
// (some 100 µs on a virtual machine). A shorter call splits only onto
// helpers that are polling, as they are during a run of calls. Finding
// none, it leaves the job to its caller (who calls ranAlone when done) and,
// if the last call left alone ended within helperPoll (a run of calls),
// rouses one for the next: waking a goroutine costs its caller 5–15 µs
// here, which a call made now and then should not pay.
func withHelpers[J shareJob](n, most, grains int, job J, wake bool) bool {
	if (wake || anyPolling()) && runOnHelpers(n, most, grains, job, wake) {
		return true
	}
	if !wake && time.Since(epoch)-time.Duration(aloneEnded.Load()) < time.Duration(helperPoll.Load()) {
		rouse(most)
	}
	return false
}

// runOnHelpers is withHelpers once a helper may be free: it lends the
// grains to up to n helpers and runs them with them, or, if none was free
// after all, returns false having run nothing. (Apart from withHelpers, so
// that a call that finds no helper polling allocates nothing: the task
// lent captures job, which then lives on the heap.)
func runOnHelpers[J shareJob](n, most, grains int, job J, wake bool) bool {
	q := &grainQueue{grains: int64(grains), all: make(chan struct{})}
	if lend(n, most, func() { helperGrains.Add(q.take(job)) }, wake) == 0 {
		return false
	}
	q.take(job)
	awaitDone(&q.done, q.grains, q.all) // the last grains may run elsewhere
	return true
}

var (
	epoch      = time.Now()
	aloneEnded atomic.Int64 // when the last call that found no helper free ended, since epoch
)

// ranAlone records the end of a call that found no helper free.
func ranAlone() { aloneEnded.Store(int64(time.Since(epoch))) }

// grainQueue hands out the grains of a forGrains call.
type grainQueue struct {
	grains     int64
	next, done atomic.Int64
	all        chan struct{} // closed when the last grain is done
}

// take runs grains until none is left and returns how many it ran.
func (q *grainQueue) take(job shareJob) int64 {
	var n int64
	for i := q.next.Add(1) - 1; i < q.grains; i = q.next.Add(1) - 1 {
		job.run(int(i), int(i)+1)
		n++
		if q.done.Add(1) == q.grains {
			close(q.all)
		}
	}
	return n
}

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

// A helper is a goroutine that runs the tasks split calls lend it. After a
// task it polls for the next one for helperPoll, yielding the CPU between
// polls, and then sleeps until a call wakes it: a call that follows another
// within helperPoll (the calls of a training step) finds its helpers
// running, where waking a sleeping goroutine on an idle CPU can take
// 100 µs on a virtual machine (docs/threads.md). Helpers are only started
// when a call wants more than are free, so there are never more than the
// largest Threads()−1 of any call.
type helper struct {
	busy   atomic.Bool            // lent to a call, until its task returns
	task   atomic.Pointer[func()] // the task lent, nil when none
	asleep atomic.Bool            // sleeping on wake
	wake   chan struct{}          // a token for the sleeping helper (capacity 1)
}

// helperGrains counts the grains helpers have run, for tests.
var helperGrains atomic.Int64

// helperPoll is how long a helper polls for a task before it sleeps, in
// nanoseconds: 200 µs. A variable for tests (a run of calls under qemu
// takes longer than that), read atomically by the polling helpers.
var helperPoll = func() *atomic.Int64 {
	var p atomic.Int64
	p.Store(int64(200 * time.Microsecond))
	return &p
}()

var helpers struct {
	mu  sync.Mutex
	all atomic.Pointer[[]*helper] // append-only under mu
}

// lend runs task on up to n helpers and returns how many. With wake, it
// takes free helpers, polling or asleep, and starts new ones while there are
// fewer than most in all (a call's Threads()−1; a call that finds them all
// lent to others runs its grains itself); without, only helpers polling
// now. It does not wait for the tasks.
func lend(n, most int, task func(), wake bool) int {
	lent := 0
	if all := helpers.all.Load(); all != nil {
		for _, h := range *all {
			if lent == n {
				return lent
			}
			if (wake || !h.asleep.Load()) && h.busy.CompareAndSwap(false, true) {
				h.give(&task)
				lent++
			}
		}
	}
	if lent == n || !wake {
		return lent
	}
	helpers.mu.Lock()
	defer helpers.mu.Unlock()
	var all []*helper
	if p := helpers.all.Load(); p != nil {
		all = *p
	}
	for ; lent < n && len(all) < most; lent++ {
		h := &helper{wake: make(chan struct{}, 1)}
		h.busy.Store(true)
		h.task.Store(&task)
		all = append(all, h)
		go h.loop()
	}
	helpers.all.Store(&all)
	return lent
}

// anyPolling reports whether a helper is free and polling now.
func anyPolling() bool {
	if all := helpers.all.Load(); all != nil {
		for _, h := range *all {
			if !h.asleep.Load() && !h.busy.Load() {
				return true
			}
		}
	}
	return false
}

// rouse sets a free helper polling (starting one if there are fewer than
// most), without a task.
func rouse(most int) { lend(1, most, func() {}, true) }

// give hands task to h, lent to the caller, and wakes h if it sleeps.
func (h *helper) give(task *func()) {
	h.task.Store(task)
	if h.asleep.Swap(false) {
		h.wake <- struct{}{}
	}
}

func (h *helper) loop() {
	for {
		t := h.next()
		(*t)()
		h.task.Store(nil)
		h.busy.Store(false)
	}
}

// next returns the next task lent to h, polling for helperPoll and then
// sleeping until give wakes it.
func (h *helper) next() *func() {
	for start := time.Now(); time.Since(start) < time.Duration(helperPoll.Load()); {
		if t := h.task.Load(); t != nil {
			return t
		}
		runtime.Gosched()
	}
	h.asleep.Store(true)
	if t := h.task.Load(); t != nil {
		// Given while falling asleep: if give saw h asleep, its token is
		// on the way and must not wake h later for nothing.
		if !h.asleep.Swap(false) {
			<-h.wake
		}
		return t
	}
	<-h.wake
	return h.task.Load()
}

// helperCount returns how many helpers have been started.
func helperCount() int {
	if p := helpers.all.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// rowSplitElems is the least work of a grain of the row kernels, in
// elements: a call of two grains or more may split (docs/threads.md). A
// variable, so that tests can split small calls.
var rowSplitElems = 1 << 16

// rowWakeElems is the least work, in elements, of a row kernel's call that
// wakes sleeping helpers (see withHelpers); a variable for tests.
var rowWakeElems = 1 << 19

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
	rowsCrossEntropyWith
)

// rowsJob is a call of a row kernel in grains of rows: out is dst, dx or
// grad; in is src, s, logp or logits; in2 is dy or targets.
type rowsJob struct {
	kernel      int
	is          isa
	cols, grain int
	out, in     []float32
	in2         []float32
	labels      []int32
	counted     int // CrossEntropyGrad's rows not ignored
	with        crossEntropyWith
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
	forGrains(threads, grains, j, rows*j.cols >= rowWakeElems)
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
		softmaxBatch(j.is, out, in, cols)
	case rowsLogSoftmax:
		logSoftmaxBatch(j.is, out, in, cols)
	case rowsSoftmaxBackward:
		j.is.softmaxBackward(out, in, j.in2[r0*cols:r1*cols], cols)
	case rowsLogSoftmaxBackward:
		j.is.logSoftmaxBackward(out, in, j.in2[r0*cols:r1*cols], cols)
	case rowsCrossEntropyGrad:
		return crossEntropyGradBatch(j.is, out, in, j.labels[r0:r1], cols, j.counted)
	case rowsCrossEntropyGradSoft:
		return crossEntropyGradSoftBatch(j.is, out, in, j.in2[r0*cols:r1*cols], cols, len(j.in)/cols)
	case rowsCrossEntropyWith:
		var losses []float32
		if j.with.losses != nil {
			losses = j.with.losses[r0:r1]
		}
		return crossEntropyWithBatch(j.is, out, in, j.labels[r0:r1], cols, &j.with, losses)
	}
	return 0
}

// colSumsJob adds the rows of g to db, over grains of columns: each element
// of db receives the rows in their order, however the columns are split.
type colSumsJob struct {
	is          isa
	db, g       []float32
	cols, grain int
}

func (j colSumsJob) run(lo, hi int) {
	c0, c1 := lo*j.grain, min(hi*j.grain, j.cols)
	for r := 0; r < len(j.g); r += j.cols {
		j.is.ger(j.db[c0:c1], c1-c0, 1, linearOne[:], j.g[r+c0:r+c1])
	}
}

// colSumsSplit adds the rows of g (rows of cols) to db on up to threads
// goroutines, grains of columns of at least gerSplitElems elements of g.
func colSumsSplit(is isa, threads int, db, g []float32, cols int) {
	rows := len(g) / cols
	grain := max(1, (gerSplitElems+rows-1)/rows)
	forGrains(threads, (cols+grain-1)/grain, colSumsJob{is: is, db: db, g: g, cols: cols, grain: grain}, true)
}

// gerSplitElems is the least work of a grain of Ger, in elements of A.
var gerSplitElems = 1 << 18

// gerJob is Ger over grains of rows of A.
type gerJob struct {
	is    isa
	a     []float32
	lda   int
	alpha float32
	x, y  []float32
	grain int
}

func (j gerJob) run(lo, hi int) {
	i0, i1 := lo*j.grain, min(hi*j.grain, len(j.x))
	n := len(j.y)
	j.is.ger(j.a[i0*j.lda:(i1-1)*j.lda+n], j.lda, j.alpha, j.x[i0:i1], j.y)
}

// gerSplit is Ger on up to threads goroutines, over rows of A.
func gerSplit(is isa, threads int, a []float32, lda int, alpha float32, x, y []float32) {
	grain := max(1, (gerSplitElems+len(y)-1)/len(y))
	forGrains(threads, (len(x)+grain-1)/grain, gerJob{is: is, a: a, lda: lda, alpha: alpha, x: x, y: y, grain: grain}, true)
}
