package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// kernelLoops are the routines whose main loops make up each row kernel on
// rows of 1000 (the general path: a max sweep, an exp sweep, and a last
// sweep), so that the sum of their modelled cycles per element is the
// model of the kernel's, less the per-row work around the loops.
var kernelLoops = map[string][]string{
	"Softmax":              {"expRows", "scaleRows"},
	"LogSoftmax":           {"expSumRows", "logSoftmaxRows"},
	"CrossEntropyGrad":     {"expRows", "scaleRows"},
	"CrossEntropyGradSoft": {"softTargetRows", "softGradRows"},
	"LogSoftmaxBackward":   {"logSoftmaxBackward"},
}

// calibrationShape is the bench suite's shape measured: 256 KB a batch,
// in L2 on the cores modelled.
const calibrationShape = "64x1000"

// calibration measures the row kernels of kernelLoops and the FMA peak on
// this machine with the bench suite (five rounds) and prints, per
// instruction set and core model, the modelled and the measured cycles per
// element. Cycles come from the peak: GFLOP/s over 2 FMA pipes × lanes × 2
// flops, which assumes two FMA pipes of the vector's width (Zen 4 and 5,
// Ice Lake and later server cores).
func calibration(results []result, calls []call) {
	var kernels []string
	for k := range kernelLoops {
		kernels = append(kernels, k)
	}
	slices.Sort(kernels)
	pattern := fmt.Sprintf("Kernels/kernel=(%s|peak)$/impl=(avx2|avx512)$/shape=(%s|12x4096)$", strings.Join(kernels, "|"), calibrationShape)
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchtime", "0.3s", "-count", "5", "./bench")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail(fmt.Errorf("measuring: %v", err))
	}
	measured := medians(out, "BenchmarkKernels")
	for _, isa := range []string{"avx512", "avx2"} {
		peak, ok := measured["kernel=peak/impl="+isa+"/shape=12x4096"]["GFLOP/s"]
		if !ok {
			continue
		}
		ghz := peak / float64(2*isas[isa].lanes*2)
		fmt.Printf("# %s: FMA peak %.1f GFLOP/s, %.2f GHz if two FMA pipes\n", isa, peak, ghz)
		for _, k := range kernels {
			ns, ok := measured["kernel="+k+"/impl="+isa+"/shape="+calibrationShape]["ns/elem"]
			if !ok {
				continue
			}
			cores := map[string]float64{}
			var order []string
			for _, r := range results {
				if r.isa != isa || !r.mainLoop || !slices.Contains(kernelLoops[k], r.routine) {
					continue
				}
				if _, seen := cores[r.core]; !seen {
					order = append(order, r.core)
				}
				cores[r.core] += r.est.cycles / float64(r.elems)
			}
			for _, core := range order {
				model, meas := cores[core], ns*ghz
				fmt.Printf("BenchmarkMCA/isa=%s/kernel=%s/shape=%s/core=%s\t1\t%.3f model-cycles/elem\t%.3f measured-cycles/elem\t%.2f model/measured\n",
					isa, k, calibrationShape, core, model, meas, model/meas)
			}
		}
		calibrateCalls(isa, ghz, calls)
	}
}

// calibrateCalls measures the traced calls of isa on this machine with the
// kernels' BenchmarkCallTraces (five rounds), both paths, and prints each
// call's model beside it, and the row path's cost over the default path's,
// modelled and measured.
func calibrateCalls(isa string, ghz float64, calls []call) {
	var mine []call
	for _, c := range calls {
		if c.isa == isa {
			mine = append(mine, c)
		}
	}
	if len(mine) == 0 {
		return
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "CallTraces/kernel=/shape=/path=/impl="+isa+"$", "-benchtime", "0.3s", "-count", "5", "./kernels")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fail(fmt.Errorf("measuring the calls: %v", err))
	}
	measured := medians(out, "BenchmarkCallTraces")
	meas := func(c call) (float64, bool) {
		kernel, shape, path := c.keys()
		ns, ok := measured[fmt.Sprintf("kernel=%s/shape=%s/path=%s/impl=%s", kernel, shape, path, isa)]["ns/elem"]
		return ns * ghz, ok
	}
	byName := map[string]call{}
	for _, c := range mine {
		byName[c.name+" "+c.core] = c
		m, ok := meas(c)
		if !ok {
			continue
		}
		kernel, shape, path := c.keys()
		model := c.cycles / float64(c.elems)
		fmt.Printf("BenchmarkMCACall/isa=%s/kernel=%s/shape=%s/path=%s/core=%s\t1\t%.3f model-cycles/elem\t%.3f measured-cycles/elem\t%.2f model/measured\n",
			isa, kernel, shape, path, c.core, model, m, model/m)
	}
	for _, c := range mine {
		rows, ok := byName[c.name+"/rows "+c.core]
		if !ok {
			continue
		}
		md, ok1 := meas(c)
		mr, ok2 := meas(rows)
		if ok1 && ok2 {
			fmt.Printf("# %-6s %-24s %-14s rows/default modelled %.2f, measured %.2f\n", isa, c.name, c.core, rows.cycles/c.cycles, mr/md)
		}
	}
}

// medians returns, per benchmark name (after prefix/) and unit, the
// median of the values in go test -bench output.
func medians(out []byte, prefix string) map[string]map[string]float64 {
	benchLine := regexp.MustCompile(`^` + prefix + `/(\S+?)(-\d+)?\s+\d+\s+(.*)$`)
	all := map[string]map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if all[m[1]] == nil {
				all[m[1]] = map[string][]float64{}
			}
			all[m[1]][f[i+1]] = append(all[m[1]][f[i+1]], v)
		}
	}
	med := map[string]map[string]float64{}
	for name, units := range all {
		med[name] = map[string]float64{}
		for u, vs := range units {
			slices.Sort(vs)
			med[name][u] = vs[len(vs)/2]
		}
	}
	return med
}
