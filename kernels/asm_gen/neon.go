package main

import (
	"fmt"
	"math"
)

// The NEON routines: 128-bit vectors of 4 float32 (neonLanes). They are the
// arm64 twins of the routines of isa.go, pass.go and exp.go, named and
// built alike; what differs is NEON itself:
//
//   - Loads and stores take no offset, only a post-increment: each pass
//     walks its arrays with pointers that the loads and stores advance
//     (VLD1.P), a pointer per array read and another per array written.
//     Four vectors are one instruction (VLD1 of 4 consecutive registers).
//   - NEON has no masked loads or stores. The last cols mod 4 elements of a
//     row are one partial vector, moved lane by lane (group.part): at most
//     3 loads or stores, never outside the row, and no scalar loop.
//   - FMLA accumulates into its destination, so each step of exp's
//     polynomial starts from a copy of its constant (VDUP of a lane); and
//     FMLA by element takes a multiplier from a lane, so exp's 10
//     constants fit in 4 registers.

// neonLanes is the number of float32 in a NEON vector.
const neonLanes = 4

// A group is the vectors one step of a pass handles: vecs full vectors
// (unroll in the main loop, 1 in the loop after it), or, if part, one
// partial vector of rem (a register, 1 … 3) elements.
type group struct {
	n    *neon
	vecs int
	part bool
	rem  greg
}

// lanes emits each(i) for the lanes i < rem of a partial vector.
func (n *neon) lanes(rem greg, each func(i int)) {
	done := n.label("lanes")
	each(0)
	n.CMP(imm(2), rem)
	n.B("LT", done)
	each(1)
	n.B("EQ", done)
	each(2)
	n.Label(done)
}

// load loads the group's vectors from p (advanced past them) into new
// consecutive registers; a partial vector's other lanes are 0.
func (g group) load(p greg) []vreg {
	vs := g.n.vecs(g.vecs)
	if !g.part {
		g.n.VLD1(p, 16*len(vs), vs...)
		return vs
	}
	g.n.zero(vs[0])
	g.n.lanes(g.rem, func(i int) { g.n.VLD1lane(p, vs[0], i) })
	return vs
}

// loadFill is load, with a partial vector's other lanes a copy of its
// first element: neutral for a max.
func (g group) loadFill(p greg) []vreg {
	if !g.part {
		return g.load(p)
	}
	v := g.n.vec()
	g.n.lanes(g.rem, func(i int) {
		if i == 0 {
			g.n.VLD1R(p, 4, v)
		} else {
			g.n.VLD1lane(p, v, i)
		}
	})
	return []vreg{v}
}

// loadStep is load, but p then advances by step bytes, not past the
// vectors.
func (g group) loadStep(p, step greg) []vreg {
	if !g.part {
		vs := g.n.vecs(g.vecs)
		g.n.VLD1step(p, step, vs...)
		return vs
	}
	t := g.n.gp()
	g.n.MOVD(p, t)
	vs := g.load(t)
	g.n.ADD(step, p, p)
	g.n.releaseGP(t)
	return vs
}

// store stores vs to p (advanced past them); only the rem lanes of a
// partial vector.
func (g group) store(vs []vreg, p greg) {
	if !g.part {
		g.n.VST1(p, 16*len(vs), vs...)
		return
	}
	g.n.lanes(g.rem, func(i int) { g.n.VST1lane(vs[0], i, p) })
}

// zeroOthers clears the lanes of a partial vector's registers past its
// elements, so that they add nothing to a sum; full vectors are left as
// they are.
func (g group) zeroOthers(vs ...vreg) {
	if !g.part {
		return
	}
	n := g.n
	n.scope(func() {
		// The 4 words at laneMask + 16 − 4·rem: rem × all ones, then zeros.
		t, own := n.gp(), n.vec()
		n.MOVD("$"+n.laneMask()+"+16(SB)", t)
		n.SUB(shifted(g.rem, 2), t, t)
		n.VLD1(t, 0, own)
		for _, v := range vs {
			n.VAND(own, v, v)
		}
	})
}

// laneMask is the table the masks of partial vectors are read from:
// 4 × all ones, 4 × 0.
func (n *neon) laneMask() string {
	ones := math.Float32frombits(math.MaxUint32)
	return n.float32s("laneMask", []float32{ones, ones, ones, ones, 0, 0, 0, 0},
		[]string{"all ones", "", "", "", "0", "", "", ""})
}

