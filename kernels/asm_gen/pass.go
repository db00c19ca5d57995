package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// A pass is one sweep over the cols consecutive float32 of a row, in one or
// more arrays, vector by vector: a main loop of unroll vectors per
// iteration, a loop of single vectors, and the last cols mod lanes elements.
//
// Those last elements never make the pass touch memory outside the row:
//
//   - When the row is shorter than a vector, they are the only vector, read
//     and written with masked loads and stores (tail); on an isa with halves
//     only up to half a vector, and a longer short row is taken as two half
//     vectors, the second overlapping the first (see isa.halves).
//   - Otherwise they are taken as the full vector that ends at the row's end
//     and overlaps the one before it (part). Its loads and arithmetic run
//     before the loops, its stores and sums after them, so every element is
//     read before any store to it, in place or not; the overlapped lanes are
//     written twice with the same value and left out of sums. Masked stores
//     are avoided here because a later load that overlaps a masked store's
//     32 bytes waits until the store has left the store buffer, which, row
//     after row, costs more than the whole row (the next row's first load
//     overlaps the masked store of this row's end).
//
// group emits the loads and arithmetic of some vectors and returns what is
// left (the stores and the additions to sums), which the pass emits right
// away, or after the loops for a part vector, with the vector's address
// then.
//
// With block > 0 the elements are taken in blocks of at most block (a
// multiple of lanes) and end is emitted after each: float32 partial sums
// are folded into float64 there (see fold). A part vector's rest is emitted
// in the last block.
//
// A pass with a short shape (rows of at most shortVecs vectors, see shapes)
// is straight-line code: its vectors one after the other, no loop.
type pass struct {
	is     *isa
	ptrs   []GPVirtual // advanced past the row
	unroll int         // vectors per iteration of the main loop, ≥ 1
	block  int
	// group takes the main loop's vectors lockstep at a time (1 if 0), and
	// a single vector elsewhere (oneAtATime makes one from a function of
	// one vector). exp is a chain of 14 dependent instructions per vector;
	// emitted a step at a time for every vector of a group (see expK.exp),
	// the chains sit side by side in the instruction stream, and the CPU,
	// whose scheduler holds too few instructions to find the next vector's
	// chain behind a whole chain, overlaps them.
	group    func(vs []vecAt) (rest func(ws []vecAt))
	lockstep int
	end      func()
	shape    shape // what is known of cols
	// enter and leave, if set, are emitted before and after the main loop,
	// where it runs: to set up and combine the accumulators of its
	// vectors 1 … unroll−1 (the other loops use vector 0's).
	enter, leave func()
	// prefetch, if not 0, makes the main loop prefetch the line this many
	// bytes past each line it reads through ptrs[0] (see prefetchAhead).
	prefetch int
}

// prefetchAhead is the distance, in bytes, at which the passes that stream
// a row from memory while they compute (expSumRows' sums, expMinusMax)
// prefetch it: one block of the two-pass softmax (statsBlock in
// twopass.go), so that while a block's exps are computed the next block is
// read from memory, instead of memory waiting for the arithmetic and the
// arithmetic for memory in turn.
const prefetchAhead = 2048 * 4

// A vecAt is one vector of a pass: at byte offset off (plus 4·idx) from the
// pass's pointers.
type vecAt struct {
	k    int       // place in the main loop's iteration, 0 … unroll−1
	off  int       // byte offset
	idx  GPVirtual // if not nil, add 4·idx to the address
	tail tail      // a row shorter than a vector: the mask of its elements; loads and stores are masked
	part *lazyMask // the overlapping last vector of a longer row: the mask of its lanes not in the vector before
	// half, if set, makes the vector the low half of a register (see
	// isa.halves): loaded with the upper lanes 0, stored from the low half
	// only; half is the mask of the low lanes.
	half *lazyMask
}

// A lazyMask is a mask emitted where it is first used, if it is.
type lazyMask struct {
	make func() tail
	t    tail
}

func lazy(make func() tail) *lazyMask { return &lazyMask{make: make} }

func (l *lazyMask) get() tail {
	if l.t == nil {
		l.t = l.make()
	}
	return l.t
}

// at returns the address of the vector relative to the base address m.
func (v vecAt) at(m Mem) Mem {
	m = m.Offset(v.off)
	if v.idx != nil {
		if m.Index != nil {
			panic("vecAt: an indexed vector at an indexed address")
		}
		m.Index, m.Scale = v.idx, 4
	}
	return m
}

