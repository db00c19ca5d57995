//go:build linux || darwin || freebsd

package kernels_test

// Guard-page tests: no implementation in kernels.Available() may read or
// write a single byte outside the slices it is given.
//
// Every slice argument lives in its own anonymous mapping laid out as
//
//	[PROT_NONE page][read-write pages][PROT_NONE page]
//
// so an access just past the end of a slice that ends at the last read-write
// byte, or just before the start of a slice that starts at the first one,
// faults. debug.SetPanicOnFault turns the fault into a panic that the harness
// recovers; the failure names the implementation, the kernel, the shape, the
// placement and alignment of every slice, and which byte of which guard page
// was touched.
//
// Kernels: Softmax and LogSoftmax (out of place and in place),
// SoftmaxBackward and LogSoftmaxBackward (out of place, dx = s/logp, dx = dy),
// CrossEntropyGrad (out of place and in place, labels guarded too, about one
// row in four IgnoreLabel, all-ignored batches included; and with a bad label,
// which must return a *LabelError and leave grad untouched),
// CrossEntropyGradWith with weights, label smoothing, the z-loss and row
// losses (out of place and in place, every slice guarded),
// CrossEntropyGradSoft (out of place and in place), Ger and GerBatch (a, x, y
// guarded). Every implementation in kernels.Available() runs the whole sweep
// in its own subtest, and every SIMD implementation's results are also held
// to generic's (compareGeneric), which the table tests hold to the float64
// reference: a kernel wrong on a shape no table covers fails here too.
//
// Coverage design. A page boundary is 4096-byte (so 64-byte) aligned, hence a
// slice of L float32s that ends exactly at a guard page starts at float32
// alignment (−L) mod 16 (the alignment is the float32 index of the start
// address mod 64 bytes): with the end pinned, the start alignment is fixed by
// the length, and for a row of cols = 16 it is 0 whatever the row count. No
// single placement can therefore give every (length, alignment) pair a flush
// end, so each shape runs in four placements:
//
//   - end: every slice ends exactly at its trailing guard page. The sweep
//     runs rows = 1 … 3+15 for every cols, i.e. the 1 … 3 rows swept in every
//     placement with 0 … 15 extra leading rows, so the start alignment of a flush-ended
//     slice, −rows·cols mod 16, takes every value that any row count can give
//     it (all 16 for odd cols). For Ger/GerBatch the leading elements come
//     from the row stride: lda = n + 0 … 15 moves the start of a.
//   - start: every slice starts exactly after its leading guard page
//     (alignment 0): catches reads and writes before the start.
//   - align-end(a), a = 0 … 15: slice k starts at alignment (a+5k) mod 16
//     (skewed so the arguments of one call are mutually misaligned too) and
//     ends less than 16 elements (64 bytes) before its trailing guard page.
//   - align-start(a), a = 0 … 15: slice k starts (a+5k) mod 16 elements after
//     its leading guard page.
//
// So every kernel, every cols 0 … 64 (Ger/GerBatch: n 0 … 64) and every row
// count 1 … 3 (m, k 0 … 3) runs at every start alignment 0 … 15, with the end
// flush against a guard wherever the length allows it and within 64 bytes of
// one otherwise. The cells between a slice and its guards (and 32 words on
// the other side) hold a canary, a signalling NaN, checked after each call:
// that catches a write outside the slice at any distance up to 128 bytes,
// page boundary or not. A read of such a cell that influences the result
// shows up in the bit-for-bit comparison below, because the reference copy is
// surrounded by a different (finite, huge) value. (A read that stays inside
// the slice's own page and is then discarded cannot be seen by any guard;
// the flush placements are what bound those.)
//
// Results. Each call is first made on ordinary Go slices holding the same
// inputs at the same alignment mod 64 (so an implementation whose blocking
// depends on alignment still has to agree bit for bit), then on the guarded
// slices. Every guarded argument must equal the reference bit for bit, the
// loss and error must match, inputs must be unchanged, and the reference must
// show the work done: pure outputs (filled with a sentinel NaN first) are
// overwritten in full, in-place outputs change in every element (their
// inputs are drawn from ranges the outputs cannot take), Ger/GerBatch change
// every element of the m×n matrix and none of the lda−n padding elements
// between its rows. A no-op or partial kernel cannot pass. A coverage
// self-check at the end of each kernel confirms that every argument started
// at all 16 alignments for every cols 1 … 64, and ended flush at a guard at
// every alignment the design above promises.
//
// -short keeps every kernel, cols 0 … 64 and all 16 alignments, but uses 5
// instead of 15 extra leading rows, lda = n + {0,1,3,6} instead of n + 0 … 15,
// and runs each (cols, alignment) of the align placements with one row count
// (m, k) instead of all three, rotating through 1 … 3.

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/softgrad/softgrad/kernels"
)

// guardedAlloc is one mapping: a PROT_NONE page, read-write pages, a
// PROT_NONE page. Its slices lie in the read-write part, so touching the
// byte after the last read-write byte or before the first one faults.
type guardedAlloc struct {
	mem  []byte // the whole mapping, guard pages included
	data []byte // the read-write pages between the guards
}

// newGuardedAlloc maps enough read-write pages for minBytes between two
// guard pages; the mapping is unmapped when the test ends.
func newGuardedAlloc(tb testing.TB, minBytes int) *guardedAlloc {
	tb.Helper()
	page := unix.Getpagesize()
	pages := max(1, (minBytes+page-1)/page)
	mem, err := unix.Mmap(-1, 0, (pages+2)*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		tb.Fatalf("mmap %d pages: %v", pages+2, err)
	}
	tb.Cleanup(func() {
		if err := unix.Munmap(mem); err != nil {
			tb.Errorf("munmap: %v", err)
		}
	})
	for _, guard := range [][]byte{mem[:page], mem[len(mem)-page:]} {
		if err := unix.Mprotect(guard, unix.PROT_NONE); err != nil {
			tb.Fatalf("mprotect guard page: %v", err)
		}
	}
	return &guardedAlloc{mem: mem, data: mem[page : len(mem)-page]}
}

