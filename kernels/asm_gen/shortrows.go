package main

import (
	"fmt"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

var one = constant{"one", 1}

// softmaxShortRows (twin: softmaxBatch's expRowsGeneric then scaleRowsGeneric,
// row by row): the softmax of rows no longer than a vector (a 10-class head
// on AVX-512), a vector's worth of rows at a time. One row per vector would
// spend most of its work on the two horizontal reductions of each row (max
// and sum) and on lanes the row does not fill; instead the lanes×lanes
// block of a group of rows is transposed in registers, so that each vector
// holds one column of the group: the row maxima and sums become lane-wise
// VMAXPS and VADDPS across the cols column vectors, every lane of every exp
// is a real element, and the result is transposed back. Lanes past a row's
// end are read as −Inf (exp gives 0: they change neither max nor sum) and
// never written; every row is loaded before any is stored, so dst may be
// src. Per element: the same e^(x − max) as the twin; the sum adds the
// same terms in another order, and 1/Z is rounded once from float32.
func softmaxShortRows(is *isa) {
	is.text("softmaxShortRows", "func(dst, src []float32, cols int, scale float32, m, z []float32)",
		"expRowsGeneric and scaleRowsGeneric",
		fmt.Sprintf("0 < cols ≤ %d (softmaxShortRowsMaxCols); the rows, len(src)/cols, come in whole groups of %d (softmaxShortRowsGroup).",
			softmaxShortRowsMaxCols(is), is.lanes),
		"dst_i = e^(x_i − m_r)/(Z_r·scale); m and z receive each row's max and Z.")
	g := shortRowGroups{is: is}
	g.dst, g.src, g.cols = load(Param("dst").Base()), load(Param("src").Base()), load(Param("cols"))
	g.mp, g.zp = load(Param("m").Base()), load(Param("z").Base())
	g.emit()
}

// crossEntropyShortRows (twin: crossEntropyWithRows, whose float64 row
// losses it computes in float32): softmaxShortRows for CrossEntropyGradWith,
// all of a row's options in the one pass over its group. Besides max and
// Z it takes d = Σ w_j·(x_j − max) (label smoothing's sum) and log Z
// (logAtLeast1: the z-loss needs lse in each row's factor); the output is
// e_j·(a + zc·lse)/Z − shift_j − [j = label]·b, b = (1−ε)·w_y/D the
// label's term and a = b + ε·W/(C·D) the rest of the factor but for the
// z-loss. Then, the group stored, each row's loss from the per-row values,
// one vector for the group's rows (rowLosses), and their float64 sum.
func crossEntropyShortRows(is *isa) {
	is.text("crossEntropyShortRows",
		"func(dst, src []float32, cols int, labels []int32, xl, wl, k, shift, w, m, logZ, d, losses []float32, sum []float64)",
		"crossEntropyWithRows",
		fmt.Sprintf("0 < cols ≤ %d; the rows, len(src)/cols, come in whole groups of %d (as softmaxShortRows);",
			softmaxShortRowsMaxCols(is), is.lanes),
		fmt.Sprintf("shift and w hold %d entries, those past cols unread; k is zc, 1−ε, ε/C, W, z,", softmaxShortRowsMaxCols(is)),
		"labelD, smoothD. With b_r = labelD·wl_r: dst_i = e^(x_i − m_r)·(b_r + smoothD +",
		"zc·lse_r)/Z_r − shift_i − [i = labels_r]·b_r, lse_r = m_r + log Z_r;",
		"m, logZ and d receive each row's max, log Z (within 2 ULP) and",
		"Σ w_i·(x_i − m_r); losses each row's (1−ε)·wl_r·(log Z_r − (xl_r − m_r)) +",
		"(ε/C)·(W·log Z_r − d_r) + z·lse_r², 0 where the label is negative; sum[0]",
		"the float64 sum of losses.")
	g := shortRowGroups{is: is, ce: true}
	g.dst, g.src, g.cols = load(Param("dst").Base()), load(Param("src").Base()), load(Param("cols"))
	g.mp, g.zp = load(Param("m").Base()), load(Param("logZ").Base())
	g.dp = load(Param("d").Base())
	g.label = AllocLocal(g.is.bytes())
	if is.bcst {
		g.labels = is.vec()
	}
	g.row = GP64()
	XORQ(g.row, g.row)
	g.sum = AllocLocal(g.is.bytes())
	acc := is.vec()
	zero(acc)
	VMOVUPS(acc, g.sum)
	g.emit()
}

// konst returns the constant k[i] in every lane of a new register.
func (g shortRowGroups) konst(i int) VecVirtual {
	p, v := GP64(), g.is.vec()
	Load(Param("k").Base(), p)
	VBROADCASTSS(Mem{Base: p, Disp: 4 * i}, v)
	return v
}

// rowLosses computes the losses of the group's rows (see
// crossEntropyShortRows) from m, logZ and d as stored, stores them and adds
// them to the float64 sum in the frame.
func (g shortRowGroups) rowLosses() {
	is := g.is
	at, k := g.perRow, g.konst
	m, lz, l, t := is.vec(), is.vec(), is.vec(), is.vec()
	VMOVUPS(Mem{Base: g.mp}, m)
	VMOVUPS(Mem{Base: g.zp}, lz)
	VMOVUPS(at("xl"), t)
	VSUBPS(m, t, t)  // x_y − m
	VSUBPS(t, lz, t) // log Z − (x_y − m)
	VMULPS(at("wl"), t, t)
	VMULPS(k(1), t, l) // (1−ε)·w_y·(log Z − (x_y − m))
	// (ε/C)·(W·log Z − d), left out when ε is 0 (d may then be NaN: its
	// weights are 0 and x − m may be −Inf).
	smooth := GP32()
	p := GP64()
	Load(Param("k").Base(), p)
	MOVL(Mem{Base: p, Disp: 4 * 2}, smooth)
	noSmooth := label("nosmooth")
	TESTL(smooth, smooth)
	JZ(noSmooth)
	sm := k(3)
	VFMSUB213PS(Mem{Base: g.dp}, lz, sm) // W·log Z − d
	VFMADD231PS(k(2), sm, l)
	Label(string(noSmooth))
	VADDPS(m, lz, lz) // lse
	zl := k(4)
	VMULPS(lz, zl, zl)
	VFMADD231PS(zl, lz, l) // + z·lse²
	ignored := is.vec()
	VMOVUPS(at("labels"), ignored)
	VPSRAD(U8(31), ignored, ignored) // all ones where the label is IgnoreLabel
	VANDNPS(l, ignored, l)
	VMOVUPS(l, at("losses"))
	acc := is.vec()
	VMOVUPS(g.sum, acc)
	is.fold(l, acc)
	VMOVUPS(acc, g.sum)
}

// emit is the routine's body, after its pointers.
func (g shortRowGroups) emit() {
	is := g.is
	g.end = endOf(g.src, Param("src").Len())
	g.cols4 = GP64()
	MOVQ(g.cols, g.cols4)
	SHLQ(U8(2), g.cols4)
	g.k = is.expConsts(is.regs, 0) // every constant from memory: the block takes the registers
	done := label("done")
	if is.shortRowVectors > 1 {
		oneBlock := label("block1")
		CMPQ(g.cols, U8(is.lanes))
		JBE(oneBlock)
		g.twoBlocks()
		JMP(done)
		Label(string(oneBlock))
	}
	g.oneBlock()
	Label(string(done))
	if g.ce {
		acc, p := is.vec(), GP64()
		VMOVUPS(g.sum, acc)
		Load(Param("sum").Base(), p)
		VMOVSD(is.reducePD(acc), Mem{Base: p})
	}
	ret()
}

// The constants of logAtLeast1.
var (
	logSqrtHalf = constant{"logSqrtHalf", 0x1.6A09E6p-1} // √½, as bits the offset that centres the mantissa on 1
	logLn2      = constant{"logLn2", 0x1.62E430p-1}
	logC9       = constant{"logC9", 2.0 / 9}
	logC7       = constant{"logC7", 2.0 / 7}
	logC5       = constant{"logC5", 2.0 / 5}
	logC3       = constant{"logC3", 2.0 / 3}
	logC1       = constant{"logC1", 2}
)

// logAtLeast1 returns log z lane by lane, for z ≥ 1 (a row sum Z) or NaN,
// in a new register (z is kept): z = 2^k·f with f in [√½, √2), from the
// bits of z less those of √½, so that s = (f − 1)/(f + 1) lies in
// [−0.172, 0.172]; then log z = k·ln 2 + 2·atanh(s), atanh by its series
// to s⁹ (the next term is below 2⁻²⁸ of the result). Within 2 ULP for z up
// to 2¹⁶ (TestLogAtLeast1); the bits of a NaN z give a number, so z − z
// (0, or NaN) is added last.
func (is *isa) logAtLeast1(z VecVirtual) VecVirtual {
	k, t, f := is.vec(), is.vec(), is.vec()
	VPSUBD(is.splat(logSqrtHalf), z, t)
	VPSRAD(U8(23), t, k) // k
	VPSLLD(U8(23), k, t)
	VPSUBD(t, z, f) // f = z/2^k, in [√½, √2)
	VCVTDQ2PS(k, k)
	one := is.splat(one)
	VSUBPS(one, f, t) // f − 1
	VADDPS(one, f, f) // f + 1
	VDIVPS(f, t, t)   // s
	VMULPS(t, t, f)   // s²
	p := is.splat(logC9)
	for _, c := range []constant{logC7, logC5, logC3, logC1} {
		VFMADD213PS(is.splat(c), f, p) // p = p·s² + c
	}
	VMULPS(t, p, p)                     // 2·atanh(s)
	VFMADD231PS(is.splat(logLn2), k, p) // + k·ln 2
	VSUBPS(z, z, t)
	VADDPS(t, p, p)
	return p
}

// shortRowGroups is softmaxShortRows's state: the pointers it moves along
// the rows, a group of lanes rows at a time, and the exp's constants.
type shortRowGroups struct {
	is                                 *isa
	k                                  *expK
	dst, src, end, cols, cols4, mp, zp GPVirtual
	// ce, if set, makes the routine crossEntropyShortRows: zp is then
	// logZ's pointer, and dp d's.
	ce    bool
	dp    GPVirtual
	row   GPVirtual // the group's first row, in bytes into the per-row slices
	sum   Mem       // the float64 sum of the losses so far
	label Mem       // the group's label terms
	// labels holds the group's labels, on an isa with embedded broadcasts
	// (which compares them with each column's index in memory); AVX2's
	// compares read them from memory.
	labels VecVirtual
}

// rowsAt calls f with the address of each row of the group at base.
func (g shortRowGroups) rowsAt(base GPVirtual, f func(r int, m Mem)) {
	p := GP64()
	MOVQ(base, p)
	for r := range g.is.lanes {
		if r > 0 {
			ADDQ(g.cols4, p)
		}
		f(r, Mem{Base: p})
	}
}

// finish stores the group's maxima mx and sums z, and returns the factor
// of its rows, 1/(Z·scale); for crossEntropyShortRows it stores mx, log Z
// and the sums d, keeps the label terms b (and, with embedded broadcasts,
// the labels) for subLabel, and returns (a + zc·(mx + log Z))/Z.
func (g shortRowGroups) finish(mx, z, d VecVirtual) VecVirtual {
	is := g.is
	VMOVUPS(mx, Mem{Base: g.mp})
	if g.ce {
		VMOVUPS(d, Mem{Base: g.dp})
		lz := is.logAtLeast1(z)
		VMOVUPS(lz, Mem{Base: g.zp})
		VADDPS(mx, lz, lz) // lse
		// b = labelD·w_y, the label's term, to the frame; a = b +
		// smoothD, the factor less Z and the z-loss.
		b, f := g.konst(5), g.konst(6)
		VMULPS(g.perRow("wl"), b, b)
		VMOVUPS(b, g.label)
		if is.bcst {
			VMOVUPS(g.perRow("labels"), g.labels)
		}
		VADDPS(b, f, f)
		// a/Z + zc·(lse/Z): a + zc·lse may overflow where the result
		// does not (Z < cols + 1).
		rz := is.splat(one)
		VDIVPS(z, rz, rz)
		VMULPS(rz, f, f)
		VMULPS(rz, lz, lz)
		VFMADD231PS(g.konst(0), lz, f)
		return f
	}
	VMOVUPS(z, Mem{Base: g.zp})
	inv, zs := is.splat(one), is.vec()
	VBROADCASTSS(paramMem("scale"), zs)
	VMULPS(z, zs, zs)
	VDIVPS(zs, inv, inv)
	return inv
}

// scaled returns column j of the group's output from its exps e (a
// register or the table's memory) and the factor f: e·f, or for
// crossEntropyShortRows e·f − shift_j less the label terms (subLabel).
func (g shortRowGroups) scaled(j int, e Op, f VecVirtual) VecVirtual {
	is := g.is
	if !g.ce {
		if r, ok := e.(VecVirtual); ok {
			VMULPS(f, r, r)
			return r
		}
		v := is.vec()
		VMULPS(e, f, v)
		return v
	}
	p := GP64()
	Load(Param("shift").Base(), p)
	shift := Mem{Base: p, Disp: 4 * j}
	if r, ok := e.(VecVirtual); ok && is.bcst {
		VFMSUB213PS_BCST(shift, f, r) // e·f − shift_j
		g.subLabel(j, r)
		return r
	}
	v := is.vec()
	VBROADCASTSS(shift, v)
	VFMSUB231PS(e, f, v) // e·f − shift_j
	g.subLabel(j, v)
	return v
}

// subLabel subtracts the label's term b (in the frame) from the lanes of
// column j, v, whose row's label is j.
func (g shortRowGroups) subLabel(j int, v VecVirtual) {
	is := g.is
	if is.bcst {
		k := K()
		VPCMPEQD_BCST(laneIndex(j), g.labels, k)
		VSUBPS(g.label, v, k, v)
		return
	}
	m := is.vec()
	VPBROADCASTD(laneIndex(j), m)
	VPCMPEQD(g.perRow("labels"), m, m)
	VANDPS(g.label, m, m)
	VSUBPS(m, v, v)
}

// perRow returns the address of the group's first element in the per-row
// slice name.
func (g shortRowGroups) perRow(name string) Mem {
	p := GP64()
	Load(Param(name).Base(), p)
	return Mem{Base: p, Index: g.row, Scale: 1}
}

// laneIndex returns the address of the int32 j in a table of 0, 1, 2, …
func laneIndex(j int) Mem {
	if laneIndexTable == nil {
		m := GLOBL("laneIndex", RODATA|NOPTR)
		for i := range 16 {
			DATA(4*i, U32(i))
		}
		laneIndexTable = &m
	}
	return laneIndexTable.Offset(4 * j)
}

var laneIndexTable *Mem

// dot adds w_j·a to d for crossEntropyShortRows's sum d = Σ w_j·(x_j − max)
// of column j, a = x_j − max.
func (g shortRowGroups) dot(j int, a, d VecVirtual) {
	if !g.ce {
		return
	}
	p := GP64()
	Load(Param("w").Base(), p)
	if g.is.bcst {
		VFMADD231PS_BCST(Mem{Base: p, Disp: 4 * j}, a, d)
		return
	}
	w := g.is.vec()
	VBROADCASTSS(Mem{Base: p, Disp: 4 * j}, w)
	VFMADD231PS(w, a, d)
}

// next moves src and dst on to the next group, lanes rows on.
func (g shortRowGroups) next() {
	step := GP64()
	MOVQ(g.cols4, step)
	SHLQ(U8(log2(g.is.lanes)), step)
	ADDQ(step, g.src)
	ADDQ(step, g.dst)
	for _, p := range []GPVirtual{g.mp, g.zp, g.dp, g.row} {
		if p != nil {
			ADDQ(U8(g.is.bytes()), p)
		}
	}
}

// oneBlock is the loop over the groups for rows of up to a vector: the
// block in registers.
func (g shortRowGroups) oneBlock() {
	is := g.is
	mask := is.firstLanes(g.cols)
	rowLoopTo(g.src, g.end, func() {
		rows := make([]VecVirtual, is.lanes)
		g.rowsAt(g.src, func(r int, m Mem) {
			rows[r] = mask.load(m)
			mask.fill(rows[r], negInf)
		})
		c := is.transpose(rows)
		mx := is.tree(c, VMAXPS)
		var d VecVirtual
		if g.ce {
			d = is.vec()
			zero(d)
		}
		e := g.exps(c, mx, d)
		f := g.finish(mx, is.tree(e, VADDPS), d)
		for j, v := range e {
			e[j] = g.scaled(j, v, f)
		}
		out := is.transpose(e)
		g.rowsAt(g.dst, func(r int, m Mem) { mask.store(out[r], m) })
		if g.ce {
			g.rowLosses()
		}
		g.next()
	})
}

// exps returns e^(c_j − mx) for the columns c of a one-block group (and
// adds to d, see dot). The exps of the columns past the row length are 0:
// skipped, their registers cleared (pad[j] clears e[j], e[j+1], …).
func (g shortRowGroups) exps(c []VecVirtual, mx, d VecVirtual) []VecVirtual {
	e := make([]VecVirtual, len(c))
	pad := make([]LabelRef, len(c))
	for j, v := range c {
		if j > 0 {
			pad[j] = label("pad")
			CMPQ(g.cols, U8(j))
			JBE(pad[j])
		}
		VSUBPS(mx, v, v)
		g.dot(j, v, d)
		e[j] = g.k.exp(g.is, v)[0]
	}
	exps := label("exps")
	JMP(exps)
	for j := 1; j < len(c); j++ {
		Label(string(pad[j]))
		zero(e[j])
	}
	Label(string(exps))
	return e
}

// twoBlocks is the loop over the groups for rows of lanes < cols ≤
// 2·lanes: two blocks of lanes columns, the second masked to the cols −
// lanes that are left. Their 2·lanes columns do not fit in AVX2's 16
// registers with exp's, so they wait in a table on the stack between the
// steps.
func (g shortRowGroups) twoBlocks() {
	is := g.is
	table := AllocLocal(2 * is.lanes * is.bytes())
	col := func(j int) Mem { return table.Offset(j * is.bytes()) }
	left := GP64()
	LEAQ(Mem{Base: g.cols, Disp: -is.lanes}, left)
	mask := is.firstLanes(left)
	rowLoopTo(g.src, g.end, func() {
		// The columns to the table, and the max of each block.
		var mxs [2]VecVirtual
		for b := range 2 {
			rows := make([]VecVirtual, is.lanes)
			g.rowsAt(g.src, func(r int, m Mem) {
				if b == 0 {
					rows[r] = is.vec()
					VMOVUPS(m, rows[r])
					return
				}
				rows[r] = mask.load(m.Offset(is.bytes()))
				mask.fill(rows[r], negInf)
			})
			c := is.transpose(rows)
			for j, v := range c {
				VMOVUPS(v, col(b*is.lanes+j))
			}
			mxs[b] = is.tree(c, VMAXPS)
		}
		mx := mxs[0]
		VMAXPS(mxs[1], mx, mx)
		// e^(x − max) back to the table, and their sums; the columns past
		// the row length are skipped (their exps are 0 and they are not
		// stored).
		acc := is.vecs(2)
		zero(acc[0])
		zero(acc[1])
		var d VecVirtual
		if g.ce {
			d = is.vec()
			zero(d)
		}
		exps := label("exps")
		for j := range 2 * is.lanes {
			if j > is.lanes {
				CMPQ(g.cols, U8(j))
				JBE(exps)
			}
			v := is.vec()
			VMOVUPS(col(j), v)
			VSUBPS(mx, v, v)
			g.dot(j, v, d)
			e := g.k.exp(is, v)[0]
			VADDPS(e, acc[j%2], acc[j%2])
			VMOVUPS(e, col(j))
		}
		Label(string(exps))
		VADDPS(acc[1], acc[0], acc[0])
		f := g.finish(mx, acc[0], d)
		// Scaled, transposed back, stored block by block.
		for b := range 2 {
			e := make([]VecVirtual, is.lanes)
			for j := range e {
				e[j] = g.scaled(b*is.lanes+j, col(b*is.lanes+j), f)
			}
			out := is.transpose(e)
			g.rowsAt(g.dst, func(r int, m Mem) {
				if b == 0 {
					VMOVUPS(out[r], m)
					return
				}
				mask.store(out[r], m.Offset(is.bytes()))
			})
		}
		if g.ce {
			g.rowLosses()
		}
		g.next()
	})
}

// tree returns op (VADDPS, VMAXPS) of vs lane by lane in a new register,
// combined pairwise so that no chain of ops is longer than log2(len(vs)):
// the block's max and sum are on its critical path, and a block is too
// long for the CPU to overlap it with the next.
func (is *isa) tree(vs []VecVirtual, op func(...Op)) VecVirtual {
	level := vs
	for len(level) > 1 {
		var next []VecVirtual
		for i := 0; i+1 < len(level); i += 2 {
			s := is.vec()
			op(level[i+1], level[i], s)
			next = append(next, s)
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	return level[0]
}

// transpose returns the columns of the lanes×lanes matrix whose rows are
// rs, each in a new register (rs is left unchanged). Within each 128-bit
// lane, as for 4×4 blocks: VUNPCKLPS/VUNPCKHPS interleave pairs of rows,
// VSHUFPS gathers each column of 4 rows; then whole 128-bit lanes move:
// VPERM2F128 on AVX2, two rounds of VSHUFF32X4 on AVX-512.
func (is *isa) transpose(rs []VecVirtual) []VecVirtual {
	n := len(rs)
	if n != is.lanes {
		panic("transpose: not a square block")
	}
	// t[i], t[i+1]: rows i and i+1 interleaved, elements 0 1 and 2 3 of
	// each 128-bit lane.
	t := make([]VecVirtual, n)
	for i := 0; i < n; i += 2 {
		t[i], t[i+1] = is.vec(), is.vec()
		VUNPCKLPS(rs[i+1], rs[i], t[i])
		VUNPCKHPS(rs[i+1], rs[i], t[i+1])
	}
	// u[i+j]: element j of each 128-bit lane L, that is column 4L+j, of
	// rows i … i+3.
	u := make([]VecVirtual, n)
	for i := 0; i < n; i += 4 {
		for h := range 2 {
			a, b := t[i+h], t[i+2+h]
			u[i+2*h], u[i+2*h+1] = is.vec(), is.vec()
			VSHUFPS(U8(0x44), b, a, u[i+2*h])   // elements 0 1 of a, 0 1 of b
			VSHUFPS(U8(0xEE), b, a, u[i+2*h+1]) // elements 2 3 of a, 2 3 of b
		}
	}
	c := make([]VecVirtual, n)
	if n == 8 {
		for j := range 4 {
			c[j], c[j+4] = is.vec(), is.vec()
			VPERM2F128(U8(0x20), u[4+j], u[j], c[j])   // low lanes: column j
			VPERM2F128(U8(0x31), u[4+j], u[j], c[j+4]) // high lanes: column j+4
		}
		return c
	}
	// 16 lanes: u[4g+j] holds column j+4L of rows 4g … 4g+3 in lane L.
	for j := range 4 {
		v := is.vecs(4)
		VSHUFF32X4(U8(0x44), u[4+j], u[j], v[0])    // columns j, j+4 of rows 0-3, then of rows 4-7
		VSHUFF32X4(U8(0xEE), u[4+j], u[j], v[1])    // columns j+8, j+12 likewise
		VSHUFF32X4(U8(0x44), u[12+j], u[8+j], v[2]) // rows 8-11, 12-15
		VSHUFF32X4(U8(0xEE), u[12+j], u[8+j], v[3])
		for q, pair := range [][2]VecVirtual{{v[0], v[2]}, {v[1], v[3]}} {
			lo, hi := is.vec(), is.vec()
			VSHUFF32X4(U8(0x88), pair[1], pair[0], lo) // lanes 0 2 of each: column j+8q
			VSHUFF32X4(U8(0xDD), pair[1], pair[0], hi) // lanes 1 3: column j+8q+4
			c[j+8*q], c[j+8*q+4] = lo, hi
		}
	}
	return c
}

// log2 returns the base-2 logarithm of the power of 2 n.
func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	return l
}
