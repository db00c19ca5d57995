package main

// The NEON twin of gemm.go's micro-kernel.

// The NEON tile of Gemm, 8 rows × 12 columns of C (3 vectors a row): 24
// accumulators, with the 3 vectors of B̃ and the Ã elements of a step beside
// them in the 32 registers. Per step the kernel loads 3 vectors of B̃ and 8
// elements of Ã for 24 multiply-adds, where 12 × 8 would load 2 and 12; and
// 12 columns take the 10 classes of a 10-class head in one tile.
const (
	gemmMRNEON = 8
	gemmNRNEON = 12
)

// gemmTile (twin: gemmTileGeneric): C's tile = alpha·Ã·B̃ (+ C if add), the
// product of an Ã panel of 8 rows and a B̃ panel of 12 columns in the 24
// accumulators acc[r][v] (row r, columns 4v … 4v+3). Each step p adds
// a_rp·b_p to them with one FMA per element, in the twin's order of p;
// a_rp is at a + r·ars + p·aps:
//
//   - ars = 1 (Ã holds columns: Aᵀ packed, or kc = 1): the 8 elements of a
//     step are consecutive, two vectors, and each row multiplies by its
//     lane (FMLA by element);
//   - otherwise (Ã holds rows of kc): each row has its pointer, advanced
//     by aps, and its element is broadcast to every lane (LD1R), 4 rows
//     ahead of their multiply-adds.
//
// Then each of the mr rows gets c = fma(alpha, acc, c), or alpha·acc
// without add (C is then not read), on its nr columns only.
func (n *neon) gemmTile() {
	n.text("gemmTile",
		"func(kc int, a []float32, ars, aps int, b []float32, bps int, c []float32, ldc, mr, nr int, alpha float32, add bool)",
		"gemmTileGeneric",
		"Its tile is 8 rows × 12 columns (gemmMRNEON × gemmNRNEON): a holds an Ã",
		"panel of 8 rows, b a B̃ panel of kc rows of 12 at stride bps.")
	n.goConst("gemmMRNEON", gemmMRNEON, "gemmMRNEON is the rows of gemmTileNEON's tile.")
	n.goConst("gemmNRNEON", gemmNRNEON, "gemmNRNEON is the columns of gemmTileNEON's tile.")
	t := neonGemmTile{n: n, acc: make([][]vreg, gemmMRNEON)}
	for r := range t.acc {
		t.acc[r] = n.vecs(gemmNRNEON / neonLanes)
		for _, x := range t.acc[r] {
			n.zero(x)
		}
	}
	n.scope(func() {
		t.a, t.b, t.k, t.ars, t.aps4 = n.load("a_base"), n.load("b_base"), n.load("kc"), n.load("ars"), n.load("aps")
		n.LSL(imm(2), t.aps4, t.aps4)
		t.bps4 = n.load("bps")
		n.LSL(imm(2), t.bps4, t.bps4)
		strided, store := n.label("strided"), n.label("store")
		n.CMP(imm(1), t.ars)
		n.B("NE", strided)
		n.scope(t.byColumns)
		n.B("", store)
		n.Label(strided)
		n.scope(t.byRows)
		n.Label(store)
	})
	t.store()
	n.ret()
}

// neonGemmTile is gemmTile's state: the accumulators acc[r][v] and, while
// they accumulate, the pointers and strides of Ã and B̃ and the steps left.
type neonGemmTile struct {
	n                  *neon
	acc                [][]vreg
	a, b, k, ars, aps4 greg
	bps4               greg
}

// byColumns emits the steps for an Ã that holds columns: the 8 elements of
// a step are two vectors, and each row multiplies by its lane.
func (t neonGemmTile) byColumns() {
	n := t.n
	as, bs := n.vecs(gemmMRNEON/neonLanes), n.vecs(gemmNRNEON/neonLanes)
	loop := n.label("columns")
	n.counted("8×12 multiply-add, Ã by columns", "step", func() {
		n.Label(loop)
		n.VLD1step(t.a, t.aps4, as...)
		n.VLD1step(t.b, t.bps4, bs...)
		for r, row := range t.acc {
			for v, x := range row {
				n.FMLAe(as[r/neonLanes], r%neonLanes, bs[v], x) // acc += b·a_r
			}
		}
		n.SUBS(imm(1), t.k, t.k)
		n.B("NE", loop)
	})
}

