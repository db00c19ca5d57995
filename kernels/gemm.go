package kernels

import (
	"sync"

	"github.com/klauspost/cpuid/v2"
)

// The general matrix product, once for every implementation: the five loops
// of a BLIS GEMM around register-blocked micro-kernels generated per isa
// (asm_gen/gemm.go; the design and its measurements: docs/gemm.md). The k
// dimension is cut into blocks of kc, and for each block
//
//   - op(B)'s block (kc × nc columns) is packed into panels of nr columns,
//     each panel kc rows of nr contiguous floats, so that the micro-kernel
//     loads its vectors from consecutive addresses;
//   - op(A)'s block (mc rows × kc) is packed into panels of mr rows, in the
//     layout that makes packing a copy: a row of A (op(A) = A) stays a row
//     of kc floats; for op(A) = Aᵀ, whose rows are columns of A, the block
//     stays kc rows of mc floats (padded to whole panels). The
//     micro-kernel broadcasts each element of a panel through two strides,
//     so it reads either layout;
//   - each row of mr × nr tiles of C gets C = alpha·Ã·B̃ + C (or + 0 for the
//     first block when beta is 0, which never reads C), a panel of Ã held
//     in L1 while the panels of B̃ pass it from L2.
//
// The block sizes come from the caches cpuid reports (gemmBlocking). A
// product can also run on Cᵀ (gemmTileT) or, for A·Bᵀ with few columns, as
// dot products (gemmDot).

// gemmTiling is the register tile of one micro-kernel (mr × nr) and the
// block sizes around it: kc of the summed dimension, mc rows of A, nc
// columns of B; and kcStream, the kc of a product whose panels of B̃ are
// each read by at most two tiles, so that no panel needs to stay in L1.
type gemmTiling struct{ mr, nr, kc, mc, nc, kcStream int }

