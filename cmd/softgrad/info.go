package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"

	"github.com/softgrad/softgrad/bench"
	"github.com/softgrad/softgrad/kernels"
)

// tableTime is the default time of each measurement of the short table:
// its 49 cases (on a CPU with avx2 and avx512) then take about 15 s with
// their setup.
const tableTime = 200 * time.Millisecond

// tableCases are the kernel × shape pairs of the short table: the
// multiply-add peak of each vector width, first, so that every GFLOP/s
// below reads against it; then every kernel on one or two shapes of the
// performance tables (README.md, docs/performance.md).
var tableCases = []struct{ kernel, shape string }{
	{bench.KernelPeak, "12x4096"},
	{"Softmax", "64x1000"},
	{"Softmax", "256x10"},
	{"LogSoftmax", "64x1000"},
	{"SoftmaxBackward", "64x1000"},
	{"LogSoftmaxBackward", "64x1000"},
	{"CrossEntropyGrad", "64x1000"},
	{"CrossEntropyGrad", "256x10"},
	{"CrossEntropyGradSoft", "64x1000"},
	{"Ger", "784x10"},
	{"GerBatch", "784x10xk128"},
	{"Gemm", "64x10xk784NT"},
	{"Gemm", "256x1000xk1024NT"},
	{"Step", "64x784x10"},
}

// runInfo is softgrad with no command: the machine, the implementations
// and the short speed table.
func runInfo(args []string, stdout, stderr io.Writer) error {
	fs, implName := newFlags("softgrad", "softgrad [-impl NAME] [-benchtime D]", stderr)
	benchtime := fs.Duration("benchtime", tableTime, "measure each case for `D`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *benchtime <= 0 {
		return usageErrorf("-benchtime %v: want a positive duration", *benchtime)
	}
	sel, err := selectImpl(*implName)
	if err != nil {
		return err
	}
	writeMachine(stdout, sel)
	fmt.Fprintln(stdout)
	return writeTable(stdout, sel, *benchtime)
}

// knownImpls are the implementation names of package kernels, in its order
// of preference.
var knownImpls = []string{"avx512", "avx2", "neon", "generic"}

// writeMachine prints the CPU, the CPUs this process can use, the build,
// the implementations and the one selected.
func writeMachine(w io.Writer, sel selection) {
	c := cpuid.CPU
	brand := strings.TrimSpace(c.BrandName)
	if brand == "" {
		brand = "unknown CPU"
	}
	var caches []string
	for _, cc := range []struct {
		name string
		size int
	}{{"L1d", c.Cache.L1D}, {"L2", c.Cache.L2}, {"L3", c.Cache.L3}} {
		if cc.size > 0 {
			caches = append(caches, cc.name+" "+byteSize(cc.size))
		}
	}
	if len(caches) > 0 {
		brand += " (" + strings.Join(caches, ", ") + ")"
	}
	fmt.Fprintf(w, "%-10s %s\n", "cpu", brand)
	fmt.Fprintf(w, "%-10s %s\n", "cpus", cpuCounts(runtime.NumCPU(), runtime.GOMAXPROCS(0), c.LogicalCores, c.Supports(cpuid.HYPERVISOR)))

	have, lack := cpuFeatures()
	switch {
	case len(have)+len(lack) == 0:
		fmt.Fprintf(w, "%-10s none that an implementation uses on %s\n", "features", runtime.GOARCH)
	case len(lack) == 0:
		fmt.Fprintf(w, "%-10s %s: all that the SIMD implementations use\n", "features", strings.Join(have, " "))
	case len(have) == 0:
		fmt.Fprintf(w, "%-10s lacks %s\n", "features", strings.Join(lack, " "))
	default:
		fmt.Fprintf(w, "%-10s %s; lacks %s\n", "features", strings.Join(have, " "), strings.Join(lack, " "))
	}
	fmt.Fprintf(w, "%-10s %s/%s, %s%s\n", "build", runtime.GOOS, runtime.GOARCH, runtime.Version(), buildNotes())

	avail := implNames(kernels.Available())
	fmt.Fprintf(w, "%-10s %s: this CPU runs them, in order of preference\n", "impls", strings.Join(avail, ", "))
	for _, name := range knownImpls {
		if slices.Contains(avail, name) {
			continue
		}
		if _, err := kernels.Lookup(name); err != nil {
			msg := strings.TrimPrefix(err.Error(), "kernels: ")
			msg = strings.TrimPrefix(msg, fmt.Sprintf("implementation %q ", name))
			fmt.Fprintf(w, "%-10s %s %s\n", "", name, msg)
		}
	}
	fmt.Fprintf(w, "%-10s %s (%s)\n", "selected", sel.impl.Name(), sel.why)
	why := fmt.Sprintf("GOMAXPROCS; %s sets another number", kernels.ThreadsEnvVar)
	if env := os.Getenv(kernels.ThreadsEnvVar); env != "" {
		why = "chosen by " + kernels.ThreadsEnvVar + "=" + env
	}
	fmt.Fprintf(w, "%-10s up to %d goroutines per large call (%s)\n", "threads", sel.impl.Threads(), why)
}

