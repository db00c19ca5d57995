package kernels

import (
	"sync"

	"github.com/klauspost/cpuid/v2"
)

// The general matrix product, once for every implementation: the five loops
// of a BLIS GEMM around one register-blocked micro-kernel per isa
// (gemmTile). The k dimension is cut into blocks of kc, and for each block
//
//   - op(B)'s block (kc × nc columns) is packed into panels of nr columns,
//     each panel kc rows of nr contiguous floats, so that the micro-kernel
//     loads its vectors from consecutive addresses;
//   - op(A)'s block (mc rows × kc) is packed into panels of mr rows, in the
//     layout that makes packing a copy: a row of A (op(A) = A) stays a row
//     of kc floats, a row of Aᵀ (op(A) = Aᵀ) is a column, and the panel then
//     holds kc groups of mr floats. The micro-kernel broadcasts each element
//     of a panel through two strides, so it reads either layout;
//   - each mr × nr tile of C gets C = alpha·Ã·B̃ + C (or + 0 for the first
//     block when beta is 0, which never reads C).
//
// The block sizes come from the caches cpuid reports (gemmBlocking): a
// panel of B̃ (kc·nr floats) stays in L1 while the panels of Ã stream past
// it from L2, and the whole of B̃ (kc·nc) in a share of the last-level
// cache.

// gemmBlocks are the block sizes of one isa: kc samples of the summed
// dimension, mc rows of A, nc columns of B.
type gemmBlocks struct{ kc, mc, nc int }

