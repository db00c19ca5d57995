package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Whole calls. The loops alone leave out what a call does around them: the
// API's checks, the batch loops in Go, each row's scalar work, the partial
// vectors. The kernels' test binary makes one call of a list between two
// calls of kernels.callTraceMark when SOFTGRAD_CALLTRACE names it
// (kernels/calltrace_test.go); qemu runs it one instruction per
// translation block and logs every instruction executed in the kernels
// package and the runtime's memory routines (-singlestep -d exec,nochain
// -dfilter); the instructions between the two marks, in the order they
// ran, are one block for llvm-mca, run once. The call's branches are as
// they went, so the block is the path the call took; what the model cannot
// see is the branch predictor and the caches.

const callTraceEnv = "SOFTGRAD_CALLTRACE"

// A call is one traced call's model on one core.
type call struct {
	isa, name, core string
	cycles          float64
	insts, elems    int
}

// keys returns the benchmark keys of a call's name, "Softmax/256x10/rows":
// kernel=Softmax/shape=256x10/path=rows (path=default without the suffix).
func (c call) keys() (kernel, shape, path string) {
	f := strings.Split(c.name, "/")
	kernel, shape, path = f[0], f[1], "default"
	if len(f) > 2 {
		path = f[2]
	}
	return
}

// traceCalls models every call the test binary bin lists, with the
// instruction set's emulator, on each core, and prints a benchmark line
// for each.
func traceCalls(name string, spec isaSpec, bin string, dis []byte, tmp, mca string, cores []string, re *regexp.Regexp) []call {
	list, err := runTraced(spec, bin, "list", "", "")
	if err != nil {
		fail(fmt.Errorf("listing the calls: %v", err))
	}
	ranges, mark, err := traceRanges(bin)
	if err != nil {
		fail(err)
	}
	text := instructions(dis, spec.comment)
	var out []call
	for _, c := range strings.Fields(string(list)) {
		if !re.MatchString(c) {
			continue
		}
		log := filepath.Join(tmp, "trace.log")
		said, err := runTraced(spec, bin, c, ranges, log)
		if err != nil {
			fail(fmt.Errorf("tracing %s: %v", c, err))
		}
		if want := ", " + name + "\n"; !strings.HasSuffix(string(said), want) {
			fail(fmt.Errorf("tracing %s: the binary said %q, want the call made with %s", c, said, name))
		}
		pcs, err := tracedPCs(log, mark)
		if err != nil {
			fail(fmt.Errorf("tracing %s: %v", c, err))
		}
		src, err := traceBlock(pcs, text)
		if err != nil {
			fail(fmt.Errorf("tracing %s: %v", c, err))
		}
		// The cores' models in parallel: a trace of 64×1000 takes seconds.
		ests := make([]estimate, len(cores))
		var wg sync.WaitGroup
		for i, core := range cores {
			wg.Go(func() {
				est, err := analyze(mca, spec.triple, core, src, 1)
				if err != nil {
					fail(fmt.Errorf("modelling %s on %s: %v", c, core, err))
				}
				ests[i] = est
			})
		}
		wg.Wait()
		for i, core := range cores {
			est := ests[i]
			r := call{isa: name, name: c, core: core, cycles: est.cycles, insts: len(pcs), elems: shapeElems(c)}
			kernel, shape, path := r.keys()
			fmt.Printf("BenchmarkMCACall/isa=%s/kernel=%s/shape=%s/path=%s/core=%s\t1\t%.0f cycles/call\t%d instructions/call\t%.3f cycles/elem\n",
				name, kernel, shape, path, core, r.cycles, r.insts, r.cycles/float64(r.elems))
			out = append(out, r)
		}
	}
	return out
}

// runTraced runs bin under the emulator with SOFTGRAD_CALLTRACE=what,
// logging the instructions in ranges to log (none if log is ""), and
// returns what it prints.
func runTraced(spec isaSpec, bin, what, ranges, log string) ([]byte, error) {
	args := slices.Clone(spec.emulator[1:])
	if log != "" {
		args = append(args, "-singlestep", "-d", "exec,nochain", "-dfilter", ranges, "-D", log)
	}
	cmd := exec.Command(spec.emulator[0], append(args, bin)...)
	cmd.Env = append(os.Environ(), callTraceEnv+"="+what)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, firstLine(stderr.String()))
	}
	return out, nil
}

