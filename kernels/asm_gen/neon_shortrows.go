package main

import (
	"fmt"
	"math"
)

// The NEON twin of shortrows.go's softmaxShortRows.

// neonShortRowsMaxCols is the longest row softmaxShortRowsNEON takes: four
// 4×4 blocks, whose 16 columns, exp's constants and two exps' temporaries
// fill the 32 registers.
const neonShortRowsMaxCols = 16

// softmaxShortRows (twin: expRowsGeneric and scaleRowsGeneric, row by
// row): the softmax of groups of 4 rows of up to 16 elements, with the
// group's columns one to a vector, so that the maxima and sums are
// lane-wise FMAX and FADD across them and every lane of every exp is a real
// element. Rows of 1 … 4 columns make a group of 4·cols consecutive
// elements, which LDn (n = cols) de-interleaves into its columns and STn
// interleaves back. Longer rows are loaded a 4×4 block at a time and
// transposed in registers (TRN1 and TRN2 on 32-bit, then on 64-bit lanes);
// a row's last block is the row's last 4 elements, whose lanes that repeat
// the block before are set to −Inf (their exps are 0), and it is stored
// before the other blocks, which overwrite those lanes (when its first two
// lanes both repeat, their exps are not taken: zeros). The code is emitted
// once per row length up to 4 and per number of blocks above. Every row of
// a group is loaded before any is stored, so dst may be src. Addresses are
// offsets from the group's row pointers, not post-incremented: one
// register chain per group, not one per load.
func (n *neon) softmaxShortRows() {
	n.text("softmaxShortRows", "func(dst, src []float32, cols int, scale float32, m, z []float32)",
		"expRowsGeneric and scaleRowsGeneric",
		"0 < cols ≤ 16 (softmaxShortRowsMaxColsNEON); the rows, len(src)/cols,",
		"come in whole groups of 4 (softmaxShortRowsGroupNEON).",
		"dst_i = e^(x_i − m_r)/(Z_r·scale); m and z receive each row's max and Z.")
	n.goConst("softmaxShortRowsMaxColsNEON", neonShortRowsMaxCols, "softmaxShortRowsMaxColsNEON is the longest row softmaxShortRowsNEON takes.")
	n.goConst("softmaxShortRowsGroupNEON", neonLanes, "softmaxShortRowsGroupNEON is the rows softmaxShortRowsNEON takes at a time.")
	g := neonShortRows{n: n}
	g.dst, g.src, g.cols = n.load("dst_base"), n.load("src_base"), n.load("cols")
	g.mp, g.zp = n.load("m_base"), n.load("z_base")
	g.end = n.endOf(g.src, "src_len")
	g.k = n.expConsts()
	done := n.label("done")
	for cols := 1; cols <= neonLanes; cols++ {
		next := n.label("cols")
		n.CMP(imm(cols), g.cols)
		n.B("NE", next)
		n.rowLoopTo(g.src, g.end, func() { g.interleaved(cols) })
		n.B("", done)
		n.Label(next)
	}
	// stride: a row, in bytes; last: the offset of a row's last block;
	// mask: the lanes of the last block to set to −Inf, as +Inf (kept) or
	// −Inf (set) for FMIN.
	g.stride, g.last, g.repeated, g.mask = n.gp(), n.gp(), n.gp(), n.gp()
	n.LSL(imm(2), g.cols, g.stride)
	n.SUB(imm(4*neonLanes), g.stride, g.last)
	for blocks := 2; blocks <= neonShortRowsMaxCols/neonLanes; blocks++ {
		next := n.label("blocks")
		if blocks < neonShortRowsMaxCols/neonLanes {
			n.CMP(imm(blocks*neonLanes), g.cols)
			n.B("GT", next)
		}
		// The last block repeats 4·blocks − cols lanes: mask row
		// 4·blocks − cols of the table.
		n.MOVD(imm(blocks*neonLanes), g.repeated)
		n.SUB(g.cols, g.repeated, g.repeated)
		n.MOVD("$"+g.maskTable()+"(SB)", g.mask)
		n.ADD(shifted(g.repeated, 4), g.mask, g.mask)
		n.rowLoopTo(g.src, g.end, func() { g.blocked(blocks) })
		n.B("", done)
		n.Label(next)
	}
	n.Label(done)
	n.ret()
}