// A pass is one sweep over the cols consecutive float32 of a row, in one or
// more arrays: a main loop of unroll vectors per iteration, a loop of single
// vectors, and the last cols mod 4 elements as one partial vector. body
// emits the whole work of a group: its loads (which advance the pointers),
// arithmetic and stores; each group is read before it is written, so an
// output may be an input.
//
// With block > 0 the elements are taken in blocks of at most block (a
// multiple of 16) and end is emitted after each: float32 partial sums are
// folded into float64 there (see fold).
type npass struct {
	n      *neon
	unroll int
	block  int
	what   string // what the main loop does, for its instruction count
	body   func(g group)
	end    func()
	// enter and leave, if set, are emitted before and after the main loop,
	// where it runs: to set up and combine the accumulators of its
	// vectors 1 … unroll−1 (the other loops use vector 0's).
	enter, leave func()
}

// emit emits the pass over one row of cols elements (a register, left
// unchanged).
func (p npass) emit(cols greg) {
	n := p.n
	n.scope(func() {
		left := n.gp()
		n.MOVD(cols, left)
		if p.block == 0 {
			p.elements(left)
			return
		}
		// Blocks: e = min(left, block); left −= e; the elements; end.
		e := n.gp()
		top := n.label("block")
		n.Label(top)
		n.MOVD(imm(p.block), e)
		n.CMP(e, left)
		n.CSEL("LT", left, e, e)
		n.SUB(e, left, left)
		p.elements(e)
		p.end()
		n.CBNZ(left, top)
	})
}

// elements emits the loops over e elements (consumed) and the partial
// vector.
func (p npass) elements(e greg) {
	n := p.n
	v := p.unroll * neonLanes
	single, partial, done := n.label("single"), n.label("partial"), n.label("done")
	if p.unroll > 1 {
		n.SUBS(imm(v), e, e)
		n.B("LT", single)
		if p.enter != nil {
			p.enter()
		}
		loop := n.label("loop")
		n.counted(p.what, fmt.Sprintf("%d elements", v), func() {
			n.Label(loop)
			n.scope(func() { p.body(group{n: n, vecs: p.unroll}) })
			n.SUBS(imm(v), e, e)
			n.B("GE", loop)
		})
		if p.leave != nil {
			p.leave()
		}
		n.Label(single)
		n.ADDS(imm(v-neonLanes), e, e) // e − 4
	} else {
		n.SUBS(imm(neonLanes), e, e)
	}
	n.B("LT", partial)
	loop1 := n.label("loop1")
	n.Label(loop1)
	n.scope(func() { p.body(group{n: n, vecs: 1}) })
	n.SUBS(imm(neonLanes), e, e)
	n.B("GE", loop1)
	n.Label(partial)
	n.ADDS(imm(neonLanes), e, e)
	n.B("EQ", done)
	n.scope(func() { p.body(group{n: n, vecs: 1, part: true, rem: e}) })
	n.Label(done)
}

// rowLoop emits a loop over rows ≥ 1 rows (the register is consumed)
// around body; the registers body allocates are freed after it.
func (n *neon) rowLoop(rows greg, body func()) {
	top := n.label("row")
	n.Label(top)
	n.scope(body)
	n.SUBS(imm(1), rows, rows)
	n.B("NE", top)
}

// rowLoopTo emits a loop around body, which advances p by a row, until p
// reaches end (p < end on entry).
func (n *neon) rowLoopTo(p, end greg, body func()) {
	top := n.label("row")
	n.Label(top)
	n.scope(body)
	n.CMP(end, p)
	n.B("LO", top)
}

// endOf returns p + 4·len, len the slice length argument named.
func (n *neon) endOf(p greg, length string) greg {
	end := n.load(length)
	n.ADD(shifted(end, 2), p, end)
	return end
}

// rowMaxes stores the max of each of the rows rows of cols at src to m,
// in a loop of its own, as isa.rowMaxes does; the registers are left
// unchanged.
func (n *neon) rowMaxes(src, cols, m, rows greg) {
	n.scope(func() {
		p, mq, r := n.gp(), n.gp(), n.gp()
		n.MOVD(src, p)
		n.MOVD(m, mq)
		n.MOVD(rows, r)
		n.rowLoop(r, func() {
			n.VST1lane(n.rowMax(p, cols), 0, mq)
		})
	})
}