// cpuCounts describes the CPUs this process can use (usable, which is
// runtime.NumCPU: the CPUs of its affinity mask) and, where it differs,
// cpuid's count of logical cores in the CPU package (pkg; 0 when cpuid has
// none). The two differ on a virtual machine, whose CPUID often describes
// a package far larger than the vCPUs it has (vm: the hypervisor bit is
// set), under a narrower affinity mask, and on a machine of several
// packages.
func cpuCounts(usable, procs, pkg int, vm bool) string {
	s := fmt.Sprintf("%d usable by this process (GOMAXPROCS %d)", usable, procs)
	switch {
	case pkg <= 0 || pkg == usable:
		return s
	case pkg > usable && vm:
		return s + fmt.Sprintf(", of the %d logical cores cpuid counts in the package the hypervisor presents", pkg)
	case pkg > usable:
		return s + fmt.Sprintf(", of the %d logical cores cpuid counts in the CPU package", pkg)
	}
	return s + fmt.Sprintf(", more than one package's: cpuid counts %d logical cores in one", pkg)
}

// cpuFeatures returns the CPU features the SIMD implementations of this
// architecture use that the CPU has, and those it lacks.
func cpuFeatures() (have, lack []string) {
	var fs []cpuid.FeatureID
	switch runtime.GOARCH {
	case "amd64":
		// avx2 needs AVX2 and FMA3; avx512 needs F, BW, DQ, VL and BMI2.
		fs = []cpuid.FeatureID{cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512DQ, cpuid.AVX512VL, cpuid.BMI2}
	case "arm64":
		fs = []cpuid.FeatureID{cpuid.ASIMD}
	}
	for _, f := range fs {
		if cpuid.CPU.Supports(f) {
			have = append(have, f.String())
		} else {
			lack = append(lack, f.String())
		}
	}
	return have, lack
}

// buildNotes returns the build settings that change the kernels' speed:
// the amd64 level (GOAMD64=v3 lets generic use FMA) and -tags purego.
func buildNotes() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var notes []string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "GOAMD64" || s.Key == "GOARM64":
			notes = append(notes, s.Key+"="+s.Value)
		case s.Key == "-tags" && slices.Contains(strings.Split(s.Value, ","), "purego"):
			notes = append(notes, "-tags purego (no assembly)")
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return ", " + strings.Join(notes, ", ")
}

// byteSize formats a cache size.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.3g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// isPeer reports whether a case's implementation is a peer, not one of
// package kernels.
func isPeer(impl string) bool {
	return impl == bench.PeerMathExp || impl == bench.PeerCopy || impl == bench.PeerGonum || impl == bench.PeerGonum1
}