// mem returns the address of the vector in the array at p.
func (v vecAt) mem(p GPVirtual) Mem { return v.at(Mem{Base: p}) }

// load loads the vector at m into a new register (zeros past a tail or a
// half).
func (v vecAt) load(is *isa, m Mem) VecVirtual {
	if v.tail != nil {
		return v.tail.load(v.at(m))
	}
	r := is.vec()
	if v.half != nil {
		VMOVUPS(v.at(m), view(r, is.bytes()/2)) // writing the low half zeroes the rest
		return r
	}
	VMOVUPS(v.at(m), r)
	return r
}

// src returns the vector at m as a source operand: the memory itself for a
// full vector, a register loaded with zeros past a tail.
func (v vecAt) src(is *isa, m Mem) Op {
	if v.tail != nil || v.half != nil {
		return v.load(is, m)
	}
	return v.at(m)
}

// store writes r to the vector at m (only the tail's lanes for a tail).
func (v vecAt) store(r VecVirtual, m Mem) {
	if v.tail != nil {
		v.tail.store(r, v.at(m))
		return
	}
	if v.half != nil {
		VMOVUPS(view(r, int(r.Size())/2), v.at(m))
		return
	}
	VMOVUPS(r, v.at(m))
}

// zeroOthers clears the lanes of r that are not the vector's own: past a tail,
// the lanes a part vector shares with the vector before it, or the upper
// half of a half; so that they add nothing to a sum.
func (v vecAt) zeroOthers(r VecVirtual) {
	switch {
	case v.tail != nil:
		v.tail.zero(r)
	case v.part != nil:
		v.part.get().zero(r)
	case v.half != nil:
		v.half.get().zero(r)
	}
}

// own returns the mask of the lanes of a tail or a half that hold
// elements, or nil for a full vector.
func (v vecAt) own() tail {
	switch {
	case v.tail != nil:
		return v.tail
	case v.half != nil:
		return v.half.get()
	}
	return nil
}

// halfVecs returns the two half vectors of a row of lanes/2 < cols ≤ lanes
// (see isa.halves): the first lanes/2 elements, and the part vector of
// lanes/2 elements that ends at the row's end; their masks are emitted
// where first used.
func (is *isa) halfVecs(cols GPVirtual) (full, part vecAt) {
	half := lazy(func() tail { return is.halfLanes(nil) })
	full = vecAt{half: half}
	part = vecAt{idx: cols, off: -is.bytes() / 2, half: half, part: lazy(func() tail {
		t := GP64()
		LEAQ(Mem{Base: cols, Disp: -is.lanes / 2}, t)
		return is.halfLanes(t)
	})}
	return full, part
}

// A shape is what a routine knows of cols where it is emitted: nothing
// (the zero shape, general), or that every row is short, vecs vectors:
// (vecs−1)·lanes < cols ≤ vecs·lanes (see shapes).
type shape struct{ vecs int }

var general = shape{}

// shortVecs is the longest row, in vectors, that gets code of its own.
const shortVecs = 2

// shapes emits gen once for each shape of short rows and once for the
// general one, each behind a test of cols: short rows then run
// straight-line code, without the loops and tests of a general pass.
func (is *isa) shapes(cols GPVirtual, gen func(sh shape)) {
	done := label("shaped")
	for k := range shortVecs {
		next := label("shape")
		CMPQ(cols, U8((k+1)*is.lanes))
		JA(next)
		gen(shape{vecs: k + 1})
		JMP(done)
		Label(string(next))
	}
	gen(general)
	Label(string(done))
}

// emit emits the pass over one row of cols elements (a GP register, left
// unchanged).
func (p pass) emit(cols GPVirtual) {
	lanes, size := p.is.lanes, p.is.bytes()
	if p.unroll%p.side() != 0 {
		panic("pass: lockstep does not divide unroll")
	}
	if p.shape != general {
		p.short(cols)
		return
	}
	// The part vector first: its loads and arithmetic.
	Comment("The row's last lanes when cols is not a whole number of vectors: the part vector, loaded first.")
	rest := func(vecAt) {}
	{
		skip := label("nopart")
		t := GP64()
		MOVQ(cols, t)
		ANDQ(U8(lanes-1), t)
		JZ(skip)
		CMPQ(cols, U8(lanes))
		JB(skip)
		if r := p.one(vecAt{idx: cols, off: -size, part: lazy(func() tail { return p.is.lastLanes(t) })}); r != nil {
			rest = r
		}
		Label(string(skip))
	}
	n := GP64()
	MOVQ(cols, n)
	if p.block == 0 {
		p.elements(cols, n, rest)
		return
	}
	// Blocks: e = min(n, block); n −= e; the elements; end; until n == 0.
	top := label("block")
	e := GP64()
	Label(string(top))
	MOVQ(U32(p.block), e)
	CMPQ(n, e)
	CMOVQLT(n, e)
	SUBQ(e, n)
	p.elements(cols, e, rest)
	p.end()
	TESTQ(n, n)
	JNZ(top)
}

