package main

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
)

// refSource is the intrinsics reference (ref/neon.c): the NEON routines'
// work written in C for clang to schedule.
//
//go:embed ref/neon.c
var refSource []byte

// refSymbol matches a function of the reference in objdump's output of its
// object file.
var refSymbol = regexp.MustCompile(`^[0-9a-f]+ <ref_(\w+)>:$`)

// reference compiles ref/neon.c with clang -O3 for each core (-mcpu, so
// that clang schedules for the core llvm-mca models), models its main
// loops (16 elements an iteration, as the NEON routines' main loops) and
// prints them as benchmark lines of isa=clang, then a table: per routine
// and core, the NEON main loops' cycles per element, the reference's, their
// ratio, and the NEON loops' against the bound of their busiest unit.
func reference(mca, clang, objdump, tmp string, cores []string, re *regexp.Regexp, neon []result) {
	src := filepath.Join(tmp, "neon.c")
	if err := os.WriteFile(src, refSource, 0o644); err != nil {
		fail(err)
	}
	refs := map[string]map[string]float64{} // routine → core → cycles/elem of its main loops
	for _, core := range cores {
		obj := filepath.Join(tmp, "neon-"+core+".o")
		cc := exec.Command(clang, "--target=aarch64-linux-gnu", "-mcpu="+core, "-O3", "-ffreestanding", "-c", "-o", obj, src)
		cc.Stderr = os.Stderr
		if err := cc.Run(); err != nil {
			fail(fmt.Errorf("compiling the reference for %s: %v", core, err))
		}
		dis, err := exec.Command(objdump, "-d", "--no-show-raw-insn", obj).Output()
		if err != nil {
			fail(fmt.Errorf("%s: %v", objdump, err))
		}
		for _, fn := range routinesMatching(dis, refSymbol, "//") {
			if !re.MatchString(fn.name) {
				continue
			}
			for i, l := range fn.loops() {
				if l.elems(4) != 16 {
					continue
				}
				r, err := analyze(mca, "aarch64", core, l.mcaInput(), 200)
				if err != nil {
					fmt.Fprintf(os.Stderr, "mca: reference %s loop %d on %s: %v\n", fn.name, i+1, core, err)
					continue
				}
				fmt.Printf("BenchmarkMCA/isa=clang/routine=%s/loop=%d/core=%s\t1\t%.2f cycles/iter\t%.2f bound-cycles/iter\t%.2f busiest-cycles/iter\t16 elems/iter\t%.3f cycles/elem\n",
					fn.name, i+1, core, r.cycles, r.bound, r.busiest, r.cycles/16)
				if refs[fn.name] == nil {
					refs[fn.name] = map[string]float64{}
				}
				refs[fn.name][core] += r.cycles / 16
			}
		}
	}
	// The NEON side: the main loops of each routine, summed.
	type sums struct{ cycles, bound, busiest float64 }
	kernels := map[string]map[string]sums{}
	for _, r := range neon {
		if !r.mainLoop {
			continue
		}
		if kernels[r.routine] == nil {
			kernels[r.routine] = map[string]sums{}
		}
		s := kernels[r.routine][r.core]
		s.cycles += r.est.cycles / float64(r.elems)
		s.bound += r.est.bound / float64(r.elems)
		s.busiest += r.est.busiest / float64(r.elems)
		kernels[r.routine][r.core] = s
	}
	var names []string
	for name := range refs {
		if _, ok := kernels[name]; ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	fmt.Println("# main loops, cycles per element: neon, clang -O3 from intrinsics, neon/clang; neon against its block throughput (bound) and its busiest unit")
	for _, name := range names {
		for _, core := range cores {
			k, ok := kernels[name][core]
			ref := refs[name][core]
			if !ok || ref == 0 {
				continue
			}
			fmt.Printf("# %-20s %-12s neon %.3f  clang %.3f  ratio %.2f  neon/bound %.2f  neon/busiest %.2f\n",
				name, core, k.cycles, ref, k.cycles/ref, k.cycles/k.bound, k.cycles/k.busiest)
		}
	}
}
