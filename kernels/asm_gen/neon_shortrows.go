package main

// The NEON twin of shortrows.go's softmaxShortRows.

// neonShortRowsMaxCols is the longest row softmaxShortRowsNEON takes: four
// 4×4 blocks, whose 16 columns, exp's constants and two exps' temporaries
// fill the 32 registers.
const neonShortRowsMaxCols = 16

// softmaxShortRows (twin: expRowsGeneric and scaleRowsGeneric, row by
// row): the softmax of groups of 4 rows of up to 16 elements. As on amd64,
// the group is transposed in registers, a 4×4 block at a time (TRN1 and
// TRN2 on 32-bit, then on 64-bit lanes), so that each vector holds one
// column of the group: the maxima and sums are lane-wise FMAX and FADD
// across the column vectors, every lane of every exp a real element. The
// code is emitted once per number of blocks (1 … 4); the last block's
// columns past the row's end are loaded as −Inf (their exps are 0) and
// never stored. Every row of a group is loaded before any is stored, so
// dst may be src.
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
	g.rem = n.gp()
	done := n.label("done")
	for blocks := 1; blocks <= neonShortRowsMaxCols/neonLanes; blocks++ {
		next := n.label("blocks")
		if blocks < neonShortRowsMaxCols/neonLanes {
			n.CMP(imm(blocks*neonLanes), g.cols)
			n.B("GT", next)
		}
		// rem: the last block's columns, 1 … 4.
		n.SUB(imm((blocks-1)*neonLanes), g.cols, g.rem)
		n.rowLoopTo(g.src, g.end, func() { g.group(blocks) })
		n.B("", done)
		n.Label(next)
	}
	n.Label(done)
	n.ret()
}

// neonShortRows is softmaxShortRows' state: the pointers the loads and
// stores advance, a group at a time, and exp's constants.
type neonShortRows struct {
	n                           *neon
	k                           *neonExpK
	dst, src, end, cols, mp, zp greg
	rem                         greg // the last block's columns, 1 … 4
}

// group emits one group of 4 rows of blocks 4×4 blocks: loads, transposes,
// max, exps, sum, scale, transposes back, stores.
func (g neonShortRows) group(blocks int) {
	n := g.n
	rows := make([][]vreg, neonLanes) // rows[r][b]: block b of row r
	ninf := n.vec()
	n.scope(func() {
		t := n.gp()
		n.MOVD("$"+n.float32s("negInf", []float32{float32(negInf.value)}, []string{"−Inf"})+"(SB)", t)
		n.VLD1R(t, 0, ninf)
	})
	for r := range rows {
		rows[r] = n.vecs(blocks)
		for b := range blocks - 1 {
			n.VLD1(g.src, 16, rows[r][b])
		}
		g.lastBlock(func() { n.VLD1(g.src, 16, rows[r][blocks-1]) }, func() {
			v := rows[r][blocks-1]
			n.VMOV(ninf, v)
			n.lanes(g.rem, func(i int) { n.VLD1lane(g.src, v, i) })
		})
	}
	n.release(ninf)
	// Columns: c[4b+j] is column j of block b.
	var c []vreg
	for b := range blocks {
		c = append(c, g.transpose(rows[0][b], rows[1][b], rows[2][b], rows[3][b])...)
	}
	mx := g.tree(c, n.FMAX)
	// e^(c_j − mx), two columns at a time (their exps' temporaries and
	// the 16 columns fill the registers).
	e := make([]vreg, len(c))
	for j := 0; j < len(c); j += 2 {
		as := c[j : j+2]
		for _, a := range as {
			n.FSUB(mx, a, a)
		}
		fs := g.k.exp(n, as)
		n.release(as...)
		e[j], e[j+1] = fs[0], fs[1]
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
	// Rows again, block by block, and stored row by row.
	for b := range blocks {
		out := g.transpose(e[4*b], e[4*b+1], e[4*b+2], e[4*b+3])
		for r := range rows {
			rows[r][b] = out[r]
		}
	}
	for r := range rows {
		for b := range blocks - 1 {
			n.VST1(g.dst, 16, rows[r][b])
		}
		v := rows[r][blocks-1]
		g.lastBlock(func() { n.VST1(g.dst, 16, v) }, func() {
			n.lanes(g.rem, func(i int) { n.VST1lane(v, i, g.dst) })
		})
	}
	for r := range rows {
		n.release(rows[r]...)
	}
}

// transpose turns the 4 registers of a 4×4 block (rows, or columns) into
// its columns (rows), in the same registers: TRN1 and TRN2 pair the
// 32-bit lanes of two rows, then the 64-bit lanes of two pairs.
func (g neonShortRows) transpose(r0, r1, r2, r3 vreg) []vreg {
	n := g.n
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

// lastBlock emits full when the last block is whole (rem is 4) and part
// otherwise.
func (g neonShortRows) lastBlock(full, part func()) {
	n := g.n
	partial, done := n.label("part"), n.label("block")
	n.CMP(imm(neonLanes), g.rem)
	n.B("NE", partial)
	full()
	n.B("", done)
	n.Label(partial)
	part()
	n.Label(done)
}