// gemmBlocking returns the tiling for the tile shape mr × nr, with blocks
// from the cache sizes l1, l2 and l3 (bytes; 0 when unknown).
func gemmBlocking(mr, nr, l1, l2, l3 int) gemmTiling {
	if l1 <= 0 {
		l1 = 32 << 10
	}
	if l2 <= 0 {
		l2 = 256 << 10
	}
	if l3 <= 0 {
		l3 = 4 << 20
	}
	// A panel of B̃ in half of L1, so that the panels of Ã and the tile of
	// C find room beside it.
	kc := clampInt(l1/2/(4*nr), 64, 512) &^ 15
	// Ã in half of L2.
	mc := clampInt(l2/2/(4*kc), mr, 1<<12) / mr * mr
	// B̃ in a quarter of the last level: the cache is shared, and on a
	// virtual machine most of it belongs to other cores.
	nc := clampInt(l3/4/(4*kc), nr, 1<<14) / nr * nr
	// A panel of B̃ read by one or two tiles only: in a quarter of L2, which
	// keeps C's tiles from being read and written once per block of k.
	kcStream := max(kc, clampInt(l2/4/(4*nr), 64, 4096)&^15)
	return gemmTiling{mr: mr, nr: nr, kc: kc, mc: mc, nc: nc, kcStream: kcStream}
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// gemmTilings holds each isa's tilings, of gemmTile ([0]) and of gemmTileT
// ([1]; zero where the isa has no gemmTileT). A variable, so that tests can
// make the blocks small enough for small shapes to cross every boundary.
var gemmTilings [isaNEON + 1][2]gemmTiling

func init() {
	l1, l2, l3 := cacheSizes()
	for i := range gemmTilings {
		mr, nr, mrT, nrT := isa(i).gemmShape()
		gemmTilings[i][0] = gemmBlocking(mr, nr, l1, l2, l3)
		if mrT > 0 {
			gemmTilings[i][1] = gemmBlocking(mrT, nrT, l1, l2, l3)
		}
	}
}

// gemmBuf holds the packed blocks of one call. The buffers of finished calls
// are kept in gemmBufs and reused, so that a call in steady state allocates
// nothing, whichever goroutine makes it.
type gemmBuf struct{ a, b []float32 }

var gemmBufs sync.Pool

func getGemmBuf(na, nb int) *gemmBuf {
	g, _ := gemmBufs.Get().(*gemmBuf)
	if g == nil {
		g = new(gemmBuf)
	}
	if cap(g.a) < na {
		g.a = make([]float32, na)
	}
	if cap(g.b) < nb {
		g.b = make([]float32, nb)
	}
	g.a, g.b = g.a[:na], g.b[:nb]
	return g
}

// gemm is Gemm after the argument checks, with m, n > 0.
func gemm(is isa, threads int, transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || kk == 0 {
		scaleMatrix(c, ldc, m, n, beta)
		return
	}
	if beta != 0 && beta != 1 {
		scaleMatrix(c, ldc, m, n, beta)
	}
	gemmAdd(is, threads, transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta != 0, c, ldc)
}

// gemmAdd sets C = alpha·op(A)·op(B) + C (or + 0 without add: C is then
// not read). It runs A·Bᵀ with few columns as dot products (gemmDot), and
// every other product as it is or on Cᵀ = op(B)ᵀ·op(A)ᵀ with tiles written
// transposed (gemmTileT), whichever gemmSwaps expects to be faster.
func gemmAdd(is isa, threads int, transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, add bool, c []float32, ldc int) {
	switch gemmPathOf(is, transA, transB, m, n, kk) {
	case gemmPathDots:
		gemmDots(is, threads, m, n, kk, alpha, a, lda, b, ldb, add, c, ldc)
	case gemmPathSwapped:
		g := gemmRun{is: is, threads: threads, tiling: gemmTilings[is][1], kk: kk, alpha: alpha, add: add, c: c, ldc: ldc, cT: true}
		g.run(!transB, !transA, n, m, b, ldb, a, lda)
	default:
		g := gemmRun{is: is, threads: threads, tiling: gemmTilings[is][0], kk: kk, alpha: alpha, add: add, c: c, ldc: ldc}
		g.run(transA, transB, m, n, a, lda, b, ldb)
	}
}

// The three ways gemmAdd runs a product.
const (
	gemmPathTiles   = iota // packed blocks, gemmTile
	gemmPathSwapped        // packed blocks of Cᵀ = op(B)ᵀ·op(A)ᵀ, gemmTileT
	gemmPathDots           // gemmDot, no packing
)

func gemmPathOf(is isa, transA, transB bool, m, n, kk int) int {
	switch {
	case !transA && transB && gemmDotsFor(is, n, kk):
		return gemmPathDots
	case gemmSwapsFor(gemmTilings[is], transA, transB, m, n):
		return gemmPathSwapped
	}
	return gemmPathTiles
}

// gemmPackFloats returns the floats of packing buffer that gemmAdd asks for
// on this product (the first call, and the first after the buffers grew,
// allocates them).
func gemmPackFloats(is isa, transA, transB bool, m, n, kk int) int {
	var b gemmBlocks
	switch gemmPathOf(is, transA, transB, m, n, kk) {
	case gemmPathDots:
		return 0
	case gemmPathSwapped:
		b = blocksOf(gemmTilings[is][1], !transA, n, m, kk)
	default:
		b = blocksOf(gemmTilings[is][0], transB, m, n, kk)
	}
	return (b.mc + b.nc) * b.kc
}

// gemmDotsFor is gemmUsesDots, or in tests a choice forced either way.
var gemmDotsFor = gemmUsesDots

// gemmUsesDots reports whether A·Bᵀ (n columns, k summed) runs on gemmDot:
// where the packed tiles, nr columns wide, would leave more than a fifth of
// their lanes empty, up to 4 panels (measured from 8 to 48 columns:
// docs/gemm.md).
func gemmUsesDots(is isa, n, kk int) bool {
	R, _ := is.gemmDotShape()
	nr := gemmTilings[is][0].nr
	return R > 0 && n < 4*nr && 4*roundUp(n, nr) > 5*n
}

// gemmDots runs C = alpha·A·Bᵀ (+ C if add) on gemmDot's tiles, k in
// chunks of gemmDotK so that the tile's rows of A and B stay in L1.
func gemmDots(is isa, threads int, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, add bool, c []float32, ldc int) {
	if 2*m*n*kk < gemmSplitFlops {
		threads = 1
	}
	R, _ := is.gemmDotShape()
	job := gemmDotsJob{is: is, m: m, n: n, kk: kk, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, add: add, c: c, ldc: ldc}
	forShares(threads, (m+R-1)/R, job, 2*m*n*kk >= gemmWakeFlops)
}

// gemmDotsJob is gemmDots over shares of whole tiles of rows.
type gemmDotsJob struct {
	is       isa
	m, n, kk int
	alpha    float32
	a        []float32
	lda      int
	b        []float32
	ldb      int
	add      bool
	c        []float32
	ldc      int
}

func (d gemmDotsJob) run(lo, hi int) {
	R, J := d.is.gemmDotShape()
	a, b, c, lda, ldb, ldc := d.a, d.b, d.c, d.lda, d.ldb, d.ldc
	for p := 0; p < d.kk; p += gemmDotK {
		kc := min(gemmDotK, d.kk-p)
		for i := lo * R; i < min(hi*R, d.m); i += R {
			rows := min(R, d.m-i)
			ap := a[i*lda+p : (i+rows-1)*lda+p+kc]
			for j := 0; j < d.n; j += J {
				cols := min(J, d.n-j)
				bp := b[j*ldb+p : (j+cols-1)*ldb+p+kc]
				ct := c[i*ldc+j : (i+rows-1)*ldc+j+cols]
				d.is.gemmDot(kc, ap, lda, bp, ldb, ct, ldc, rows, cols, d.alpha, d.add || p > 0)
			}
		}
	}
}

// gemmDotK is the longest part of k that gemmDot's tiles take at once: 9
// rows of 4 KB, in L1.
const gemmDotK = 1024

// gemmSwapsFor is gemmSwaps, or in tests a choice forced either way.
var gemmSwapsFor = gemmSwaps

// gemmSwaps reports whether the product is better run on Cᵀ: it compares
// the multiply-adds of the tiles (padded to whole tiles) and the cost of
// packing with a transpose, which each side needs for one operand when its
// vectors run across the operand's rows (op(B) = Bᵀ, or op(A) = A for Cᵀ).
func gemmSwaps(t [2]gemmTiling, transA, transB bool, m, n int) bool {
	if t[1].mr == 0 {
		return false // no tile for Cᵀ
	}
	// A transposed element costs about a cycle (gemmPackT's share of
	// 256×1000×1024 NT), as much as 32 multiply-adds of a tile on AVX-512;
	// a tile of Cᵀ costs about a tenth more per multiply-add for its
	// transposed stores, half more where it holds half a vector of rows
	// (AVX2: 8 accumulators). With these, the faster side is chosen on
	// every shape of bench/ (docs/gemm.md).
	const transposeCost = 32
	tileTCost := 1.1
	if t[1].mr < 8 {
		tileTCost = 1.5
	}
	cost := float64(roundUp(m, t[0].mr) * roundUp(n, t[0].nr))
	if transB {
		cost += transposeCost * float64(n)
	}
	costT := tileTCost * float64(roundUp(n, t[1].mr)*roundUp(m, t[1].nr))
	if !transA {
		costT += transposeCost * float64(m)
	}
	return costT < cost
}

// gemmRun is one product around a micro-kernel: C (or Cᵀ, with cT) +=
// alpha·op(A)·op(B) with op(A) m×k and op(B) k×n; without add, the first
// block of k writes C without reading it.
type gemmRun struct {
	is      isa
	tiling  gemmTiling
	kk      int
	alpha   float32
	add     bool
	c       []float32
	ldc     int
	cT      bool
	threads int // the most goroutines the product splits into
}

// gemmBlocks are the sizes of one product's blocks: kc of the summed
// dimension, mc rows of op(A), nc columns of op(B); and whether B̃ is read
// in place.
type gemmBlocks struct {
	kc, mc, nc int
	bInPlace   bool
}

func blocksOf(t gemmTiling, transB bool, m, n, kk int) gemmBlocks {
	// With one or two tiles of rows, each panel of B̃ is read once or twice:
	// it need not stay in L1, so kc grows (fewer updates of C); and read in
	// place, it is not worth a copy (op(B) = B, whole panels).
	fewRows := m <= 2*t.mr
	kc := t.kc
	if n <= t.nr || fewRows {
		kc = t.kcStream
	}
	// Blocks of equal size: 784 = 4·196, not 3·256 + 16.
	kblocks := (kk + kc - 1) / kc
	return gemmBlocks{
		kc:       (kk + kblocks - 1) / kblocks,
		mc:       min(t.mc, roundUp(m, t.mr)),
		nc:       min(t.nc, roundUp(n, t.nr)),
		bInPlace: !transB && fewRows,
	}
}

func (g *gemmRun) run(transA, transB bool, m, n int, a []float32, lda int, b []float32, ldb int) {
	part := gemmPart{g: *g, blocks: blocksOf(g.tiling, transB, m, n, g.kk),
		transA: transA, transB: transB, m: m, n: n, a: a, lda: lda, b: b, ldb: ldb}
	threads := g.threads
	if 2*m*n*g.kk < gemmSplitFlops {
		threads = 1
	}
	// Shares of whole panels of Ã, each packing its own and all of B̃,
	// which measured faster than shares of panels of B̃ (docs/threads.md);
	// those where there are too few panels of Ã to go round.
	part.byRows = true
	grains := (m + g.tiling.mr - 1) / g.tiling.mr
	if grains < 2*threads {
		part.byRows = false
		grains = (n + g.tiling.nr - 1) / g.tiling.nr
	}
	forShares(threads, grains, part, 2*m*n*g.kk >= gemmWakeFlops)
}

// gemmSplitFlops is the least work of a Gemm product split across
// goroutines (docs/threads.md). A variable, so that tests can split small
// products.
var gemmSplitFlops = 1 << 22

// gemmWakeFlops is the least work of a product that wakes sleeping helpers
// (see withHelpers); a variable for tests.
var gemmWakeFlops = 1 << 26

// gemmPart is a product of gemmRun with its blocks chosen, run over a share
// of its panels: of B̃ (columns of C), or with byRows of Ã (rows of C).
// Every share sums the same blocks of k in the same order, so C does not
// depend on the split.
type gemmPart struct {
	g              gemmRun
	blocks         gemmBlocks
	transA, transB bool
	m, n           int
	a              []float32
	lda            int
	b              []float32
	ldb            int
	byRows         bool
}

func (p gemmPart) run(lo, hi int) {
	if p.byRows {
		mr := p.g.tiling.mr
		p.area(lo*mr, min(hi*mr, p.m), 0, p.n)
		return
	}
	nr := p.g.tiling.nr
	p.area(0, p.m, lo*nr, min(hi*nr, p.n))
}

// area computes the rows [i0, i1) × columns [j0, j1) of C (or Cᵀ).
func (p gemmPart) area(i0, i1, j0, j1 int) {
	g, t, kk := &p.g, p.g.tiling, p.g.kk
	kc, mc, nc, bInPlace := p.blocks.kc, p.blocks.mc, p.blocks.nc, p.blocks.bInPlace
	transA, transB, a, lda, b, ldb := p.transA, p.transB, p.a, p.lda, p.b, p.ldb
	buf := getGemmBuf(mc*kc, nc*kc)
	defer gemmBufs.Put(buf)

	for jc := j0; jc < j1; jc += nc {
		ncb := min(nc, j1-jc)
		for pc := 0; pc < kk; pc += kc {
			kcb := min(kc, kk-pc)
			add := pc > 0 || g.add
			if bInPlace {
				// Only a last, partial panel is packed.
				if last := ncb / t.nr * t.nr; last < ncb {
					packB(g.is, buf.b[last*kcb:], transB, b, ldb, pc, jc+last, kcb, ncb-last, t.nr)
				}
			} else {
				packB(g.is, buf.b, transB, b, ldb, pc, jc, kcb, ncb, t.nr)
			}
			for ic := i0; ic < i1; ic += mc {
				mcb := min(mc, i1-ic)
				// Whole panels of Ã are read where they are when one or two
				// panels of B̃ read each: a copy would save nothing. Read by
				// more, a panel is packed: in place, its rows lie lda apart,
				// in as many lines of L1, all in one set when lda is a
				// multiple of 1024. A last, partial panel is packed either
				// way (the micro-kernel reads whole panels).
				inPlace := 0
				if ncb <= 2*t.nr {
					inPlace = mcb / t.mr * t.mr
				}
				if inPlace > 0 {
					ap, ars, aps := panelOf(transA, a, lda, ic, pc, inPlace, kcb)
					g.block(ap, ars, aps, ic, inPlace, jc, ncb, pc, kcb, b, ldb, bInPlace, buf.b, add)
				}
				if inPlace < mcb {
					rows := mcb - inPlace
					ars, aps := packA(buf.a, transA, a, lda, ic+inPlace, pc, rows, kcb, t.mr)
					ap := buf.a[:(roundUp(rows, t.mr)-1)*ars+(kcb-1)*aps+1]
					g.block(ap, ars, aps, ic+inPlace, rows, jc, ncb, pc, kcb, b, ldb, bInPlace, buf.b, add)
				}
			}
		}
	}
}

// block runs the micro-kernel on the rows × ncb block of C (or Cᵀ) at
// (i, jc): the panels of Ã at ap (element (r, p) of the block at r·ars +
// p·aps), and those of B̃, the whole ones in place in B when bInPlace, then
// the packed ones in bBuf.
func (g *gemmRun) block(ap []float32, ars, aps, i, rows, jc, ncb, pc, kcb int, b []float32, ldb int, bInPlace bool, bBuf []float32, add bool) {
	nr := g.tiling.nr
	packed := 0
	if bInPlace {
		packed = ncb / nr * nr
		if packed > 0 {
			first := pc*ldb + jc
			bp := b[first : first+(kcb-1)*ldb+packed]
			g.tiles(kcb, ap, ars, aps, bp, ldb, nr, i, jc, rows, packed, add)
		}
	}
	if packed < ncb {
		bp := bBuf[packed*kcb : roundUp(ncb, nr)*kcb]
		g.tiles(kcb, ap, ars, aps, bp, nr, nr*kcb, i, jc+packed, rows, ncb-packed, add)
	}
}

// tiles runs the micro-kernel on the rows × cols of C, or of Cᵀ, at (i, j):
// the panels of Ã, mr rows each, at ap, mr·ars apart, and those of B̃ at
// bp, bnext apart.
func (g *gemmRun) tiles(kc int, ap []float32, ars, aps int, bp []float32, bps, bnext, i, j, rows, cols int, add bool) {
	c, ldc, mr, nr := g.c, g.ldc, g.tiling.mr, g.tiling.nr
	if !g.cT {
		ct := c[i*ldc+j : (i+rows-1)*ldc+j+cols]
		g.is.gemmTile(kc, ap, ars, aps, mr*ars, bp, bps, bnext, ct, ldc, rows, cols, g.alpha, add)
		return
	}
	// Tiles of Cᵀ: a call each.
	for i0 := 0; i0 < rows; i0 += mr {
		h := min(mr, rows-i0)
		for j0 := 0; j0 < cols; j0 += nr {
			w := min(nr, cols-j0)
			ct := c[(j+j0)*ldc+i+i0 : (j+j0+w-1)*ldc+i+i0+h]
			g.is.gemmTileT(kc, ap[i0*ars:], ars, aps, bp[j0/nr*bnext:], bps, ct, ldc, h, w, g.alpha, add)
		}
	}
}

// panelOf returns the rows × kc block of op(A) at row i, column p as it
// lies in a, with the strides of its elements.
func panelOf(trans bool, a []float32, lda, i, p, rows, kc int) (panel []float32, ars, aps int) {
	if !trans {
		return a[i*lda+p : (i+rows-1)*lda+p+kc], lda, 1
	}
	return a[p*lda+i : (p+kc-1)*lda+i+rows], 1, lda
}

func roundUp(v, to int) int { return (v + to - 1) / to * to }

// packA copies the mc × kc block of op(A) at row ic, column pc into dst,
// in panels of mr rows (the last one padded with zero rows), and returns
// the strides of an element (r, p) of the block: r·ars + p·aps, so that
// the panel at row ir starts at ir·ars. A row of A stays a row (ars = kc,
// aps = 1): a panel is mr rows of kc. A row of Aᵀ, a column of A, is read
// across rows of A: the block is kc rows of mc floats, padded to whole
// panels (ars = 1, aps = roundUp(mc, mr)), a copy per row of A.
func packA(dst []float32, trans bool, a []float32, lda, ic, pc, mc, kc, mr int) (ars, aps int) {
	if !trans {
		for ir := 0; ir < mc; ir += mr {
			panel := dst[ir*kc : (ir+mr)*kc]
			rows := min(mr, mc-ir)
			for r := range rows {
				i := (ic + ir + r) * lda
				copy(panel[r*kc:(r+1)*kc], a[i+pc:i+pc+kc])
			}
			clear(panel[rows*kc:])
		}
		return kc, 1
	}
	mcs := roundUp(mc, mr)
	for p := range kc {
		i := (pc+p)*lda + ic
		row := dst[p*mcs : (p+1)*mcs]
		copy(row, a[i:i+mc])
		clear(row[mc:])
	}
	return 1, mcs
}

// packB copies the kc × nc block of op(B) at row pc, column jc into dst as
// panels of nr columns (the last one padded with zero columns), each kc
// rows of nr contiguous floats: the vectors of the micro-kernel.
func packB(is isa, dst []float32, trans bool, b []float32, ldb, pc, jc, kc, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		if !trans {
			first := pc*ldb + jc + jr
			if cols == nr {
				is.gemmPackN(panel, b[first:first+(kc-1)*ldb+nr], ldb, kc)
				continue
			}
			for p := range kc {
				i := first + p*ldb
				g := panel[p*nr : (p+1)*nr]
				copy(g, b[i:i+cols])
				clear(g[cols:])
			}
			continue
		}
		// op(B) = Bᵀ: column j of the panel is row jc+jr+j of B.
		first := (jc+jr)*ldb + pc
		if cols == nr {
			is.gemmPackT(panel, b[first:first+(nr-1)*ldb+kc], ldb, kc)
			continue
		}
		clear(panel)
		for j := range cols {
			row := b[(jc+jr+j)*ldb+pc:][:kc]
			for p, v := range row {
				panel[p*nr+j] = v
			}
		}
	}
}

// scaleMatrix sets C = beta·C, writing zeros without reading C when beta is
// 0 (so that a NaN in C does not survive, as in BLAS).
func scaleMatrix(c []float32, ldc, m, n int, beta float32) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// cacheSizes returns the sizes in bytes of the L1 data, L2 and last-level
// caches cpuid reports for this CPU, 0 for those it does not know.
func cacheSizes() (l1, l2, l3 int) {
	c := cpuid.CPU.Cache
	return c.L1D, c.L2, c.L3
}