// gemmBlocking returns the block sizes for the tile shape mr × nr, from the
// cache sizes l1, l2 and l3 (bytes; 0 when unknown).
func gemmBlocking(mr, nr, l1, l2, l3 int) gemmBlocks {
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
	return gemmBlocks{kc: kc, mc: mc, nc: nc}
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// gemmBlocksOf holds each isa's block sizes (a variable, so that tests can
// make them small enough for small shapes to cross every block boundary).
var gemmBlocksOf [isaNEON + 1]gemmBlocks

func init() {
	l1, l2, l3 := cacheSizes()
	for k := range gemmBlocksOf {
		mr, nr := isa(k).gemmShape()
		gemmBlocksOf[k] = gemmBlocking(mr, nr, l1, l2, l3)
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
func gemm(k isa, transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || kk == 0 {
		scaleMatrix(c, ldc, m, n, beta)
		return
	}
	if beta != 0 && beta != 1 {
		scaleMatrix(c, ldc, m, n, beta)
	}
	mr, nr := k.gemmShape()
	bl := gemmBlocksOf[k]
	// Blocks of equal size: 784 = 4·196, not 3·256 + 16.
	kblocks := (kk + bl.kc - 1) / bl.kc
	kc := (kk + kblocks - 1) / kblocks
	mc := min(bl.mc, roundUp(m, mr))
	nc := min(bl.nc, roundUp(n, nr))
	buf := getGemmBuf(mc*kc, nc*kc)
	defer gemmBufs.Put(buf)

	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < kk; pc += kc {
			kcb := min(kc, kk-pc)
			add := pc > 0 || beta != 0
			packB(buf.b, transB, b, ldb, pc, jc, kcb, ncb, nr)
			for ic := 0; ic < m; ic += mc {
				mcb := min(mc, m-ic)
				ars, aps := packA(buf.a, transA, a, lda, ic, pc, mcb, kcb, mr)
				for jr := 0; jr < ncb; jr += nr {
					bp := buf.b[jr*kcb : (jr+nr)*kcb]
					for ir := 0; ir < mcb; ir += mr {
						ap := buf.a[ir*kcb : (ir+mr)*kcb]
						rows, cols := min(mr, mcb-ir), min(nr, ncb-jr)
						ct := c[(ic+ir)*ldc+jc+jr : (ic+ir+rows-1)*ldc+jc+jr+cols]
						k.gemmTile(kcb, ap, ars, aps, bp, ct, ldc, rows, cols, alpha, add)
					}
				}
			}
		}
	}
}

func roundUp(v, to int) int { return (v + to - 1) / to * to }

// packA copies the mc × kc block of op(A) at row ic, column pc into dst as
// panels of mr rows (the last one padded with zero rows), and returns the
// strides of an element (r, p) within a panel: r·ars + p·aps. A row of A
// stays a row (ars = kc, aps = 1); a row of Aᵀ, a column of A, becomes kc
// groups of mr (ars = 1, aps = mr). Either way each element is copied from a
// run of contiguous floats.
func packA(dst []float32, trans bool, a []float32, lda, ic, pc, mc, kc, mr int) (ars, aps int) {
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		if !trans {
			for r := range rows {
				i := (ic + ir + r) * lda
				copy(panel[r*kc:(r+1)*kc], a[i+pc:i+pc+kc])
			}
			clear(panel[rows*kc:])
			continue
		}
		for p := range kc {
			i := (pc+p)*lda + ic + ir
			g := panel[p*mr : (p+1)*mr]
			copy(g, a[i:i+rows])
			clear(g[rows:])
		}
	}
	if !trans {
		return kc, 1
	}
	return 1, mr
}

// packB copies the kc × nc block of op(B) at row pc, column jc into dst as
// panels of nr columns (the last one padded with zero columns), each kc
// rows of nr contiguous floats: the vectors of the micro-kernel.
func packB(dst []float32, trans bool, b []float32, ldb, pc, jc, kc, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		if !trans {
			for p := range kc {
				i := (pc+p)*ldb + jc + jr
				g := panel[p*nr : (p+1)*nr]
				copy(g, b[i:i+cols])
				clear(g[cols:])
			}
			continue
		}
		// op(B) = Bᵀ: column j of the panel is row jc+jr+j of B.
		if cols < nr {
			clear(panel)
		}
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

// gemmTileGeneric is the micro-kernel of the generic isa (the twin of every
// generated gemmTile): for r < mr and j < nr,
//
//	c[r*ldc+j] = alpha·Σ_{p<kc} a[r*ars+p*aps]·b[p*gemmNRGeneric+j] (+ c[r*ldc+j] if add)
//
// with the sum accumulated in float32 in order of p, and alpha·sum + c one
// multiply-add. a and b are packed panels of gemmMRGeneric rows and
// gemmNRGeneric columns; rows and columns past mr and nr are computed and
// dropped.
func gemmTileGeneric(kc int, a []float32, ars, aps int, b, c []float32, ldc, mr, nr int, alpha float32, add bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a0 := a[0*ars:]
	a1 := a[1*ars:]
	a2 := a[2*ars:]
	a3 := a[3*ars:]
	b = b[:kc*gemmNRGeneric]
	for p := 0; p < kc; p++ {
		bp := b[p*gemmNRGeneric : p*gemmNRGeneric+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		q := p * aps
		x := a0[q]
		c00, c01, c02, c03 = x*b0+c00, x*b1+c01, x*b2+c02, x*b3+c03
		x = a1[q]
		c10, c11, c12, c13 = x*b0+c10, x*b1+c11, x*b2+c12, x*b3+c13
		x = a2[q]
		c20, c21, c22, c23 = x*b0+c20, x*b1+c21, x*b2+c22, x*b3+c23
		x = a3[q]
		c30, c31, c32, c33 = x*b0+c30, x*b1+c31, x*b2+c32, x*b3+c33
	}
	acc := [gemmMRGeneric][gemmNRGeneric]float32{
		{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33},
	}
	for r := range mr {
		row := c[r*ldc : r*ldc+nr]
		for j := range row {
			if add {
				row[j] = alpha*acc[r][j] + row[j]
			} else {
				row[j] = alpha * acc[r][j]
			}
		}
	}
}

// The generic micro-kernel's tile: 16 accumulators, as many as amd64's
// float registers hold beside the operands.
const (
	gemmMRGeneric = 4
	gemmNRGeneric = 4
)

// cacheSizes returns the sizes in bytes of the L1 data, L2 and last-level
// caches cpuid reports for this CPU, 0 for those it does not know.
func cacheSizes() (l1, l2, l3 int) {
	c := cpuid.CPU.Cache
	return c.L1D, c.L2, c.L3
}