// words returns the number of 4-byte words between the guard pages.
func (g *guardedAlloc) words() int { return len(g.data) / 4 }

// at returns n words starting off words after the leading guard page, with
// cap n. An empty result still points at that address.
func (g *guardedAlloc) at(off, n int) []uint32 {
	if off < 0 || n < 0 || off+n > g.words() {
		panic(fmt.Sprintf("guardedAlloc.at(%d, %d) outside %d words", off, n, g.words()))
	}
	return unsafe.Slice((*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(g.data)), 4*off)), n)
}

// atEnd returns n words whose last one ends exactly at the trailing guard
// page.
func (g *guardedAlloc) atEnd(n int) []uint32 { return g.at(g.words()-n, n) }

// atStart returns n words whose first one starts exactly after the leading
// guard page.
func (g *guardedAlloc) atStart(n int) []uint32 { return g.at(0, n) }

// contains reports whether addr lies in the mapping (guards included).
func (g *guardedAlloc) contains(addr uintptr) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(g.mem)))
	return addr >= base && addr < base+uintptr(len(g.mem))
}

// asF32 and asI32 view words as float32 or int32 elements (same memory).
func asF32(w []uint32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
}

func asI32(w []uint32) []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
}

func addrOf(w []uint32) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(w))) }

const (
	gMaxCols      = 64
	gMaxArgs      = 7  // slice arguments of a call (LinearCrossEntropy's)
	gMaxRows      = 3  // rows (and m, k) swept in every placement
	gExtraRows    = 15 // extra leading rows of the end placement
	gWindow       = 32 // canary words checked on each side of a slice
	gMaxWords     = (gMaxRows+gExtraRows)*gMaxCols + 64
	gCanary       = uint32(0x7FA5A5A5) // around guarded slices: a signalling NaN
	gSentinel     = uint32(0x7FBADBAD) // pure outputs before the call: another one
	gMaxFailures  = 20                 // per kernel, then the kernel's subtest stops
	gAlignSkew    = 5                  // slice k of a call is at alignment (a + 5k) mod 16
	gAlignModulus = 16                 // float32 slots in 64 bytes
)

var gRefPoison = math.Float32bits(3e38) // around the reference copies: finite, ≠ canary

// wantKind says what a call must do to one element of one argument.
type wantKind uint8

const (
	wantAny    wantKind = iota // no check
	wantKeep                   // input, or an element the call must not write
	wantChange                 // output: must be overwritten (bits ≠ the initial ones)
)

// gbuf describes one slice argument.
type gbuf struct {
	name string
	n    int
	init func(i int) uint32   // bits of element i before the call
	want func(i int) wantKind // nil: wantAny
}

// gview is one argument as the kernel sees it.
type gview struct {
	f []float32
	l []int32
}

// gcall is one kernel call: its arguments and how to make it.
type gcall struct {
	kernel  string
	shape   string
	cols    int // cols (n for Ger/GerBatch): the key of the coverage self-check
	bufs    []gbuf
	wantErr bool // a *kernels.LabelError is expected
	run     func(im *kernels.Impl, v []gview) (loss float64, err error)
}

type placeKind uint8

const (
	placeEnd        placeKind = iota // every slice ends exactly at its trailing guard page
	placeStart                       // every slice starts exactly after its leading guard page
	placeAlignEnd                    // slice k at alignment (a+5k)%16, < 16 words before the trailing guard
	placeAlignStart                  // slice k (a+5k)%16 words after the leading guard
)

var placeNames = [...]string{"end", "start", "align-end", "align-start"}

type placement struct {
	kind  placeKind
	align int
}

func (p placement) String() string {
	if p.kind == placeAlignEnd || p.kind == placeAlignStart {
		return fmt.Sprintf("%s(%d)", placeNames[p.kind], p.align)
	}
	return placeNames[p.kind]
}

// offset returns where slice k of n words goes in an allocation of total
// words (total is a multiple of 16, as a page is).
func (p placement) offset(k, n, total int) int {
	a := (p.align + gAlignSkew*k) % gAlignModulus
	switch p.kind {
	case placeEnd:
		return total - n
	case placeStart:
		return 0
	case placeAlignEnd:
		gap := ((-n-a)%gAlignModulus + gAlignModulus) % gAlignModulus
		return total - n - gap
	default:
		return a
	}
}

// guardHarness runs calls of one implementation on guarded memory.
type guardHarness struct {
	t      *testing.T
	im     *kernels.Impl
	allocs []*guardedAlloc // one per argument position
	refs   [][]uint32      // Go-heap backing of the reference copies, one per argument position
	inits  [][]uint32      // the initial bits of each argument, one per argument position
	seed   uint64
	calls  int
	faults int
	fails  int
	byKind [len(placeNames)]int
	short  bool // -short: the align placements rotate through the row counts
	// cov[k][cols] collects the start alignments argument k was seen at,
	// for the coverage self-check; ends[k][cols] the flush-end ones.
	cov, ends [gMaxArgs][gMaxCols + 1]uint16
}

func newGuardHarness(t *testing.T, im *kernels.Impl) *guardHarness {
	h := &guardHarness{t: t, im: im}
	for range gMaxArgs {
		h.allocs = append(h.allocs, newGuardedAlloc(t, 4*gMaxWords))
		h.refs = append(h.refs, make([]uint32, gMaxWords+2*gWindow+gAlignModulus))
		h.inits = append(h.inits, make([]uint32, gMaxWords))
	}
	return h
}

func (h *guardHarness) nextSeed() uint64 { h.seed++; return h.seed }

// refSlice returns n words of Go heap for argument k at float32 alignment a
// mod 64 bytes, surrounded by gWindow poison words on each side.
func (h *guardHarness) refSlice(k, a, n int) []uint32 {
	b := h.refs[k]
	at := addrOf(b) + 4*gWindow
	base := gWindow + int((uintptr(4*a)-at%64)%64)/4
	for i := base - gWindow; i < base+n+gWindow; i++ {
		b[i] = gRefPoison
	}
	return b[base : base+n : base+n]
}