// elements emits the loops over e elements (consumed) of the row of cols,
// and the rest of the part vector.
func (p pass) elements(cols, e GPVirtual, rest func(w vecAt)) {
	lanes, size := p.is.lanes, p.is.bytes()
	whole := func(vs ...vecAt) {
		if r := p.group(vs); r != nil {
			r(vs)
		}
	}
	single, tailL, done := label("single"), label("tail"), label("done")
	if p.unroll > 1 {
		Comment(fmt.Sprintf("%d vectors per iteration, %d side by side.", p.unroll, p.side()))
		loop := label("loop")
		CMPQ(e, U32(p.unroll*lanes))
		JB(single)
		if p.enter != nil {
			p.enter()
		}
		Label(string(loop))
		for g := 0; g < p.unroll; g += p.side() {
			var vs []vecAt
			for k := g; k < g+p.side(); k++ {
				vs = append(vs, vecAt{k: k, off: k * size})
			}
			whole(vs...)
			for k := g; k < g+p.side(); k++ {
				if p.prefetch != 0 && k*size%64 == 0 {
					PREFETCHT0(Mem{Base: p.ptrs[0], Disp: k*size + p.prefetch})
				}
			}
		}
		p.advance(p.unroll * size)
		SUBQ(U32(p.unroll*lanes), e)
		CMPQ(e, U32(p.unroll*lanes))
		JAE(loop)
		if p.leave != nil {
			p.leave()
		}
	}
	Label(string(single))
	Comment("One vector per iteration.")
	loop1 := label("loop1")
	CMPQ(e, U32(lanes))
	JB(tailL)
	Label(string(loop1))
	whole(vecAt{})
	p.advance(size)
	SUBQ(U32(lanes), e)
	CMPQ(e, U32(lanes))
	JAE(loop1)

	Label(string(tailL))
	Comment("Fewer than a vector's lanes left: the rest of the part vector, or, in a row shorter than a vector, a masked one.")
	TESTQ(e, e)
	JZ(done)
	masked, next := label("masked"), label("advance")
	CMPQ(cols, U8(lanes))
	JB(masked)
	rest(vecAt{idx: e, off: -size, part: lazy(func() tail { return p.is.lastLanes(e) })})
	JMP(next)
	Label(string(masked))
	whole(vecAt{tail: p.is.firstLanes(e)})
	Label(string(next))
	for _, ptr := range p.ptrs {
		LEAQ(Mem{Base: ptr, Index: e, Scale: 4}, ptr)
	}
	Label(string(done))
}

// short emits the pass over a short row: its shape's full vectors and a
// part vector, or one masked vector (or two half vectors). Every vector
// uses accumulator 0.
func (p pass) short(cols GPVirtual) {
	lanes, size := p.is.lanes, p.is.bytes()
	whole := func(v vecAt) {
		if r := p.one(v); r != nil {
			r(v)
		}
	}
	k := p.shape.vecs - 1
	if k == 0 && p.is.halves {
		// Up to half a vector: masked; more: two halves, the second the
		// part vector that ends at the row's end.
		masked, done := label("masked"), label("halves")
		CMPQ(cols, U8(lanes/2))
		JBE(masked)
		full, part := p.is.halfVecs(cols)
		rest := p.one(part)
		whole(full)
		if rest != nil {
			rest(part)
		}
		JMP(done)
		Label(string(masked))
		whole(vecAt{tail: p.is.firstLanes(cols)})
		Label(string(done))
	} else if k == 0 {
		whole(vecAt{tail: p.is.firstLanes(cols)})
	} else {
		// The part vector's lanes past the full vectors: cols − k·lanes.
		part := vecAt{idx: cols, off: -size, part: lazy(func() tail {
			t := GP64()
			LEAQ(Mem{Base: cols, Disp: -k * lanes}, t)
			return p.is.lastLanes(t)
		})}
		rest := p.one(part)
		for j := range k {
			whole(vecAt{off: j * size})
		}
		if rest != nil {
			rest(part)
		}
	}
	for _, ptr := range p.ptrs {
		LEAQ(Mem{Base: ptr, Index: cols, Scale: 4}, ptr)
	}
	if p.block > 0 {
		if shortVecs*lanes > p.block {
			panic("short rows longer than a block")
		}
		p.end()
	}
}