// rowMax emits the max of the cols ≥ 1 float32 at p (advanced past them)
// and returns it in lane 0 of a vector register. The accumulators start as
// the row's first element, and a partial vector's other lanes repeat its
// own first element, so nothing from outside the row takes part. FMAX
// returns NaN when either operand is NaN, so a row with a NaN has the max
// NaN; its exp sum is NaN either way (see rowMax in generic.go).
func (n *neon) rowMax(p, cols greg) vreg {
	accs := n.vecs(4)
	n.VLD1R(p, 0, accs[0])
	npass{n: n, unroll: 4, what: "max",
		body: func(g group) {
			xs := g.loadFill(p)
			for i, x := range xs {
				n.FMAX(x, accs[i], accs[i])
			}
		},
		enter: func() {
			for _, a := range accs[1:] {
				n.VMOV(accs[0], a)
			}
		},
		leave: func() {
			n.FMAX(accs[1], accs[0], accs[0])
			n.FMAX(accs[3], accs[2], accs[2])
			n.FMAX(accs[2], accs[0], accs[0])
		},
	}.emit(cols)
	n.FMAXV(accs[0], accs[0])
	n.release(accs[1:]...)
	return accs[0]
}

// fold adds the float32 lanes of acc (then zeroed) to the two float64
// lanes of acc64: the blockwise summation that keeps row sums accurate
// (see sumBlock in generic.go).
func (n *neon) fold(acc, acc64 vreg) {
	n.scope(func() {
		lo, hi := n.vec(), n.vec()
		n.FCVTL(acc, lo)
		n.FCVTL2(acc, hi)
		n.FADD2D(lo, acc64, acc64)
		n.FADD2D(hi, acc64, acc64)
		n.zero(acc)
	})
}

// zeroAccs returns a pass's enter for the main loop's accumulators accs:
// each set to 0.
func (n *neon) zeroAccs(accs []vreg) func() {
	return func() {
		for _, a := range accs {
			n.zero(a)
		}
	}
}

// addAccs returns a pass's leave for its 4 accumulators: all added into
// accs[0], in a tree.
func (n *neon) addAccs(accs []vreg) func() {
	return func() {
		n.FADD(accs[1], accs[0], accs[0])
		n.FADD(accs[3], accs[2], accs[2])
		n.FADD(accs[2], accs[0], accs[0])
	}
}

// rowSum emits a blocked sum over the cols elements of a row and returns
// it rounded to float32 in every lane of a new register, as the twins
// compute float32(sum(…)). add adds the terms of a group into the float32
// accumulators accs (one per vector of the group; a partial vector's other
// lanes must add 0). Every 256 elements the accumulators are folded into
// float64.
func (n *neon) rowSum(cols greg, what string, add func(g group, accs []vreg)) vreg {
	d := n.vec()
	n.scope(func() {
		accs, acc64 := n.vecs(4), n.vec()
		n.zero(acc64)
		n.zero(accs[0])
		npass{n: n, unroll: 4, block: sumBlock, what: what,
			body:  func(g group) { add(g, accs[:g.vecs]) },
			end:   func() { n.fold(accs[0], acc64) },
			enter: n.zeroAccs(accs[1:]),
			leave: n.addAccs(accs),
		}.emit(cols)
		n.FADDP(acc64, acc64)
		n.FCVTDS(acc64, d)
		n.VDUP(d, 0, d)
	})
	return d
}

// neonExpK holds exp's constants in 4 registers: the multipliers of its
// FMLAs, lane by lane (mul: log2e, −ln2hi, −ln2lo, c5), the addends its
// polynomial steps start from (add: c4, c3, c2, c1), and magic and cutoff
// in every lane.
type neonExpK struct{ mul, add, magic, cutoff vreg }

// expConsts loads exp's constants (the values of exp.go).
func (n *neon) expConsts() *neonExpK {
	cs := []constant{expLog2e, expNegLn2Hi, expNegLn2Lo, expC5, expC4, expC3, expC2, expC1, expMagic, expCutoff}
	vals, notes := make([]float32, len(cs)), make([]string, len(cs))
	for i, c := range cs {
		vals[i], notes[i] = c.value, c.name
	}
	table := n.float32s("expConsts", vals, notes)
	k := &neonExpK{}
	ma := n.vecs(2)
	k.mul, k.add, k.magic, k.cutoff = ma[0], ma[1], n.vec(), n.vec()
	n.scope(func() {
		t := n.gp()
		n.MOVD("$"+table+"(SB)", t)
		n.VLD1(t, 32, k.mul, k.add)
		n.VLD1R(t, 4, k.magic)
		n.VLD1R(t, 0, k.cutoff)
	})
	return k
}