// protect runs f, turning a panic (a fault, with SetPanicOnFault) into a value.
func protect(f func() (float64, error)) (loss float64, err error, pv any, stack []byte) {
	defer func() {
		if r := recover(); r != nil {
			pv, stack = r, debug.Stack()
		}
	}()
	loss, err = f()
	return loss, err, nil, nil
}

func views(w [][]uint32) []gview {
	v := make([]gview, len(w))
	for k := range w {
		v[k] = gview{f: asF32(w[k]), l: asI32(w[k])}
	}
	return v
}

// run makes call c on Go slices and then on guarded slices placed by p, and
// checks the guarded call against the reference.
func (h *guardHarness) run(c gcall, p placement) {
	h.calls++
	h.byKind[p.kind]++
	nb := len(c.bufs)
	g := make([][]uint32, nb)
	r := make([][]uint32, nb)
	offs := make([]int, nb)
	for k, b := range c.bufs {
		al := h.allocs[k]
		total := al.words()
		off := p.offset(k, b.n, total)
		offs[k] = off
		switch p.kind {
		case placeEnd:
			g[k] = al.atEnd(b.n)
		case placeStart:
			g[k] = al.atStart(b.n)
		default:
			g[k] = al.at(off, b.n)
		}
		w := al.at(0, total)
		for i := max(0, off-gWindow); i < off; i++ {
			w[i] = gCanary
		}
		for i := off + b.n; i < min(total, off+b.n+gWindow); i++ {
			w[i] = gCanary
		}
		r[k] = h.refSlice(k, off%gAlignModulus, b.n)
		init := h.inits[k][:b.n]
		for i := range init {
			init[i] = b.init(i)
		}
		copy(g[k], init)
		copy(r[k], init)
		if b.n > 0 {
			h.cov[k][c.cols] |= 1 << (off % gAlignModulus)
			if p.kind == placeEnd {
				h.ends[k][c.cols] |= 1 << (off % gAlignModulus)
			}
		}
	}
	where := func() string { return h.describe(c, p, offs) }

	refLoss, refErr, pv, stack := protect(func() (float64, error) { return c.run(h.im, views(r)) })
	if pv != nil {
		h.failf("%s: panicked on ordinary Go slices: %v\n%s", where(), pv, trimStack(stack))
		return
	}
	loss, err, pv, stack := protect(func() (float64, error) { return c.run(h.im, views(g)) })
	if pv != nil {
		h.faults++
		h.failf("%s: %s\n%s", where(), h.explainPanic(pv, c, g), trimStack(stack))
		return
	}

	// Writes outside the slices: the canaries around the guarded slices,
	// the poison around the reference copies.
	for k, b := range c.bufs {
		w := h.allocs[k].at(0, h.allocs[k].words())
		off := offs[k]
		for i := max(0, off-gWindow); i < min(len(w), off+b.n+gWindow); i++ {
			if i >= off && i < off+b.n {
				continue
			}
			if w[i] != gCanary {
				h.failf("%s: wrote outside %s: element %d (%s) holds %#08x, was canary %#08x",
					where(), b.name, i-off, relPos(i-off, b.n), w[i], gCanary)
				return
			}
		}
		base := h.refs[k]
		start := int((addrOf(r[k]) - addrOf(base)) / 4)
		if b.n == 0 {
			continue // an empty reference slice may not point into base at its offset
		}
		for i := start - gWindow; i < start+b.n+gWindow; i++ {
			if (i < start || i >= start+b.n) && base[i] != gRefPoison {
				h.failf("%s: on ordinary Go slices, wrote outside %s: element %d (%s)",
					where(), b.name, i-start, relPos(i-start, b.n))
				return
			}
		}
	}

	// Same results, bit for bit; and the reference really did the work.
	for k, b := range c.bufs {
		init := h.inits[k][:b.n]
		for i := range b.n {
			if g[k][i] != r[k][i] {
				h.failf("%s: %s[%d] = %#08x (%g) on guarded memory, %#08x (%g) on Go slices",
					where(), b.name, i, g[k][i], math.Float32frombits(g[k][i]), r[k][i], math.Float32frombits(r[k][i]))
				return
			}
			if b.want == nil {
				continue
			}
			switch b.want(i) {
			case wantKeep:
				if r[k][i] != init[i] {
					h.failf("%s: %s[%d] changed from %#08x to %#08x; the call must not write it",
						where(), b.name, i, init[i], r[k][i])
					return
				}
			case wantChange:
				if r[k][i] == init[i] {
					h.failf("%s: %s[%d] still holds its initial bits %#08x; the call did not write it",
						where(), b.name, i, r[k][i])
					return
				}
			}
		}
	}
	if math.Float64bits(loss) != math.Float64bits(refLoss) && !(math.IsNaN(loss) && math.IsNaN(refLoss)) {
		h.failf("%s: loss %v on guarded memory, %v on Go slices", where(), loss, refLoss)
		return
	}
	if (err == nil) != (refErr == nil) || (err != nil && err.Error() != refErr.Error()) {
		h.failf("%s: error %v on guarded memory, %v on Go slices", where(), err, refErr)
		return
	}
	var le *kernels.LabelError
	if c.wantErr != errors.As(refErr, &le) {
		h.failf("%s: error %v, want a *kernels.LabelError: %v", where(), refErr, c.wantErr)
	}
	h.compareGeneric(c, r, refLoss, refErr, where)
}