// side returns how many vectors of the main loop group takes at a time.
func (p pass) side() int { return max(p.lockstep, 1) }

// oneAtATime returns a pass's group for body, which emits the loads and
// arithmetic of one vector and returns the rest (nil if none).
func oneAtATime(body func(v vecAt) (rest func(w vecAt))) func([]vecAt) func([]vecAt) {
	return func(vs []vecAt) func([]vecAt) {
		if len(vs) != 1 {
			panic("oneAtATime: a group of several vectors")
		}
		rest := body(vs[0])
		if rest == nil {
			return nil
		}
		return func(ws []vecAt) { rest(ws[0]) }
	}
}

// one emits the loads and arithmetic of the single vector v and returns
// the rest (nil if none).
func (p pass) one(v vecAt) (rest func(w vecAt)) {
	r := p.group([]vecAt{v})
	if r == nil {
		return nil
	}
	return func(w vecAt) { r([]vecAt{w}) }
}

// advance moves the pointers by b bytes.
func (p pass) advance(b int) {
	for _, ptr := range p.ptrs {
		ADDQ(U32(b), ptr)
	}
}

// rowLoop emits a loop over the rows r = 0 … rows−1 (rows ≥ 1, consumed)
// around body.
func rowLoop(rows GPVirtual, body func()) {
	top := label("row")
	Label(string(top))
	body()
	DECQ(rows)
	JNZ(top)
}

// rowLoopTo emits a loop around body, which advances p by a row, until p
// reaches end (p < end on entry).
func rowLoopTo(p, end GPVirtual, body func()) {
	top := label("row")
	Label(string(top))
	body()
	CMPQ(p, end)
	JB(top)
}

// endOf returns the end address p + 4·n of the n float32 (n = the slice
// length component) at p.
func endOf(p GPVirtual, n gotypes.Component) GPVirtual {
	end := load(n)
	LEAQ(Mem{Base: p, Index: end, Scale: 4}, end)
	return end
}

// rowMaxes stores the max of each of the rows (left unchanged) rows of
// cols at src to m, in a loop of its own: the rows' maxes are then
// independent of each other and of the sweeps that use them, and overlap
// in the CPU, which matters for short rows.
func (is *isa) rowMaxes(src, cols, m, rows GPVirtual) {
	p, mq, r := GP64(), GP64(), GP64()
	MOVQ(src, p)
	MOVQ(m, mq)
	MOVQ(rows, r)
	is.shapes(cols, func(sh shape) {
		rowLoop(r, func() {
			VMOVSS(is.rowMax(p, cols, sh), Mem{Base: mq})
			ADDQ(U8(4), mq)
		})
	})
}

// rowMax emits the max of the cols ≥ 1 float32 at p (advanced past them)
// and returns it in lane 0 of an XMM register. A tail's masked-off lanes
// are −Inf, so they never win; a part vector's overlapped lanes are taken
// twice, which changes no max. With a NaN in the row the result may or may
// not be NaN; either way the row's exp sum is NaN.
func (is *isa) rowMax(p, cols GPVirtual, sh shape) Register {
	accs := is.vecs(4)
	VBROADCASTSS(negInf.mem(), accs[0])
	pass{is: is, ptrs: []GPVirtual{p}, unroll: 4, shape: sh,
		group: oneAtATime(func(v vecAt) func(vecAt) {
			own := v.own()
			if own == nil {
				VMAXPS(v.mem(p), accs[v.k], accs[v.k])
				return nil
			}
			x := v.load(is, Mem{Base: p})
			own.fill(x, negInf)
			VMAXPS(x, accs[0], accs[0])
			return nil
		}),
		enter: func() {
			for _, a := range accs[1:] {
				VMOVAPS(accs[0], a)
			}
		},
		leave: func() {
			VMAXPS(accs[1], accs[0], accs[0])
			VMAXPS(accs[3], accs[2], accs[2])
			VMAXPS(accs[2], accs[0], accs[0])
		},
	}.emit(cols)
	return is.reducePS(accs[0], VMAXPS)
}