// exp returns e^a lane by lane for a ≤ 0, for each register of as, in new
// consecutive registers; as is clobbered. It is the loop body of
// expMinusMax in generic.go, step for step, with one FMA (a single
// rounding) where expMinusMax has madd, each step emitted for every
// register before the next:
//
//	under = a < cutoff        a compare; false for NaN
//	v = fma(a, log2e, magic)  n + magic, n = round(a/ln2), in the low bits
//	s = bits(v) << 23         2ⁿ
//	v = v − magic             n
//	t = fma(n, −ln2hi, a)     a − n·ln2, in two steps
//	t = fma(n, −ln2lo, t)
//	p = fma(c5, t, c4); p = fma(p, t, c3); p = fma(p, t, c2); p = fma(p, t, c1)
//	f = fma(t·s, p, s)        2ⁿ·(1 + t·p(t)) = e^a
//	f = f &^ under            0 below the cutoff; a NaN stays NaN
//
// 18 instructions per vector, 5 registers (a and 4 more).
func (k *neonExpK) exp(n *neon, as []vreg) []vreg {
	c := len(as)
	v, s, under, p := n.vecs(c), n.vecs(c), n.vecs(c), n.vecs(c)
	each := func(f func(i int)) {
		for i := range as {
			f(i)
		}
	}
	each(func(i int) { n.FCMGT(as[i], k.cutoff, under[i]) }) // under = cutoff > a
	each(func(i int) { n.VMOV(k.magic, v[i]) })
	each(func(i int) { n.FMLAe(k.mul, 0, as[i], v[i]) }) // v = a·log2e + magic
	each(func(i int) { n.VSHL(23, v[i], s[i]) })         // s = 2ⁿ
	each(func(i int) { n.FSUB(k.magic, v[i], v[i]) })    // v = n
	each(func(i int) { n.FMLAe(k.mul, 1, v[i], as[i]) }) // a = t = n·(−ln2hi) + a
	each(func(i int) { n.FMLAe(k.mul, 2, v[i], as[i]) }) // t = n·(−ln2lo) + t
	// p alternates between v and p: each step starts from its constant.
	each(func(i int) { n.VDUP(k.add, 0, v[i]) })
	each(func(i int) { n.FMLAe(k.mul, 3, as[i], v[i]) }) // v = t·c5 + c4
	each(func(i int) { n.VDUP(k.add, 1, p[i]) })
	each(func(i int) { n.VFMLA(as[i], v[i], p[i]) }) // p = v·t + c3
	each(func(i int) { n.VDUP(k.add, 2, v[i]) })
	each(func(i int) { n.VFMLA(as[i], p[i], v[i]) }) // v = p·t + c2
	each(func(i int) { n.VDUP(k.add, 3, p[i]) })
	each(func(i int) { n.VFMLA(as[i], v[i], p[i]) })  // p = v·t + c1
	each(func(i int) { n.FMUL(s[i], as[i], as[i]) })  // a = t·s
	each(func(i int) { n.VFMLA(p[i], as[i], s[i]) })  // s = f = (t·s)·p + s
	each(func(i int) { n.BIC(under[i], s[i], s[i]) }) // f = 0 where a < cutoff
	n.release(v...)
	n.release(under...)
	n.release(p...)
	return s
}

// expMinusMax: dst_i = e^(x_i − m), the element-wise exp the tests compare
// with its twin, expMinusMax.
func (n *neon) expMinusMax() {
	n.text("expMinusMax", "func(dst, x []float32, m float32)", "expMinusMax",
		"It reads x_i before it writes dst_i, so dst may be x.")
	dst, x, cnt := n.load("dst_base"), n.load("x_base"), n.load("x_len")
	m := n.loadF32("m")
	k := n.expConsts()
	npass{n: n, unroll: 4, what: "exp+store", body: func(g group) {
		as := g.load(x)
		for _, a := range as {
			n.FSUB(m, a, a)
		}
		g.store(k.exp(n, as), dst)
	}}.emit(cnt)
	n.ret()
}