// compareGeneric makes call c with the generic implementation (which the
// table tests hold to the float64 reference) on copies of the inputs, and
// checks the results of c on Go slices, r, against it: within 10⁻⁴ of the
// output's largest magnitude plus 10⁻⁴ relative plus 10⁻⁶ (for terms of
// order 1 that cancel, as a 1-class row's gradient), far more than the
// implementations' orders of summation give, and far less than a wrong
// lane, row, tail or label term.
func (h *guardHarness) compareGeneric(c gcall, r [][]uint32, loss float64, err error, where func() string) {
	if h.im.Name() == "generic" {
		return
	}
	g := make([][]uint32, len(c.bufs))
	for k, b := range c.bufs {
		g[k] = make([]uint32, b.n)
		for i := range g[k] {
			g[k][i] = b.init(i)
		}
	}
	gl, gerr := c.run(genericImpl(), views(g))
	if (err == nil) != (gerr == nil) {
		h.failf("%s: error %v, generic's %v", where(), err, gerr)
		return
	}
	close := func(x, y, scale float64) bool {
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.IsNaN(x) == math.IsNaN(y)
		}
		return x == y || math.Abs(x-y) <= 1e-4*(scale+math.Abs(y))+1e-6
	}
	if !close(loss, gl, 0) {
		h.failf("%s: loss %v, generic's %v", where(), loss, gl)
		return
	}
	for k, b := range c.bufs {
		if b.name == "labels" {
			continue
		}
		var scale float64
		for _, v := range g[k] {
			if f := math.Abs(float64(math.Float32frombits(v))); f > scale && !math.IsInf(f, 0) {
				scale = f
			}
		}
		for i := range b.n {
			x, y := float64(math.Float32frombits(r[k][i])), float64(math.Float32frombits(g[k][i]))
			if !close(x, y, scale) {
				h.failf("%s: %s[%d] = %g, generic's %g", where(), b.name, i, x, y)
				return
			}
		}
	}
}

// genericImpl returns the generic implementation.
func genericImpl() *kernels.Impl {
	for _, im := range kernels.Available() {
		if im.Name() == "generic" {
			return im
		}
	}
	panic("no generic implementation")
}

func relPos(i, n int) string {
	if i < 0 {
		return fmt.Sprintf("%d before the start", -i)
	}
	return fmt.Sprintf("%d past the end", i-n+1)
}

func (h *guardHarness) failf(format string, args ...any) {
	h.t.Helper()
	h.fails++
	h.t.Errorf(format, args...)
	if h.fails >= gMaxFailures {
		h.t.Fatalf("%d failures: stopping this kernel", h.fails)
	}
}

// describe names the implementation, kernel, shape and where every argument
// sits: its start alignment and its distance to each guard page.
func (h *guardHarness) describe(c gcall, p placement, offs []int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "impl %s: %s %s, placement %s:", h.im.Name(), c.kernel, c.shape, p)
	for k, b := range c.bufs {
		total := h.allocs[k].words()
		fmt.Fprintf(&sb, " %s[len %d, align %d, %dw after leading guard, %dw before trailing guard]",
			b.name, b.n, offs[k]%gAlignModulus, offs[k], total-offs[k]-b.n)
	}
	return sb.String()
}

// explainPanic says what a panic of the guarded call was: for a fault, which
// byte of which guard page, relative to which argument.
func (h *guardHarness) explainPanic(pv any, c gcall, g [][]uint32) string {
	fa, ok := pv.(interface{ Addr() uintptr })
	if !ok {
		return fmt.Sprintf("panicked on guarded memory (but not on Go slices): %v", pv)
	}
	addr := fa.Addr()
	for k, b := range c.bufs {
		if !h.allocs[k].contains(addr) {
			continue
		}
		start := addrOf(g[k])
		end := start + uintptr(4*b.n)
		switch {
		case addr >= end:
			return fmt.Sprintf("MEMORY FAULT at %#x = end+%d bytes of %s (len %d): read or write past the end, in its trailing guard page (%v)",
				addr, addr-end, b.name, b.n, pv)
		case addr < start:
			return fmt.Sprintf("MEMORY FAULT at %#x = start−%d bytes of %s (len %d): read or write before the start, in its leading guard page (%v)",
				addr, start-addr, b.name, b.n, pv)
		default:
			return fmt.Sprintf("MEMORY FAULT at %#x inside %s (len %d)?! (%v)", addr, b.name, b.n, pv)
		}
	}
	return fmt.Sprintf("MEMORY FAULT at %#x, outside every guarded argument (%v)", addr, pv)
}