// traceRanges returns qemu's -dfilter for the kernels package's functions
// and the runtime's memory routines (zeroing and copying the Go code's
// arrays), and the address of kernels.callTraceMark.
func traceRanges(bin string) (string, uint64, error) {
	out, err := exec.Command("go", "tool", "nm", "-size", "-sort", "address", bin).Output()
	if err != nil {
		return "", 0, fmt.Errorf("go tool nm: %v", err)
	}
	var lo, hi, mark uint64
	var extra []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || (f[2] != "T" && f[2] != "t") {
			continue
		}
		addr, err1 := strconv.ParseUint(f[0], 16, 64)
		size, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		switch name := f[3]; {
		case strings.HasPrefix(name, "github.com/softgrad/softgrad/kernels."):
			if lo == 0 || addr < lo {
				lo = addr
			}
			hi = max(hi, addr+size)
			if name == "github.com/softgrad/softgrad/kernels.callTraceMark" {
				mark = addr
			}
		case slices.Contains([]string{"runtime.duffzero", "runtime.duffcopy", "runtime.memclrNoHeapPointers", "runtime.memmove"}, name):
			extra = append(extra, fmt.Sprintf("0x%x+0x%x", addr, size))
		}
	}
	if mark == 0 {
		return "", 0, fmt.Errorf("no kernels.callTraceMark in %s", bin)
	}
	return strings.Join(append([]string{fmt.Sprintf("0x%x..0x%x", lo, hi-1)}, extra...), ","), mark, nil
}

// qemu's exec log: "Trace 0: 0x7f… [00000000/00000000001b0dc0/…] symbol".
var tracePC = regexp.MustCompile(`^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/`)

// tracedPCs returns the addresses executed between the first two entries
// to mark in qemu's log.
func tracedPCs(log string, mark uint64) ([]uint64, error) {
	f, err := os.Open(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pcs []uint64
	marks := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() && marks < 2 {
		m := tracePC.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pc, _ := strconv.ParseUint(m[1], 16, 64)
		switch {
		case pc == mark:
			marks++
		case marks == 1:
			pcs = append(pcs, pc)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if marks < 2 {
		return nil, fmt.Errorf("%d marks in the log, want 2", marks)
	}
	return pcs, nil
}

// instructions returns every instruction of objdump's output by address.
func instructions(dis []byte, comment string) map[uint64]string {
	text := map[uint64]string{}
	sc := bufio.NewScanner(bytes.NewReader(dis))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := instLine.FindStringSubmatch(sc.Text()); m != nil {
			addr, _ := strconv.ParseUint(m[1], 16, 64)
			text[addr] = clean(m[2], comment)
		}
	}
	return text
}

// traceBlock returns the instructions at pcs, in order, as llvm-mca's
// input.
func traceBlock(pcs []uint64, text map[uint64]string) (string, error) {
	var b strings.Builder
	b.WriteString("top:\n")
	for _, pc := range pcs {
		t, ok := text[pc]
		if !ok {
			return "", fmt.Errorf("no instruction at %#x in the disassembly", pc)
		}
		b.WriteString(mcaLine(t) + "\n")
	}
	return b.String(), nil
}

// shapeElems returns the elements of a call's shape, the product of its
// numbers: "Softmax/256x10" → 2560 logits, "GerBatch/784x10xk128" →
// 1003520 multiply-adds.
func shapeElems(name string) int {
	elems := 1
	for _, d := range strings.Split(strings.Split(name, "/")[1], "x") {
		v, _ := strconv.Atoi(strings.TrimPrefix(d, "k"))
		elems *= v
	}
	return elems
}

// compareRowPath prints, per call with a row-path twin, how many times
// fewer modelled cycles the default path takes.
func compareRowPath(calls []call) {
	byName := map[string]call{}
	for _, c := range calls {
		byName[c.isa+" "+c.name+" "+c.core] = c
	}
	fmt.Println("# whole calls, modelled cycles per element: the default path against the row path (short rows through the row primitives)")
	for _, c := range calls {
		rows, ok := byName[c.isa+" "+c.name+"/rows "+c.core]
		if !ok {
			continue
		}
		fmt.Printf("# %-6s %-24s %-14s default %.3f  rows %.3f  rows/default %.2f\n",
			c.isa, c.name, c.core, c.cycles/float64(c.elems), rows.cycles/float64(rows.elems), rows.cycles/c.cycles)
	}
}