// neonShortRows is softmaxShortRows' state: the pointers a group at a time
// advances, exp's constants, and the blocked groups' row geometry.
type neonShortRows struct {
	n                           *neon
	k                           *neonExpK
	dst, src, end, cols, mp, zp greg
	stride, last, mask          greg // bytes a row, its last block's offset, the last block's FMIN mask
	repeated                    greg // the lanes of the last block that repeat the block before
}

// maskTable is the last block's FMIN masks: row d (16 bytes) sets the first
// d lanes to −Inf and keeps the others (+Inf).
func (g neonShortRows) maskTable() string {
	var vals []float32
	var notes []string
	for d := range neonLanes {
		for j := range neonLanes {
			v, note := float32(math.Inf(1)), "+Inf"
			if j < d {
				v, note = float32(math.Inf(-1)), "−Inf"
			}
			vals, notes = append(vals, v), append(notes, fmt.Sprintf("%s (lane %d; %d lanes repeated)", note, j, d))
		}
	}
	return g.n.float32s("shortRowsMask", vals, notes)
}

// interleaved emits one group of 4 rows of cols ≤ 4 elements: 4·cols
// consecutive elements, de-interleaved into columns by LDn and interleaved
// back by STn.
func (g neonShortRows) interleaved(cols int) {
	n := g.n
	c := n.vecs(cols)
	n.VLDn(g.src, 16*cols, c...)
	e := g.softmaxColumns(c, cols, -1)
	n.VSTn(g.dst, 16*cols, e...)
	n.release(e...)
}

// blocked emits one group of 4 rows of blocks 4×4 blocks: loads,
// transposes, the softmax of the columns, transposes back, stores.
func (g neonShortRows) blocked(blocks int) {
	n := g.n
	// The mask's register below the rows', as the exps' pairs of
	// consecutive registers need them laid out.
	mask := n.vec()
	rows := make([][]vreg, neonLanes) // rows[r][b]: block b of row r
	for r := range rows {
		rows[r] = n.vecs(blocks)
	}
	n.VLD1(g.mask, 0, mask)
	n.scope(func() {
		g.rowPointers(g.src, func(r int, p, last greg) {
			for b := range blocks - 1 {
				n.LDRQ(p, 16*b, rows[r][b])
			}
			v := rows[r][blocks-1]
			n.LDRQ(last, 0, v)
			n.FMIN(mask, v, v)
		})
	})
	n.release(mask)
	n.ADD(shifted(g.stride, 2), g.src, g.src)
	// Columns: c[4b+j] is column j of block b.
	var c []vreg
	for b := range blocks {
		c = append(c, n.transpose4(rows[0][b], rows[1][b], rows[2][b], rows[3][b])...)
	}
	// Two columns' exps at a time: their temporaries and 16 columns fill
	// the registers. The last block's first two columns are both repeats
	// when 2 or 3 lanes are (rows of 9, 10, 13, 14 columns): their exps,
	// which the masks make 0, are skipped for zeros.
	e := g.softmaxColumns(c, 2, 4*(blocks-1))
	// Rows again, block by block, and stored row by row, the last block
	// first.
	for b := range blocks {
		out := n.transpose4(e[4*b], e[4*b+1], e[4*b+2], e[4*b+3])
		for r := range rows {
			rows[r][b] = out[r]
		}
	}
	n.scope(func() {
		g.rowPointers(g.dst, func(r int, p, last greg) {
			n.STRQ(rows[r][blocks-1], last, 0)
			for b := range blocks - 1 {
				n.STRQ(rows[r][b], p, 16*b)
			}
		})
	})
	n.ADD(shifted(g.stride, 2), g.dst, g.dst)
	for r := range rows {
		n.release(rows[r]...)
	}
}