// trimStack keeps the frames from the panic down to the test harness.
func trimStack(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	from := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") || strings.HasPrefix(l, "runtime.sigpanic(") {
			from = i + 2
		}
	}
	var out []string
	for _, l := range lines[from:] {
		if strings.Contains(l, "kernels_test.protect") || strings.Contains(l, "kernels_test.(*guardHarness)") {
			break
		}
		out = append(out, "    "+l)
		if len(out) >= 16 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// Deterministic inputs.

func splitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// uniformBits returns the bits of a float32 in [lo, hi), a function of
// (seed, argument k, element i).
func uniformBits(seed uint64, k, i int, lo, hi float32) uint32 {
	u := float32(splitmix(seed<<20^uint64(k)<<16^uint64(i))>>40) / (1 << 24)
	return math.Float32bits(lo + u*(hi-lo))
}

func inBuf(name string, n int, seed uint64, k int, lo, hi float32) gbuf {
	return gbuf{name: name, n: n,
		init: func(i int) uint32 { return uniformBits(seed, k, i, lo, hi) },
		want: func(int) wantKind { return wantKeep }}
}

// inoutBuf is an in-place output: its input range is chosen so that no
// output element can equal its input, and every element must change.
func inoutBuf(name string, n int, seed uint64, k int, lo, hi float32) gbuf {
	b := inBuf(name, n, seed, k, lo, hi)
	b.want = func(int) wantKind { return wantChange }
	return b
}

func outBuf(name string, n int) gbuf {
	return gbuf{name: name, n: n,
		init: func(int) uint32 { return gSentinel },
		want: func(int) wantKind { return wantChange }}
}

func untouchedBuf(name string, n int) gbuf {
	b := outBuf(name, n)
	b.want = func(int) wantKind { return wantKeep }
	return b
}

// label returns row r's label: IgnoreLabel for about one row in four, else a
// class that moves with the seed (so 0 and cols−1 both occur).
func label(seed uint64, r, cols int) int32 {
	if (uint64(r)+seed)%4 == 1 {
		return kernels.IgnoreLabel
	}
	return int32((uint64(r)*5 + seed) % uint64(cols))
}

func labelBuf(rows, cols int, seed uint64, bad bool) gbuf {
	return gbuf{name: "labels", n: rows,
		init: func(r int) uint32 {
			if bad && r == rows-1 {
				if seed%2 == 0 {
					return uint32(int32(cols))
				}
				neg := int32(-2) // negative but not IgnoreLabel
				return uint32(neg)
			}
			return uint32(label(seed, r, cols))
		},
		want: func(int) wantKind { return wantKeep }}
}

// rowKernel builds the call of one row-wise kernel variant on rows×cols.
type rowKernel struct {
	name  string
	build func(rows, cols int, seed uint64) (c gcall, ok bool)
}

// Input ranges: logits, probabilities, upstream gradients, log-probabilities,
// soft targets.
const (
	xLo, xHi   = -8, 8
	sLo, sHi   = 0.01, 1
	dyLo, dyHi = -2, 2
	lpLo, lpHi = -8, -0.01
	tLo, tHi   = 0, 1
)

// Input ranges of the in-place variants, chosen so that every output element
// differs from the input it overwrites (so a kernel that skips an element,
// or the whole call, fails even in place):
//   - softmax, log-softmax, CE: outputs lie in [−1, 1] or ≤ 0, inputs in [2, 10);
//   - CE soft: outputs (s·Σt − t)/rows lie in (−1, 64], inputs in [−10, −2);
//   - SoftmaxBackward dx=s: |dy| < 1/256 makes |dx| = s·|dy − ⟨dy,s⟩| < s/3;
//   - SoftmaxBackward dx=dy: s < 1/2 and dy ∈ [1/2, 1) make dx < dy/2;
//   - LogSoftmaxBackward dx=logp: logp < −20 makes dx ≈ dy > 0 > logp;
//   - LogSoftmaxBackward dx=dy: dy ∈ [1/2, 1), logp ≥ −4: dx ≤ dy − 0.009.
const (
	ipxLo, ipxHi   = 2, 10
	ipsxLo, ipsxHi = -10, -2
	ipdyS          = 1.0 / 256
	ipsLo, ipsHi   = 0.01, 0.5
	ipdyLo, ipdyHi = 0.5, 1
	iplpLo, iplpHi = -30, -20
	iplp2Lo        = -4
)

func rowKernels() []rowKernel {
	return []rowKernel{
		{"Softmax", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("dst", n), inBuf("src", n, seed, 1, xLo, xHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.Softmax(v[0].f, v[1].f, cols)
					return 0, nil
				}}, true
		}},
		{"Softmax/inplace", func(rows, cols int, seed uint64) (gcall, bool) {
			return gcall{bufs: []gbuf{inoutBuf("x", rows*cols, seed, 0, ipxLo, ipxHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.Softmax(v[0].f, v[0].f, cols)
					return 0, nil
				}}, true
		}},
		{"LogSoftmax", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("dst", n), inBuf("src", n, seed, 1, xLo, xHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.LogSoftmax(v[0].f, v[1].f, cols)
					return 0, nil
				}}, true
		}},
		{"LogSoftmax/inplace", func(rows, cols int, seed uint64) (gcall, bool) {
			return gcall{bufs: []gbuf{inoutBuf("x", rows*cols, seed, 0, ipxLo, ipxHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.LogSoftmax(v[0].f, v[0].f, cols)
					return 0, nil
				}}, true
		}},
		{"SoftmaxBackward", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("dx", n), inBuf("s", n, seed, 1, sLo, sHi), inBuf("dy", n, seed, 2, dyLo, dyHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.SoftmaxBackward(v[0].f, v[1].f, v[2].f, cols)
					return 0, nil
				}}, true
		}},
		{"SoftmaxBackward/dx=s", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{inoutBuf("s", n, seed, 0, sLo, sHi), inBuf("dy", n, seed, 1, -ipdyS, ipdyS)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.SoftmaxBackward(v[0].f, v[0].f, v[1].f, cols)
					return 0, nil
				}}, true
		}},
		{"SoftmaxBackward/dx=dy", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{inBuf("s", n, seed, 0, ipsLo, ipsHi), inoutBuf("dy", n, seed, 1, ipdyLo, ipdyHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.SoftmaxBackward(v[1].f, v[0].f, v[1].f, cols)
					return 0, nil
				}}, true
		}},
		{"LogSoftmaxBackward", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("dx", n), inBuf("logp", n, seed, 1, lpLo, lpHi), inBuf("dy", n, seed, 2, dyLo, dyHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.LogSoftmaxBackward(v[0].f, v[1].f, v[2].f, cols)
					return 0, nil
				}}, true
		}},
		{"LogSoftmaxBackward/dx=logp", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{inoutBuf("logp", n, seed, 0, iplpLo, iplpHi), inBuf("dy", n, seed, 1, ipdyLo, ipdyHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.LogSoftmaxBackward(v[0].f, v[0].f, v[1].f, cols)
					return 0, nil
				}}, true
		}},
		{"LogSoftmaxBackward/dx=dy", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{inBuf("logp", n, seed, 0, iplp2Lo, lpHi), inoutBuf("dy", n, seed, 1, ipdyLo, ipdyHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					im.LogSoftmaxBackward(v[1].f, v[0].f, v[1].f, cols)
					return 0, nil
				}}, true
		}},
		{"CrossEntropyGrad", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("grad", n), inBuf("logits", n, seed, 1, xLo, xHi), labelBuf(rows, cols, seed, false)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGrad(v[0].f, v[1].f, v[2].l, cols)
				}}, true
		}},
		{"CrossEntropyGrad/inplace", func(rows, cols int, seed uint64) (gcall, bool) {
			return gcall{bufs: []gbuf{inoutBuf("logits", rows*cols, seed, 0, ipxLo, ipxHi), labelBuf(rows, cols, seed, false)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGrad(v[0].f, v[0].f, v[1].l, cols)
				}}, true
		}},
		{"CrossEntropyGrad/badlabel", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{untouchedBuf("grad", n), inBuf("logits", n, seed, 1, xLo, xHi), labelBuf(rows, cols, seed, true)},
				wantErr: true,
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGrad(v[0].f, v[1].f, v[2].l, cols)
				}}, rows > 0
		}},
		{"CrossEntropyGradWith", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("grad", n), inBuf("logits", n, seed, 1, xLo, xHi), labelBuf(rows, cols, seed, false),
				inBuf("weights", cols, seed, 3, 0, 2), outBuf("losses", rows)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGradWith(v[0].f, v[1].f, v[2].l, cols, kernels.CrossEntropyOptions{
						Weights: v[3].f, LabelSmoothing: 0.1, ZLoss: 1e-3, Losses: v[4].f})
				}}, true
		}},
		{"CrossEntropyGradWith/inplace", func(rows, cols int, seed uint64) (gcall, bool) {
			return gcall{bufs: []gbuf{inoutBuf("logits", rows*cols, seed, 0, ipxLo, ipxHi), labelBuf(rows, cols, seed, false),
				inBuf("weights", cols, seed, 3, 0, 1)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGradWith(v[0].f, v[0].f, v[1].l, cols, kernels.CrossEntropyOptions{
						Weights: v[2].f, LabelSmoothing: 0.1, Reduction: kernels.ReduceSum})
				}}, true
		}},
		{"CrossEntropyGradSoft", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{outBuf("grad", n), inBuf("logits", n, seed, 1, xLo, xHi), inBuf("targets", n, seed, 2, tLo, tHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGradSoft(v[0].f, v[1].f, v[2].f, cols), nil
				}}, true
		}},
		{"CrossEntropyGradSoft/inplace", func(rows, cols int, seed uint64) (gcall, bool) {
			n := rows * cols
			return gcall{bufs: []gbuf{inoutBuf("logits", n, seed, 0, ipsxLo, ipsxHi), inBuf("targets", n, seed, 1, tLo, tHi)},
				run: func(im *kernels.Impl, v []gview) (float64, error) {
					return im.CrossEntropyGradSoft(v[0].f, v[0].f, v[1].f, cols), nil
				}}, true
		}},
	}
}

