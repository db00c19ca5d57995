// Command mca estimates the cycles of the SIMD kernels' hot loops on cores
// this machine is not, with LLVM's machine-code analyzer: it builds the
// kernels' test binary for arm64 (and amd64), cuts every innermost loop of
// every NEON (AVX2, AVX-512) routine out of the disassembly, runs llvm-mca
// on each loop for each core model, and prints a benchmark line per loop
// and core, which benchstat reads:
//
//	BenchmarkMCA/isa=neon/routine=expRows/loop=2/core=neoverse-v2  1  21.10 cycles/iter  19.00 bound-cycles/iter  20.40 busiest-cycles/iter  16 elems/iter  1.319 cycles/elem
//
// cycles/iter is llvm-mca's steady state (total cycles over iterations of
// the loop run back to back); bound-cycles/iter is its block reciprocal
// throughput (each instruction on its own units); busiest-cycles/iter is
// the busiest execution unit's cycles in the simulation (resource
// pressure), which reaches cycles/iter when a unit limits the loop;
// elems/iter is what the loop's counter steps by when that is a multiple of
// the vector's lanes (the row passes count elements; loops that count rows,
// samples or tiles get no per-element figures).
//
// It also models whole calls (-calls, see calls.go): the instructions a
// call of the kernels' test binary executes, traced under qemu (neon, and
// avx2 with -cpu Haswell), one line per call and core:
//
//	BenchmarkMCACall/isa=neon/kernel=Softmax/shape=256x10/path=default/core=neoverse-v2  1  5938 cycles/call  24392 instructions/call  2.320 cycles/elem
//
// path=rows is the same call with short rows through the row primitives.
//
//	go run ./bench/mca                      # NEON on Neoverse N1, V1 and V2
//	go run ./bench/mca -isa avx512,avx2 -cores znver5,icelake-server
//	go run ./bench/mca -isa avx512,avx2 -calibrate
//
// -calibrate also runs the bench suite's row kernels on this machine (the
// amd64 instruction sets) and prints, per kernel and core model, the sum of
// its loops' modelled cycles per element beside the measured ones, and the
// traced calls' models beside the calls measured (BenchmarkCallTraces in
// the kernels' tests), so that a reader sees how far each model is from
// hardware it can be checked on.
//
// With neon it also compiles the intrinsics reference ref/neon.c with
// clang and prints each routine's main loops against it (see reference).
// It fails when a routine's loops cannot be found in the disassembly.
//
// It needs llvm-mca-19 (Debian's llvm-19), clang-19 for the reference,
// aarch64-linux-gnu-objdump (binutils-aarch64-linux-gnu), objdump and, for
// the calls, qemu-user-static. These are models, not
// measurements: docs/performance.md compares them with what the bench
// suite measures on the cores this project runs on.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// An isaSpec is how to build, disassemble and model one instruction set.
type isaSpec struct {
	goarch, objdump, comment, triple, suffix string
	lanes                                    int
	cores                                    []string
	emulator                                 []string // runs the binary with this instruction set as the default (calls); none for AVX-512, which qemu 7.2 lacks
}

var isas = map[string]isaSpec{
	"neon":   {"arm64", "aarch64-linux-gnu-objdump", "//", "aarch64", "NEON", 4, []string{"neoverse-n1", "neoverse-v1", "neoverse-v2"}, []string{"qemu-aarch64-static"}},
	"avx2":   {"amd64", "objdump", "#", "x86_64", "AVX2", 8, []string{"znver4", "znver5", "icelake-server"}, []string{"qemu-x86_64-static", "-cpu", "Haswell"}},
	"avx512": {"amd64", "objdump", "#", "x86_64", "AVX512", 16, []string{"znver4", "znver5", "icelake-server"}, nil},
}