// tableImpls returns the implementations a table measures: all that the
// CPU runs, or with -impl the chosen one and generic, the baseline.
func tableImpls(sel selection) []string {
	if !sel.forced {
		return implNames(kernels.Available())
	}
	names := []string{sel.impl.Name()}
	if sel.impl.Name() != "generic" {
		names = append(names, "generic")
	}
	return names
}

// writeTable measures the cases of tableCases, each for about d, and
// prints them as they complete, one kernel × shape at a time: ns per
// element, GB/s, GFLOP/s (Ger, GerBatch, Gemm, peak), the speed-up over
// generic and, for the SIMD implementations' GFLOP/s, the fraction of
// their vector width's multiply-add peak.
func writeTable(w io.Writer, sel selection, d time.Duration) error {
	impls := tableImpls(sel)
	fmt.Fprintf(w, "speed on one thread, %v per case (* the selected implementation; the peers: math.Exp loop, copy(), gonum BLAS)\n", d)
	fmt.Fprintf(w, "gonum's Sgemm splits a product across GOMAXPROCS (%d) goroutines, gonum-1 across 1; peak is one core's multiply-add throughput\n",
		runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "%-20s %-16s %-9s %9s %8s %8s %11s %8s\n", "kernel", "shape", "impl", "ns/elem", "GB/s", "GFLOP/s", "vs generic", "of peak")
	all := bench.Cases()
	peakGFLOPs := map[string]float64{} // per vector width, from the peak's rows
	for _, tc := range tableCases {
		var group []bench.Case
		for _, c := range all {
			if c.Kernel == tc.kernel && c.Shape == tc.shape && c.Threads <= 1 && (slices.Contains(impls, c.Impl) || isPeer(c.Impl)) {
				group = append(group, c)
			}
		}
		// Generic first: the others are shown as speed-ups over it.
		slices.SortStableFunc(group, func(a, b bench.Case) int {
			return boolInt(b.Impl == "generic") - boolInt(a.Impl == "generic")
		})
		results := map[string]bench.Result{}
		for _, c := range group {
			r, err := bench.Measure(c, d)
			if err != nil {
				return err
			}
			results[c.Impl] = r
		}
		base := results["generic"].NsPerElem
		first := true
		for _, name := range append(slices.Clone(impls), bench.PeerMathExp, bench.PeerCopy, bench.PeerGonum, bench.PeerGonum1) {
			r, ok := results[name]
			if !ok {
				continue
			}
			if tc.kernel == bench.KernelPeak {
				peakGFLOPs[name] = r.GFLOPPerS
			}
			kernel, shape := "", ""
			if first {
				kernel, shape, first = tc.kernel, tc.shape, false
			}
			label := name
			if name == sel.impl.Name() {
				label += "*"
			}
			gbs, gflops, ofPeak := "", "", ""
			if r.GBPerS > 0 {
				gbs = num(r.GBPerS)
			}
			if r.GFLOPPerS > 0 {
				gflops = num(r.GFLOPPerS)
			}
			if p := peakGFLOPs[name]; p > 0 && r.GFLOPPerS > 0 && tc.kernel != bench.KernelPeak {
				ofPeak = fmt.Sprintf("%.0f%%", 100*r.GFLOPPerS/p)
			}
			speedup := ""
			if base > 0 && r.NsPerElem > 0 {
				speedup = ratio(base/r.NsPerElem) + "×"
			}
			line := fmt.Sprintf("%-20s %-16s %-9s %9s %8s %8s %11s %8s", kernel, shape, label, num(r.NsPerElem), gbs, gflops, speedup, ofPeak)
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// num formats a measurement with 3 significant digits, without exponent
// for the values tables meet.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 0.001:
		return fmt.Sprintf("%#.3g", v)
	case v == 0:
		return "0"
	}
	return fmt.Sprintf("%.2g", v)
}

// ratio formats a speed-up: 2 decimals below 1, 1 below 10, none above.
func ratio(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.2f", v)
	case v < 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