// sweepRows runs one row-wise kernel over cols 0 … 64 and every placement.
func (h *guardHarness) sweepRows(rk rowKernel, extraRows int) {
	call := func(rows, cols int) (gcall, bool) {
		c, ok := rk.build(rows, cols, h.nextSeed())
		c.kernel = rk.name
		c.shape = fmt.Sprintf("rows=%d cols=%d", rows, cols)
		c.cols = cols
		return c, ok
	}
	for cols := 0; cols <= gMaxCols; cols++ {
		if cols == 0 {
			// The empty batch: nothing may be touched, wherever the
			// (empty) slices point.
			if c, ok := call(0, 0); ok {
				h.run(c, placement{kind: placeEnd})
				h.run(c, placement{kind: placeStart})
			}
			continue
		}
		for rows := 1; rows <= gMaxRows+extraRows; rows++ {
			if c, ok := call(rows, cols); ok {
				h.run(c, placement{kind: placeEnd})
			}
		}
		for rows := 1; rows <= gMaxRows; rows++ {
			if c, ok := call(rows, cols); ok {
				h.run(c, placement{kind: placeStart})
			}
			for a := range gAlignModulus {
				if h.short && rows != 1+(a+cols)%gMaxRows {
					continue // -short: each (cols, a) with one row count, rotating
				}
				if c, ok := call(rows, cols); ok {
					h.run(c, placement{kind: placeAlignEnd, align: a})
					h.run(c, placement{kind: placeAlignStart, align: a})
				}
			}
		}
	}
}

// gerCall builds Ger (k < 0) or GerBatch on an m×n matrix with row stride
// lda: a, x, y, with every element of the matrix changed and every padding
// element between its rows left alone.
func gerCall(m, n, k, lda int, seed uint64) gcall {
	an := 0
	if m > 0 {
		an = (m-1)*lda + n
	}
	active := m > 0 && n > 0 && k != 0
	a := inoutBuf("a", an, seed, 0, -2, 2)
	a.want = func(i int) wantKind {
		if active && i%lda < n {
			return wantChange
		}
		return wantKeep
	}
	const alpha = 0.75
	xn, yn := m, n
	if k >= 0 {
		xn, yn = k*m, k*n
	}
	// Positive x and y: the k products of an element cannot cancel, so every
	// element of the matrix changes.
	x, y := inBuf("x", xn, seed, 1, 0.5, 2), inBuf("y", yn, seed, 2, 0.5, 2)
	if k < 0 {
		return gcall{kernel: "Ger", shape: fmt.Sprintf("m=%d n=%d lda=%d", m, n, lda), cols: n,
			bufs: []gbuf{a, x, y},
			run: func(im *kernels.Impl, v []gview) (float64, error) {
				im.Ger(v[0].f, lda, alpha, v[1].f, v[2].f)
				return 0, nil
			}}
	}
	return gcall{kernel: "GerBatch", shape: fmt.Sprintf("m=%d n=%d k=%d lda=%d", m, n, k, lda), cols: n,
		bufs: []gbuf{a, x, y},
		run: func(im *kernels.Impl, v []gview) (float64, error) {
			im.GerBatch(v[0].f, lda, alpha, v[1].f, m, v[2].f, n)
			return 0, nil
		}}
}