// byRows emits the steps for an Ã that holds rows of kc: each row has its
// pointer, and its element is broadcast to every lane, 4 rows ahead of
// their multiply-adds.
func (t neonGemmTile) byRows() {
	n := t.n
	const ahead = 4 // rows whose broadcast is loaded before their multiply-adds
	rows := make([]greg, gemmMRNEON)
	n.LSL(imm(2), t.ars, t.ars)
	for r := range rows {
		rows[r] = n.gp()
		if r == 0 {
			n.MOVD(t.a, rows[r])
		} else {
			n.ADD(t.ars, rows[r-1], rows[r])
		}
	}
	bs, as := n.vecs(gemmNRNEON/neonLanes), n.vecs(ahead)
	loop := n.label("rows")
	n.counted("8×12 multiply-add, Ã by rows", "step", func() {
		n.Label(loop)
		n.VLD1step(t.b, t.bps4, bs...)
		for r := range ahead {
			n.VLD1Rstep(rows[r], t.aps4, as[r])
		}
		for r, row := range t.acc {
			ar := as[r%ahead]
			for v, x := range row {
				n.VFMLA(bs[v], ar, x) // acc += a_r·b
			}
			if r+ahead < len(rows) {
				n.VLD1Rstep(rows[r+ahead], t.aps4, ar)
			}
		}
		n.SUBS(imm(1), t.k, t.k)
		n.B("NE", loop)
	})
}

// store emits the tile's stores: each of the mr rows gets c = fma(alpha,
// acc, c), or alpha·acc without add, on its nr columns only.
func (t neonGemmTile) store() {
	n, acc := t.n, t.acc
	const vecs = gemmNRNEON / neonLanes
	s := gemmStoreNEON{n: n, alpha: n.loadF32("alpha"), negZero: n.vec(), add: n.loadBool("add")}
	n.zero(s.negZero)
	n.FNEG(s.negZero, s.negZero)
	c, ldc4, rows, cols := n.load("c_base"), n.load("ldc"), n.load("mr"), n.load("nr")
	n.LSL(imm(2), ldc4, ldc4)
	edge, done := n.label("edge"), n.label("done")
	n.CMP(imm(gemmNRNEON), cols)
	n.B("NE", edge)
	// Rows of all 12 columns, one after the other, until mr.
	for r, row := range acc {
		if r > 0 {
			n.SUBS(imm(1), rows, rows)
			n.B("EQ", done)
		}
		n.scope(func() {
			q := n.gp()
			n.MOVD(c, q)
			s.update(group{n: n, vecs: vecs}, row, q)
		})
		if r+1 < len(acc) {
			n.ADD(ldc4, c, c)
		}
	}
	n.B("", done)
	// Fewer columns: a loop over the mr rows, each a pass over its nr
	// columns (whole vectors, then the lanes of a partial one) that stores
	// acc[0][0]. The registers rotate, since the loops cannot index them:
	// after a vector the row's next ones move down one, after a row the
	// rows below move up one.
	n.Label(edge)
	n.rowLoop(rows, func() {
		q := n.gp()
		n.MOVD(c, q)
		n.ADD(ldc4, c, c)
		npass{n: n, unroll: 1, body: func(g group) {
			s.update(g, acc[0][:1], q)
			if !g.part {
				for v := 0; v+1 < vecs; v++ {
					n.VMOV(acc[0][v+1], acc[0][v])
				}
			}
		}}.emit(cols)
		for r := 0; r+1 < len(acc); r++ {
			for v := range acc[r] {
				n.VMOV(acc[r+1][v], acc[r][v])
			}
		}
	})
	n.Label(done)
}

// gemmStoreNEON holds the registers of gemmTile's stores: alpha and −0 in
// every lane, and add (1 or 0).
type gemmStoreNEON struct {
	n              *neon
	alpha, negZero vreg
	add            greg
}

// update stores alpha·x + c for each x of xs over the vectors of g at q (q
// advances past them), c the elements there if add (then read first) and
// −0 if not: x + (−0) is x for every x, +0 included, so alpha·x + (−0)
// rounded once is the twin's alpha·acc, and neither path reads more of C
// than it writes.
func (s gemmStoreNEON) update(g group, xs []vreg, q greg) {
	n := s.n
	n.scope(func() {
		cs := n.vecs(len(xs))
		for _, c := range cs {
			n.VMOV(s.negZero, c)
		}
		fresh := n.label("fresh")
		n.CBZ(s.add, fresh)
		if g.part {
			p := n.gp()
			n.MOVD(q, p)
			n.lanes(g.rem, func(i int) { n.VLD1lane(p, cs[0], i) })
		} else {
			n.VLD1(q, 0, cs...)
		}
		n.Label(fresh)
		for i, x := range xs {
			n.VFMLA(s.alpha, x, cs[i]) // c += x·alpha
		}
		g.store(cs, q)
	})
}