func main() {
	isaList := flag.String("isa", "neon", "the instruction sets, `LIST` of neon, avx2, avx512")
	coreList := flag.String("cores", "", "llvm-mca core models, `LIST` (default: the instruction set's)")
	run := flag.String("run", "", "only the routines and calls whose name matches `REGEXP`")
	mca := flag.String("mca", "llvm-mca-19", "the llvm-mca `command`")
	clang := flag.String("clang", "clang-19", "the clang `command` that compiles the intrinsics reference (-ref)")
	ref := flag.Bool("ref", true, "with neon, also model the intrinsics reference ref/neon.c compiled by clang, and compare")
	dump := flag.String("dump", "", "also write each loop's llvm-mca input to `DIR` (isa-routine-loop.s), to run llvm-mca on by hand")
	calls := flag.Bool("calls", true, "also trace whole calls under qemu (neon, avx2) and model the instructions they execute")
	calibrate := flag.Bool("calibrate", false, "also measure the row kernels made of the modelled loops on this machine (amd64 instruction sets) and print model against measurement")
	flag.Parse()
	re, err := regexp.Compile(*run)
	if err != nil {
		fail(err)
	}
	tmp, err := os.MkdirTemp("", "softgrad-mca-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	binaries, disassembly := map[string]string{}, map[string][]byte{}
	var results []result
	for _, name := range strings.Split(*isaList, ",") {
		spec, ok := isas[name]
		if !ok {
			fail(fmt.Errorf("unknown instruction set %q", name))
		}
		bin, ok := binaries[spec.goarch]
		if !ok {
			bin = filepath.Join(tmp, "kernels-"+spec.goarch+".test")
			build := exec.Command("go", "test", "-c", "-o", bin, "./kernels")
			build.Env = append(os.Environ(), "GOARCH="+spec.goarch, "CGO_ENABLED=0")
			build.Stderr = os.Stderr
			if err := build.Run(); err != nil {
				fail(fmt.Errorf("building the kernels for %s: %v", spec.goarch, err))
			}
			binaries[spec.goarch] = bin
		}
		dis, err := exec.Command(spec.objdump, "-d", "--no-show-raw-insn", bin).Output()
		if err != nil {
			fail(fmt.Errorf("%s: %v", spec.objdump, err))
		}
		disassembly[spec.goarch] = dis
		cores := spec.cores
		if *coreList != "" {
			cores = strings.Split(*coreList, ",")
		}
		fns := routines(dis, spec.suffix, spec.comment)
		if len(fns) == 0 {
			fail(fmt.Errorf("no %s routine in the disassembly", name))
		}
		for _, fn := range fns {
			if !re.MatchString(fn.name) {
				continue
			}
			if len(fn.loops()) == 0 && !loopless[fn.name] {
				// Every routine sweeps rows or tiles: no loop means the
				// disassembly was not understood, and the figures would
				// leave the routine out.
				fail(fmt.Errorf("%s routine %s: no loop found in the disassembly", name, fn.name))
			}
			for i, l := range fn.loops() {
				src := l.mcaInput()
				elems := l.elems(spec.lanes)
				if *dump != "" {
					file := filepath.Join(*dump, fmt.Sprintf("%s-%s-%d.s", name, fn.name, i+1))
					if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
						fail(err)
					}
				}
				for _, core := range cores {
					r, err := analyze(*mca, spec.triple, core, src, 200)
					if err != nil {
						fmt.Fprintf(os.Stderr, "mca: %s loop %d on %s: %v\n", fn.name, i+1, core, err)
						continue
					}
					results = append(results, result{isa: name, routine: fn.name, core: core, est: r, elems: elems, mainLoop: elems == 4*spec.lanes})
					line := fmt.Sprintf("BenchmarkMCA/isa=%s/routine=%s/loop=%d/core=%s\t1\t%.2f cycles/iter\t%.2f bound-cycles/iter\t%.2f busiest-cycles/iter",
						name, fn.name, i+1, core, r.cycles, r.bound, r.busiest)
					if elems > 0 {
						line += fmt.Sprintf("\t%d elems/iter\t%.3f cycles/elem", elems, r.cycles/float64(elems))
					}
					fmt.Println(line)
				}
			}
		}
	}
	var traced []call
	if *calls {
		for _, name := range strings.Split(*isaList, ",") {
			spec := isas[name]
			if spec.emulator == nil {
				continue
			}
			cores := spec.cores
			if *coreList != "" {
				cores = strings.Split(*coreList, ",")
			}
			traced = append(traced, traceCalls(name, spec, binaries[spec.goarch], disassembly[spec.goarch], tmp, *mca, cores, re)...)
		}
		compareRowPath(traced)
	}
	if *ref && slices.Contains(strings.Split(*isaList, ","), "neon") {
		cores := isas["neon"].cores
		if *coreList != "" {
			cores = strings.Split(*coreList, ",")
		}
		var neon []result
		for _, r := range results {
			if r.isa == "neon" {
				neon = append(neon, r)
			}
		}
		reference(*mca, *clang, isas["neon"].objdump, tmp, cores, re, neon)
	}
	if *calibrate {
		calibration(results, traced)
	}
}

// loopless are the routines that only return constants (the shapes of
// Gemm's tiles).
var loopless = map[string]bool{"gemmShape": true, "gemmDotShape": true}

// A result is one loop's estimate on one core.
type result struct {
	isa, routine, core string
	est                estimate
	elems              int
	mainLoop           bool // the routine's unrolled loop over a row: 4 vectors an iteration
}

