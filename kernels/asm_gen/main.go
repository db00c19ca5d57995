// Command asm_gen generates the SIMD kernels of package kernels:
// softmax_amd64.s and the Go declarations in softmax_amd64.go with avo, and
// softmax_arm64.s and softmax_arm64.go with the small arm64 emitter of
// arm64.go (avo emits amd64 only).
//
// Each routine is the twin of a pure-Go routine in generic.go: the same
// float32 operations in the same order per element, with FMA where the Go
// code has madd (sums excepted: they add in another order; and gerBatch,
// which associates alpha differently, see ger.go). Each is written
// once, against an isa (isa.go), and generated for every instruction set
// main lists.
//
// With -probe it writes instead the FMA throughput probe of internal/peak
// (peak.go), from the same isa descriptions.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	. "github.com/mmcloughlin/avo/build"
)

var isas = []*isa{avx2, avx512}

// The arm64 output; avo's Generate parses these flags with its own.
var (
	outARM64   = flag.String("out-arm64", "", "write the arm64 assembly (NEON) to this file")
	stubsARM64 = flag.String("stubs-arm64", "", "write the Go declarations of the arm64 routines to this file")
)

func main() {
	if flag.Parse(); *probe {
		generateProbe()
		return
	}
	ConstraintExpr("!purego")
	for _, is := range isas {
		// The element-wise exp: the two-pass softmax's second pass
		// (twopass.go), and the tests' view of the exp.
		expMinusMax(is)
		// Softmax, log-softmax and cross-entropy (rows.go).
		softmaxShortRows(is)
		expRows(is)
		expSumRows(is)
		scaleRows(is)
		scaleStream(is) // the two-pass softmax's output (twopass.go)
		logSoftmaxRows(is)
		softTargetRows(is)
		softGradRows(is)
		// Cross-entropy's options (options.go): label smoothing's sums
		// and shift, and short rows with every option.
		expDotRows(is)
		scaleShiftRows(is)
		crossEntropyShortRows(is)
		// The backward passes and the weight updates. softmaxBackward
		// and ger stream their rows with one or two multiply-adds per
		// element: AVX-512 has none of its own and runs AVX2's, which
		// measured faster on most shapes (dispatch_amd64.go).
		if is != avx512 {
			softmaxBackward(is)
			ger(is)
		}
		logSoftmaxBackward(is)
		gerBatch(is)
		// Rows of A of 9 to 11 (a 10-class head), with the tile turned
		// around; it needs AVX-512's 32 registers.
		if is == avx512 {
			gerBatchTransposed(is)
		}
		// The general matrix product's micro-kernel and its tile
		// (gemm.go).
		gemmShape(is)
		gemmTile(is)
		gemmTileT(is)
		gemmPackT(is)
		gemmPackN(is)
		gemmDotShape(is)
		gemmDot(is)
	}
	Generate()
	if err := checkRegisters(flag.Lookup("out").Value.String()); err != nil {
		fmt.Fprintln(os.Stderr, "asm_gen:", err)
		os.Exit(1)
	}
	if *limitsOut != "" {
		if err := writeLimits(*limitsOut); err != nil {
			fmt.Fprintln(os.Stderr, "asm_gen:", err)
			os.Exit(1)
		}
	}
	if *outARM64 != "" {
		if err := generateNEON(); err != nil {
			fmt.Fprintln(os.Stderr, "asm_gen:", err)
			os.Exit(1)
		}
	}
}

// generateNEON writes the same routines for arm64 with NEON (neon*.go).
func generateNEON() error {
	n := newNeon()
	// The element-wise exp, for the tests.
	n.expMinusMax()
	// Softmax, log-softmax and cross-entropy (rows.go).
	n.softmaxShortRows()
	n.expRows()
	n.expSumRows()
	n.scaleRows()
	n.logSoftmaxRows()
	n.softTargetRows()
	n.softGradRows()
	n.expDotRows()
	n.scaleShiftRows()
	// The backward passes.
	n.softmaxBackward()
	n.logSoftmaxBackward()
	// The weight updates.
	n.ger()
	n.gerBatch()
	n.gerBatchTransposed()
	// The micro-kernel of Gemm (gemm.go).
	n.gemmTile()
	return n.write(*outARM64, *stubsARM64, flag.Lookup("pkg").Value.String())
}

// checkRegisters reads the generated assembly back and fails if a routine
// uses a vector register its isa does not have: avo's allocator knows the
// 32 registers of AVX-512, so a routine that needs more than 16 at once
// would otherwise get X16 and up, which an AVX2 CPU cannot execute.
func checkRegisters(path string) error {
	if path == "" {
		return nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := regexp.MustCompile(`^TEXT ·(\w+)\(SB\)`)
	vreg := regexp.MustCompile(`\b[XYZ](\d+)\b`)
	var name string
	var limit int
	for i, line := range strings.Split(string(src), "\n") {
		if m := text.FindStringSubmatch(line); m != nil {
			name, limit = m[1], 0
			for _, is := range isas {
				if strings.HasSuffix(name, is.suffix) {
					limit = is.regs
				}
			}
			continue
		}
		for _, m := range vreg.FindAllStringSubmatch(line, -1) {
			if r, _ := strconv.Atoi(m[1]); limit > 0 && r >= limit {
				return fmt.Errorf("%s:%d: %s uses %s, beyond its %d vector registers", path, i+1, name, m[0], limit)
			}
		}
	}
	return nil
}
