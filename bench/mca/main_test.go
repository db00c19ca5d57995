package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLoops cuts the innermost loops out of two disassembled routines (parts
// of expRowsNEON and scaleRowsAVX2) and checks their bounds, their elements
// per iteration and their llvm-mca input.
func TestLoops(t *testing.T) {
	for _, c := range []struct {
		file, suffix, comment, name string
		lanes                       int
		firsts                      []uint64 // first address of each loop
		elems                       []int
	}{
		{"testdata/expRowsNEON.objdump", "NEON", "//", "expRows", 4, []uint64{0x1ba564, 0x1ba594}, []int{16, 4}},
		{"testdata/scaleRowsAVX2.objdump", "AVX2", "#", "scaleRows", 8, []uint64{0x5ecc9a, 0x5ecd25}, []int{0, 32}},
	} {
		dis, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		rs := routines(dis, c.suffix, c.comment)
		if len(rs) != 1 || rs[0].name != c.name {
			t.Fatalf("%s: routines %v, want one named %s", c.file, rs, c.name)
		}
		loops := rs[0].loops()
		if len(loops) != len(c.firsts) {
			t.Fatalf("%s: %d loops, want %d", c.file, len(loops), len(c.firsts))
		}
		for i, l := range loops {
			if l[0].addr != c.firsts[i] {
				t.Errorf("%s: loop %d starts at %#x, want %#x", c.file, i+1, l[0].addr, c.firsts[i])
			}
			if got := l.elems(c.lanes); got != c.elems[i] {
				t.Errorf("%s: loop %d takes %d elements, want %d", c.file, i+1, got, c.elems[i])
			}
			src := l.mcaInput()
			last := strings.Split(strings.TrimSpace(src), "\n")
			if !strings.HasPrefix(src, "top:\n") || !strings.HasSuffix(last[len(last)-1], " top") {
				t.Errorf("%s: loop %d: llvm-mca input does not branch to its top:\n%s", c.file, i+1, src)
			}
			if strings.ContainsAny(src, "<>") || strings.Contains(src, "//") {
				t.Errorf("%s: loop %d: objdump's annotations left in:\n%s", c.file, i+1, src)
			}
		}
	}
}

// TestReferenceLoops finds the main loop of a function of the clang-compiled
// reference (ref_scaleRows, as objdump shows an object file's symbols): 16
// elements an iteration, counted down by a sub.
func TestReferenceLoops(t *testing.T) {
	dis, err := os.ReadFile("testdata/ref_scaleRows.objdump")
	if err != nil {
		t.Fatal(err)
	}
	rs := routinesMatching(dis, refSymbol, "//")
	if len(rs) != 1 || rs[0].name != "scaleRows" {
		t.Fatalf("routines %v, want one named scaleRows", rs)
	}
	var main int
	for _, l := range rs[0].loops() {
		if l.elems(4) == 16 {
			main++
		}
	}
	if main != 1 {
		t.Errorf("%d loops of 16 elements, want 1", main)
	}
}

func TestParseMCA(t *testing.T) {
	out, err := os.ReadFile("testdata/report.txt")
	if err != nil {
		t.Fatal(err)
	}
	e, err := parseMCA(out)
	if err != nil {
		t.Fatal(err)
	}
	// scaleRowsNEON's loop on neoverse-v2: 4 loads and 4 stores share the
	// load units, busier than the block's throughput says.
	if e.cycles != 543.0/200 || e.bound != 2 || e.busiest != 2.68 {
		t.Errorf("parseMCA = %+v, want 2.715 cycles, bound 2 and busiest 2.68", e)
	}
	if _, err := parseMCA([]byte("error: invalid instruction")); err == nil {
		t.Error("parseMCA accepted a report without a summary")
	}
	summary, _, _ := bytes.Cut(out, []byte("Instruction Info"))
	if _, err := parseMCA(summary); err == nil {
		t.Error("parseMCA accepted a report without resource pressure")
	}
}

func TestMedians(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkKernels/kernel=Softmax/impl=avx512/shape=64x1000-2   	  100	 10000 ns/op	 0.16 ns/elem
BenchmarkKernels/kernel=Softmax/impl=avx512/shape=64x1000-2   	  100	 10000 ns/op	 0.20 ns/elem
BenchmarkKernels/kernel=Softmax/impl=avx512/shape=64x1000-2   	  100	 10000 ns/op	 0.15 ns/elem
BenchmarkKernels/kernel=peak/impl=avx512/shape=12x4096-2   	  100	 7000 ns/op	 222.5 GFLOP/s
`)
	m := medians(out, "BenchmarkKernels")
	if got := m["kernel=Softmax/impl=avx512/shape=64x1000"]["ns/elem"]; got != 0.16 {
		t.Errorf("median ns/elem = %v, want 0.16", got)
	}
	if got := m["kernel=peak/impl=avx512/shape=12x4096"]["GFLOP/s"]; got != 222.5 {
		t.Errorf("peak = %v, want 222.5", got)
	}
}

func TestCallTrace(t *testing.T) {
	log := filepath.Join(t.TempDir(), "trace.log")
	// qemu's exec log: the warm-up call, the mark, the traced call (a
	// call and a branch in it), the mark, and what follows.
	err := os.WriteFile(log, []byte(`Trace 0: 0x7f3675 [0000000001009331/00000000001b0e00/00000001/00000201] kernels.softmaxBatch
Trace 0: 0x7f3676 [0000000001009331/00000000001b0dc0/00000001/00000201] kernels.callTraceMark
Trace 0: 0x7f3677 [0000000001009331/00000000001b0e00/00000001/00000201] kernels.softmaxBatch
Trace 0: 0x7f3678 [0000000001009331/00000000001b0e04/00000001/00000201] kernels.softmaxBatch
Trace 0: 0x7f3679 [0000000001009331/00000000001b0e08/00000001/00000201] kernels.softmaxBatch
Trace 0: 0x7f3676 [0000000001009331/00000000001b0dc0/00000001/00000201] kernels.callTraceMark
Trace 0: 0x7f3677 [0000000001009331/00000000001b0e00/00000001/00000201] kernels.softmaxBatch
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := tracedPCs(log, 0x1b0dc0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{0x1b0e00, 0x1b0e04, 0x1b0e08}; !slices.Equal(pcs, want) {
		t.Fatalf("tracedPCs = %x, want %x", pcs, want)
	}
	if _, err := tracedPCs(log, 0x1b0e04); err == nil {
		t.Error("tracedPCs accepted a log with fewer than two marks")
	}
	dis := []byte(`00000000001b0e00 <github.com/softgrad/softgrad/kernels.softmaxBatch>:
  1b0e00:	bl	1b0dc0 <github.com/softgrad/softgrad/kernels.callTraceMark>
  1b0e04:	adrp	x1, 2b0000 <runtime.x>
  1b0e08:	b.ne	1b0e00 <github.com/softgrad/softgrad/kernels.softmaxBatch>  // b.any
`)
	src, err := traceBlock(pcs, instructions(dis, "//"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "top:\nbl top\nadrp x1, top\nb.ne top\n"; src != want {
		t.Errorf("traceBlock = %q, want %q", src, want)
	}
	if _, err := traceBlock([]uint64{0x1b0e0c}, instructions(dis, "//")); err == nil {
		t.Error("traceBlock accepted an address the disassembly lacks")
	}
	c := call{name: "Softmax/256x10/rows"}
	if k, s, p := c.keys(); k != "Softmax" || s != "256x10" || p != "rows" || shapeElems(c.name) != 2560 {
		t.Errorf("keys = %s %s %s, elems %d", k, s, p, shapeElems(c.name))
	}
	if e := shapeElems("GerBatch/784x10xk128"); e != 784*10*128 {
		t.Errorf("GerBatch's elements = %d, want its multiply-adds", e)
	}
	if _, _, p := (call{name: "Softmax/64x1000"}).keys(); p != "default" {
		t.Errorf("path of a call without a suffix = %s, want default", p)
	}
}