// A routine is a kernel routine's disassembly.
type routine struct {
	name  string // without the package and the instruction set's suffix
	insts []inst
}

// An inst is one disassembled instruction.
type inst struct {
	addr uint64
	text string // mnemonic and operands, objdump's comments removed
}

var (
	symbolLine = regexp.MustCompile(`^[0-9a-f]+ <github\.com/softgrad/softgrad/kernels\.(\w+)\.abi0>:$`)
	otherLine  = regexp.MustCompile(`^[0-9a-f]+ <.*>:$`)
	instLine   = regexp.MustCompile(`^\s*([0-9a-f]+):\s+(.*)$`)
)

// routines returns the routines of the package whose names end in suffix,
// from objdump -d --no-show-raw-insn output whose comments start with
// comment.
func routines(dis []byte, suffix, comment string) []routine {
	var out []routine
	for _, r := range routinesMatching(dis, symbolLine, comment) {
		if name, ok := strings.CutSuffix(r.name, suffix); ok && name != "" {
			r.name = name
			out = append(out, r)
		}
	}
	return out
}

// routinesMatching returns the routines of objdump's output whose symbol
// lines match sym, named by its first group.
func routinesMatching(dis []byte, sym *regexp.Regexp, comment string) []routine {
	var out []routine
	var cur *routine
	sc := bufio.NewScanner(bytes.NewReader(dis))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := sym.FindStringSubmatch(line); m != nil {
			out = append(out, routine{name: m[1]})
			cur = &out[len(out)-1]
			continue
		}
		if otherLine.MatchString(line) {
			cur = nil
			continue
		}
		if cur == nil {
			continue
		}
		if m := instLine.FindStringSubmatch(line); m != nil {
			addr, _ := strconv.ParseUint(m[1], 16, 64)
			cur.insts = append(cur.insts, inst{addr: addr, text: clean(m[2], comment)})
		}
	}
	return out
}

// clean drops objdump's comment (from comment on: "//" on arm64, "#" on
// amd64, where "#" marks immediates on arm64) and its symbol annotations
// ("<…>"), and turns tabs into spaces.
func clean(s, comment string) string {
	if i := strings.Index(s, comment); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(annotation.ReplaceAllString(strings.ReplaceAll(s, "\t", " "), ""))
}

var annotation = regexp.MustCompile(`\s*<[^>]*>`)

// branchTarget returns the address a branch goes to, if text is a branch
// with a target address ("b.ge 1ba60c <…>", "jae 5f3000 <…>").
func branchTarget(text string) (uint64, bool) {
	f := strings.Fields(text)
	if len(f) < 2 {
		return 0, false
	}
	m := f[0]
	if !(m == "b" || strings.HasPrefix(m, "b.") || m == "cbz" || m == "cbnz" || m == "tbz" || m == "tbnz" ||
		strings.HasPrefix(m, "j")) {
		return 0, false
	}
	for _, op := range f[1:] {
		op = strings.TrimSuffix(op, ",")
		if a, err := strconv.ParseUint(op, 16, 64); err == nil {
			return a, true
		}
	}
	return 0, false
}

// A loop is the instructions from a backward branch's target to the branch.
type loop []inst

// loops returns the routine's innermost loops, in address order: those
// whose range holds no other backward branch.
func (r routine) loops() []loop {
	type span struct{ from, to int }
	var spans []span
	for i, in := range r.insts {
		t, ok := branchTarget(in.text)
		if !ok || t > in.addr {
			continue
		}
		for j := i; j >= 0; j-- {
			if r.insts[j].addr == t {
				spans = append(spans, span{j, i})
				break
			}
		}
	}
	var out []loop
	for _, s := range spans {
		inner := true
		for _, o := range spans {
			if o != s && o.from >= s.from && o.to <= s.to {
				inner = false
			}
		}
		if inner {
			out = append(out, loop(r.insts[s.from:s.to+1]))
		}
	}
	return out
}

// mcaInput returns the loop as llvm-mca's input: a label at the top, and
// every branch's target replaced by it (llvm-mca does not follow branches).
func (l loop) mcaInput() string {
	var b strings.Builder
	b.WriteString("top:\n")
	for _, in := range l {
		b.WriteString(mcaLine(in.text) + "\n")
	}
	return b.String()
}