// rowPointers calls each with each row r of the group at p, its address
// and its last block's.
func (g neonShortRows) rowPointers(p greg, each func(r int, p, last greg)) {
	n := g.n
	row, last := p, n.gp()
	for r := range neonLanes {
		if r > 0 {
			next := n.gp()
			n.ADD(g.stride, row, next)
			row = next
		}
		n.ADD(g.last, row, last)
		each(r, row, last)
	}
}

// softmaxColumns returns e^(c_j − max)/(Z·scale) for the columns c, lane by
// lane (each lane a row), max and Z taken across c and stored to m and z;
// the exps are taken at most at a time columns at once, into consecutive
// registers, and those of the pair at repeats (unless −1) are zeros when 2
// or more lanes of the last block are repeats. c are released.
func (g neonShortRows) softmaxColumns(c []vreg, at, repeats int) []vreg {
	n := g.n
	mx := g.tree(c, n.FMAX)
	var e []vreg
	for j := 0; j < len(c); j += at {
		as := c[j:min(j+at, len(c))]
		skip, done := "", ""
		if j == repeats {
			skip, done = n.label("repeats"), n.label("exps")
			n.CMP(imm(2), g.repeated)
			n.B("GE", skip)
		}
		for _, a := range as {
			n.FSUB(mx, a, a)
		}
		fs := g.k.exp(n, as)
		if skip != "" {
			n.B("", done)
			n.Label(skip)
			for _, f := range fs {
				n.zero(f)
			}
			n.Label(done)
		}
		e = append(e, fs...)
		n.release(as...)
	}
	z := g.tree(e, n.FADD)
	n.VST1(g.mp, 16, mx)
	n.VST1(g.zp, 16, z)
	n.release(mx)
	// 1/(Z·scale), every exp scaled by it.
	n.scope(func() {
		inv, zs := n.vec(), n.loadF32("scale")
		n.FMUL(z, zs, zs)
		t := n.gp()
		n.MOVD("$"+n.float32s("one", []float32{1}, []string{"1"})+"(SB)", t)
		n.VLD1R(t, 0, inv)
		n.FDIV(zs, inv, inv)
		for _, v := range e {
			n.FMUL(inv, v, v)
		}
	})
	n.release(z)
	return e
}

// transpose4 turns the 4 registers of a 4×4 block (rows, or columns) into
// its columns (rows), in the same registers: TRN1 and TRN2 pair the
// 32-bit lanes of two rows, then the 64-bit lanes of two pairs.
func (n *neon) transpose4(r0, r1, r2, r3 vreg) []vreg {
	n.scope(func() {
		t := n.vecs(4)
		n.VTRN1(r1, r0, t[0], false)  // a0 b0 a2 b2
		n.VTRN2(r1, r0, t[1], false)  // a1 b1 a3 b3
		n.VTRN1(r3, r2, t[2], false)  // c0 d0 c2 d2
		n.VTRN2(r3, r2, t[3], false)  // c1 d1 c3 d3
		n.VTRN1(t[2], t[0], r0, true) // a0 b0 c0 d0
		n.VTRN1(t[3], t[1], r1, true) // a1 b1 c1 d1
		n.VTRN2(t[2], t[0], r2, true) // a2 b2 c2 d2
		n.VTRN2(t[3], t[1], r3, true) // a3 b3 c3 d3
	})
	return []vreg{r0, r1, r2, r3}
}

// tree returns op of vs lane by lane in a new register, pairwise (no chain
// longer than log2(len(vs))); vs are left as they are.
func (g neonShortRows) tree(vs []vreg, op func(m, nn, dst vreg)) vreg {
	n := g.n
	level, owned := vs, false
	for len(level) > 1 {
		var next []vreg
		for i := 0; i+1 < len(level); i += 2 {
			d := n.vec()
			op(level[i+1], level[i], d)
			if owned {
				n.release(level[i], level[i+1])
			}
			next = append(next, d)
		}
		if len(level)%2 == 1 {
			last := level[len(level)-1]
			if !owned {
				d := n.vec()
				n.VMOV(last, d)
				last = d
			}
			next = append(next, last)
		}
		level, owned = next, true
	}
	if !owned {
		d := n.vec()
		n.VMOV(level[0], d)
		return d
	}
	return level[0]
}