// sweepGer runs Ger (batch false) or GerBatch over n 0 … 64, m (and k)
// 0 … 3 and lda = max(1,n) + d for every d in ds, in the end and start
// placements; align-end(a) and align-start(a) run with d = ds[a mod len(ds)]
// (d = a for the full 0 … 15) for every m and k, or with -short for one
// (m, k) per (n, a), rotating through 1 … 3.
func (h *guardHarness) sweepGer(batch bool, ds []int) {
	ks := []int{-1}
	if batch {
		ks = []int{0, 1, 2, 3}
	}
	align := func(m, n, k, d, a int) {
		lda := max(1, n) + d
		h.run(gerCall(m, n, k, lda, h.nextSeed()), placement{kind: placeAlignEnd, align: a})
		h.run(gerCall(m, n, k, lda, h.nextSeed()), placement{kind: placeAlignStart, align: a})
	}
	for n := 0; n <= gMaxCols; n++ {
		for m := 0; m <= gMaxRows; m++ {
			for _, k := range ks {
				for _, d := range ds {
					lda := max(1, n) + d
					h.run(gerCall(m, n, k, lda, h.nextSeed()), placement{kind: placeEnd})
					h.run(gerCall(m, n, k, lda, h.nextSeed()), placement{kind: placeStart})
				}
				if !h.short {
					for a := range gAlignModulus {
						align(m, n, k, ds[a%len(ds)], a)
					}
				}
			}
		}
		if h.short {
			// -short: each (n, a) with one (m, k), m and k in 1 … 3 rotating.
			for a := range gAlignModulus {
				k := -1
				if batch {
					k = 1 + (a/gMaxRows+n)%gMaxRows
				}
				align(1+(a+n)%gMaxRows, n, k, ds[a%len(ds)], a)
			}
		}
	}
}

// gemmCall builds Gemm with transposes tA, tB on an m×n matrix C with row
// stride ldc and operands of leading dimensions their widths + d: c, a, b,
// with every element of C changed (k > 0, beta ≠ 0: positive operands
// cannot cancel) and every padding element between its rows left alone.
func gemmCall(tA, tB bool, m, n, k, d int, beta float32, seed uint64) gcall {
	ra, ca, rb, cb := m, k, k, n
	if tA {
		ra, ca = k, m
	}
	if tB {
		rb, cb = n, k
	}
	size := func(rows, cols, ld int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	lda, ldb, ldc := max(1, ca)+d, max(1, cb)+d, max(1, n)+d
	active := m > 0 && n > 0 && (k > 0 || beta != 1)
	c := inoutBuf("c", size(m, n, ldc), seed, 0, 0.5, 2)
	c.want = func(i int) wantKind {
		if active && i%ldc < n {
			return wantChange
		}
		return wantKeep
	}
	a := inBuf("a", size(ra, ca, lda), seed, 1, 0.5, 2)
	b := inBuf("b", size(rb, cb, ldb), seed, 2, 0.5, 2)
	const alpha = 0.75
	return gcall{kernel: "Gemm", cols: n,
		shape: fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d beta=%v", tA, tB, m, n, k, lda, ldb, ldc, beta),
		bufs:  []gbuf{c, a, b},
		run: func(im *kernels.Impl, v []gview) (float64, error) {
			im.Gemm(tA, tB, m, n, k, alpha, v[1].f, lda, v[2].f, ldb, beta, v[0].f, ldc)
			return 0, nil
		}}
}

// sweepGemm runs Gemm over every transpose, n 0 … 64, m in gemmRows (a
// register tile's rows and their neighbours) and k 0 … 3, with leading
// dimensions the widths + d for d in ds, in the end and start placements;
// align-end(a) and align-start(a) run for every (n, a) with one (m, k) and
// a transpose rotating with a and n. Each sweep runs once with the
// isa's own blocks and once with blocks cut to a few tiles.
func (h *guardHarness) sweepGemm(ds []int) {
	gemmRows := []int{1, 2, 3, 5, 6, 7, 12, 13}
	betas := []float32{1, 0, 0.5}
	trs := [4][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}
	for n := 0; n <= gMaxCols; n++ {
		for _, tr := range trs {
			for _, m := range gemmRows {
				for k := range 4 {
					if h.short && (m+k+n)%3 != 0 {
						continue
					}
					d := ds[(m+n+k)%len(ds)]
					beta := betas[(m+n+k)%len(betas)]
					h.run(gemmCall(tr[0], tr[1], m, n, k, d, beta, h.nextSeed()), placement{kind: placeEnd})
					h.run(gemmCall(tr[0], tr[1], m, n, k, d, beta, h.nextSeed()), placement{kind: placeStart})
				}
			}
		}
		for a := range gAlignModulus {
			tr := trs[(a+n)%4]
			m, k := gemmRows[(a+n)%len(gemmRows)], 1+(a/4+n)%3
			beta := betas[a%len(betas)]
			h.run(gemmCall(tr[0], tr[1], m, n, k, ds[a%len(ds)], beta, h.nextSeed()), placement{kind: placeAlignEnd, align: a})
			h.run(gemmCall(tr[0], tr[1], m, n, k, ds[a%len(ds)], beta, h.nextSeed()), placement{kind: placeAlignStart, align: a})
		}
	}
}

// linearCall builds LinearCrossEntropy on k rows of features, classes
// classes; without bias, db or dx those arguments are passed nil (and their
// guarded slices must stay untouched); with bad, the last label is out of
// range and nothing may be written. Otherwise every element of dw, db and
// dx is written (zeros when no row counts).
func linearCall(k, features, classes int, bias, wantDB, wantDX, bad bool, seed uint64) gcall {
	out := func(name string, n int, wanted bool) gbuf {
		if !wanted || bad {
			return untouchedBuf(name, n)
		}
		return outBuf(name, n)
	}
	bufs := []gbuf{
		out("dw", classes*features, true),
		out("db", classes, wantDB),
		out("dx", k*features, wantDX),
		inBuf("x", k*features, seed, 3, -1, 1),
		inBuf("w", classes*features, seed, 4, -1, 1),
		inBuf("b", classes, seed, 5, -1, 1),
		labelBuf(k, classes, seed, bad),
	}
	orNil := func(v []float32, use bool) []float32 {
		if !use {
			return nil
		}
		return v
	}
	return gcall{kernel: "LinearCrossEntropy", cols: features, wantErr: bad,
		shape: fmt.Sprintf("k=%d features=%d classes=%d bias=%v db=%v dx=%v bad=%v", k, features, classes, bias, wantDB, wantDX, bad),
		bufs:  bufs,
		run: func(im *kernels.Impl, v []gview) (float64, error) {
			return im.LinearCrossEntropy(v[0].f, orNil(v[1].f, wantDB), orNil(v[2].f, wantDX), v[3].f, v[4].f,
				orNil(v[5].f, bias), v[6].l, features, classes)
		}}
}

// sweepLinear runs LinearCrossEntropy over features 1 … 64, k 0 … 3 and 1
// or 3 classes, the optional arguments and a bad last label rotating, in
// the end and start placements; align-end(a) and align-start(a) run for
// every (features, a) with every argument present.
func (h *guardHarness) sweepLinear() {
	for f := 1; f <= gMaxCols; f++ {
		for k := range 4 {
			for _, c := range []int{1, 3} {
				v := f + k + c
				if h.short && v%3 != 0 {
					continue
				}
				bias, db, dx, bad := v%2 == 0, v%3 != 0, v%4 != 1, k > 0 && v%5 == 0
				for _, kind := range []placeKind{placeEnd, placeStart} {
					h.run(linearCall(k, f, c, bias, db, dx, bad, h.nextSeed()), placement{kind: kind})
				}
			}
		}
		for a := range gAlignModulus {
			k, c := 1+(a+f)%3, 1+a%3
			for _, kind := range []placeKind{placeAlignEnd, placeAlignStart} {
				h.run(linearCall(k, f, c, true, true, true, false, h.nextSeed()), placement{kind: kind, align: a})
			}
		}
	}
}

// checkCoverage verifies that the sweep did what the design says: every
// argument, for every cols (n) 1 … 64, started at all 16 alignments; in the
// end placement, every rows·cols-long argument of a row-wise kernel started
// at every alignment −rows·cols mod 16 of the swept row counts, and (full
// sweep) the matrix a of Ger/GerBatch at all 16 (through lda).
func (h *guardHarness) checkCoverage(t *testing.T, c gcall, extraRows int, fullLda bool) {
	t.Helper()
	for k, b := range c.bufs {
		for cols := 1; cols <= gMaxCols; cols++ {
			if h.cov[k][cols] != 0xFFFF {
				t.Errorf("coverage: %s with cols/n=%d started at alignments %016b, want all 16", b.name, cols, h.cov[k][cols])
			}
			var want uint16
			switch {
			case c.kernel == "Gemm" || c.kernel == "LinearCrossEntropy":
			case c.kernel == "Ger" || c.kernel == "GerBatch":
				if b.name == "a" && fullLda {
					want = 0xFFFF
				}
			case b.name == "weights": // one per class: cols long whatever the rows
				want = 1 << (((-cols)%16 + 16) % 16)
			case b.name != "labels" && b.name != "losses":
				for rows := 1; rows <= gMaxRows+extraRows; rows++ {
					want |= 1 << (((-rows*cols)%16 + 16) % 16)
				}
			}
			if h.ends[k][cols]&want != want {
				t.Errorf("coverage: %s with cols/n=%d ended at a guard page with start alignments %016b, want %016b",
					b.name, cols, h.ends[k][cols], want)
			}
		}
	}
}

// subtest runs sweep as the subtest name of t, with faults turned into
// panics (per goroutine: each subtest runs in its own) and the failure
// count and coverage reset, then checks the coverage of the calls like c.
func (h *guardHarness) subtest(t *testing.T, name string, sweep func(), c gcall, extraRows int, fullLda bool) {
	t.Run(name, func(t *testing.T) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		h.t, h.fails = t, 0
		h.cov, h.ends = [gMaxArgs][gMaxCols + 1]uint16{}, [gMaxArgs][gMaxCols + 1]uint16{}
		sweep()
		h.checkCoverage(t, c, extraRows, fullLda)
	})
}