// mcaLine returns an instruction as llvm-mca's input: the address operand
// of a branch, call or page address replaced by the label top (llvm-mca
// does not follow branches, and objdump's addresses are not labels).
func mcaLine(text string) string {
	f := strings.Fields(text)
	switch {
	case len(f) == 3 && (f[0] == "adrp" || f[0] == "adr"):
		// A constant's address: llvm-mca takes a label.
		return f[0] + " " + f[1] + " top"
	case len(f) == 2 && (f[0] == "bl" || f[0] == "call"):
		if _, err := strconv.ParseUint(f[1], 16, 64); err == nil {
			return f[0] + " top"
		}
	}
	if _, ok := branchTarget(text); ok {
		switch m := f[0]; m {
		case "cbz", "cbnz":
			return m + " " + strings.TrimSuffix(f[1], ",") + ", top"
		case "tbz", "tbnz":
			return m + " " + f[1] + " " + strings.TrimSuffix(f[2], ",") + ", top"
		default:
			return m + " top"
		}
	}
	return text
}

// counterStep matches the step of a loop counter just before the branch:
// "subs x7, x7, #0x10" (arm64) or "sub $0x40,%rcx" (amd64).
var (
	armStep = regexp.MustCompile(`^subs?\s+(x\d+),\s*(x\d+),\s*#(0x[0-9a-f]+|\d+)$`)
	x86Step = regexp.MustCompile(`^sub\s+\$(0x[0-9a-f]+|\d+),%r\w+$`)
)

// elems returns the elements one iteration takes, from the last counter
// step in the loop, or 0 when that step is not a multiple of lanes (the
// loop counts something else).
func (l loop) elems(lanes int) int {
	for i := len(l) - 1; i >= 0; i-- {
		var imm string
		if m := armStep.FindStringSubmatch(l[i].text); m != nil && m[1] == m[2] {
			imm = m[3]
		} else if m := x86Step.FindStringSubmatch(l[i].text); m != nil {
			imm = m[1]
		} else {
			continue
		}
		n, err := strconv.ParseInt(imm, 0, 64)
		if err != nil || n < int64(lanes) || n%int64(lanes) != 0 {
			return 0
		}
		return int(n)
	}
	return 0
}

// An estimate is llvm-mca's result for one loop on one core: cycles per
// iteration; the block's reciprocal throughput (each instruction on its own
// units, as if no other instruction competed for them); and the cycles per
// iteration of the busiest unit in the simulation (the most any one unit of
// the resource pressure table was busy), which is the cycles when a unit
// limits the loop, as the load and store address units that loads and
// stores share on V1 and V2 do, which the block's reciprocal throughput
// counts apart.
type estimate struct{ cycles, bound, busiest float64 }

var (
	iterationsLine = regexp.MustCompile(`(?m)^Iterations:\s+(\d+)`)
	cyclesLine     = regexp.MustCompile(`(?m)^Total Cycles:\s+(\d+)`)
	boundLine      = regexp.MustCompile(`(?m)^Block RThroughput:\s+([\d.]+)`)
)

// analyze runs llvm-mca on src for core, iterations times (200 for a
// loop's steady state, 1 for a traced call), and returns its estimate.
func analyze(mca, triple, core, src string, iterations int) (estimate, error) {
	cmd := exec.Command(mca, "-mtriple="+triple, "-mcpu="+core, fmt.Sprintf("-iterations=%d", iterations), "-")
	cmd.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return estimate{}, fmt.Errorf("%v: %s", err, firstLine(stderr.String()))
	}
	return parseMCA(out)
}

// parseMCA reads the summary of llvm-mca's report.
func parseMCA(out []byte) (estimate, error) {
	it, cy, bd := iterationsLine.FindSubmatch(out), cyclesLine.FindSubmatch(out), boundLine.FindSubmatch(out)
	if it == nil || cy == nil || bd == nil {
		return estimate{}, fmt.Errorf("no summary in llvm-mca's output")
	}
	iters, _ := strconv.ParseFloat(string(it[1]), 64)
	cycles, _ := strconv.ParseFloat(string(cy[1]), 64)
	bound, _ := strconv.ParseFloat(string(bd[1]), 64)
	busiest, err := busiestUnit(out)
	if err != nil {
		return estimate{}, err
	}
	return estimate{cycles: cycles / iters, bound: bound, busiest: busiest}, nil
}

// busiestUnit returns the largest value of the report's resource pressure
// per iteration: the line after the units' line that follows the title.
func busiestUnit(out []byte) (float64, error) {
	_, table, ok := bytes.Cut(out, []byte("Resource pressure per iteration:\n"))
	lines := strings.SplitN(string(table), "\n", 3)
	if !ok || len(lines) < 2 {
		return 0, fmt.Errorf("no resource pressure in llvm-mca's output")
	}
	var most float64
	for _, f := range strings.Fields(lines[1]) {
		if v, err := strconv.ParseFloat(f, 64); err == nil {
			most = max(most, v)
		}
	}
	return most, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mca:", err)
	os.Exit(2)
}