func TestGuardPages(t *testing.T) {
	impls := kernels.Available()
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.Name()
	}
	t.Logf("implementations under test: %s", strings.Join(names, ", "))

	extraRows := gExtraRows
	ds := make([]int, 16)
	for i := range ds {
		ds[i] = i
	}
	if testing.Short() {
		extraRows = 5
		ds = []int{0, 1, 3, 6}
	}
	for _, im := range impls {
		t.Run(im.Name(), func(t *testing.T) {
			start := time.Now()
			h := newGuardHarness(t, im)
			h.short = testing.Short()
			for _, rk := range rowKernels() {
				c, _ := rk.build(1, 1, 0)
				h.subtest(t, strings.ReplaceAll(rk.name, "/", "_"), func() { h.sweepRows(rk, extraRows) }, c, extraRows, false)
			}
			for _, batch := range []bool{false, true} {
				name := "Ger"
				if batch {
					name = "GerBatch"
				}
				h.subtest(t, name, func() { h.sweepGer(batch, ds) }, gerCall(1, 1, -1, 1, 0), 0, len(ds) == 16)
			}
			gemmSweep := func() { kernels.EachGemmOrientation(func() { h.sweepGemm(ds) }) }
			gemm := gemmCall(false, false, 1, 1, 1, 0, 1, 0)
			h.subtest(t, "Gemm", gemmSweep, gemm, 0, false)
			h.subtest(t, "Gemm_small_blocks", func() { kernels.WithSmallGemmBlocks(gemmSweep) }, gemm, 0, false)
			linear := linearCall(1, 1, 1, true, true, true, false, 0)
			h.subtest(t, "LinearCrossEntropy", h.sweepLinear, linear, 0, false)
			h.subtest(t, "LinearCrossEntropy_row_chunks", func() { kernels.WithLinearChunks(1, h.sweepLinear) }, linear, 0, false)
			h.t = t
			t.Logf("impl %s: %d guarded calls (end %d, start %d, align-end %d, align-start %d), %d faults, in %v",
				im.Name(), h.calls, h.byKind[placeEnd], h.byKind[placeStart], h.byKind[placeAlignEnd],
				h.byKind[placeAlignStart], h.faults, time.Since(start).Round(time.Millisecond))
		})
	}
}
