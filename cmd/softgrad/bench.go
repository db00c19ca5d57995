package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"

	"github.com/softgrad/softgrad/bench"
	"github.com/softgrad/softgrad/kernels"
)

// sweepTime is the default time of each measurement of the sweep: its
// ~770 cases (with avx2 and avx512) take about two minutes.
const sweepTime = 100 * time.Millisecond

// runBench is softgrad bench: the sweep of bench.Sweep, as a table, JSON
// or a chart.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs, implName := newFlags("bench",
		"softgrad bench [-impl NAME] [-threads N] [-kernel REGEXP] [-lens LIST] [-batches LIST] [-benchtime D] [-peers=false] [-svg FILE] [-json]", stderr)
	threads := fs.Int("threads", 1, "split each call of the package's kernels into at most `N` goroutines (the peers run as they always do)")
	kernelRE := fs.String("kernel", "", "measure only the kernels whose whole name matches `REGEXP` (Softmax, Softmax|Ger.*, ...)")
	lensFlag := fs.String("lens", joinInts(bench.SweepLens), "the row lengths, a comma-separated `LIST`")
	batchesFlag := fs.String("batches", joinInts(bench.SweepBatches), "the batch sizes (rows; GerBatch's k), a comma-separated `LIST`")
	benchtime := fs.Duration("benchtime", sweepTime, "measure each case for `D`")
	peers := fs.Bool("peers", true, "measure the peers too: the math.Exp loop, copy(), gonum's BLAS")
	svgFile := fs.String("svg", "", "write a chart of ns per element against row length to `FILE` (SVG)")
	jsonOut := fs.Bool("json", false, "print the results as JSON instead of tables")
	if err := parse(fs, args); err != nil {
		return err
	}
	lens, err := parseInts("-lens", *lensFlag)
	if err != nil {
		return err
	}
	batches, err := parseInts("-batches", *batchesFlag)
	if err != nil {
		return err
	}
	pattern := *kernelRE
	if pattern == "" {
		pattern = ".*"
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return usageErrorf("-kernel: %v", err)
	}
	if *benchtime <= 0 {
		return usageErrorf("-benchtime %v: want a positive duration", *benchtime)
	}
	if *threads < 1 || *threads > kernels.MaxThreads {
		return usageErrorf("-threads %d: want a number from 1 to %d", *threads, kernels.MaxThreads)
	}
	sel, err := selectImpl(*implName)
	if err != nil {
		return err
	}
	// -impl measures that implementation alone (with the peers).
	impls := []string{sel.impl.Name()}
	if !sel.forced {
		impls = implNames(kernels.Available())
	}

	var cases []bench.Case
	for _, c := range bench.Sweep(lens, batches, *threads) {
		if re.MatchString(c.Kernel) && (slices.Contains(impls, c.Impl) || *peers && isPeer(c.Impl)) {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return usageErrorf("no case matches -kernel %q with these -lens and -batches (kernels: %s)",
			*kernelRE, strings.Join(bench.Kernels(), ", "))
	}

	bar := newProgress(stderr, int64(len(cases)), "bench")
	results := make([]bench.Result, 0, len(cases))
	for _, c := range cases {
		bar.describe(fmt.Sprintf("%-20s %-8s %-14s", c.Kernel, c.Impl, c.Shape))
		r, err := bench.Measure(c, *benchtime)
		if err != nil {
			bar.finish()
			return err
		}
		results = append(results, r)
		bar.add(1)
	}
	bar.finish()

	if *jsonOut {
		err = writeJSON(stdout, results, *benchtime)
	} else {
		writeSweep(stdout, results, impls, *benchtime)
	}
	if err != nil {
		return err
	}
	if *svgFile != "" {
		if err := writeChart(*svgFile, results); err != nil {
			return err
		}
		msg := stdout
		if *jsonOut {
			msg = stderr // stdout holds only the JSON
		}
		fmt.Fprintf(msg, "chart: %s\n", *svgFile)
	}
	return nil
}

// batchOf returns a result's batch size: its rows, or GerBatch's k.
func batchOf(r bench.Result) int {
	if r.Kernel == "GerBatch" {
		return r.K
	}
	return r.Rows
}

// writeSweep prints one table per kernel: a row per shape (by batch size,
// then row length) and a column of ns per element per implementation.
func writeSweep(w io.Writer, results []bench.Result, impls []string, d time.Duration) {
	fmt.Fprintf(w, "ns per element, one thread, %v per case; shapes are batch×length (GerBatch: 64×length from k samples; Step: k samples × 64 features → length classes)\n", d)
	for _, kernel := range bench.Kernels() {
		var rs []bench.Result
		for _, r := range results {
			if r.Kernel == kernel {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		var cols []string
		for _, name := range append(slices.Clone(impls), bench.PeerMathExp, bench.PeerCopy, bench.PeerGonum) {
			if slices.ContainsFunc(rs, func(r bench.Result) bool { return r.Impl == name }) {
				cols = append(cols, name)
			}
		}
		slices.SortStableFunc(rs, func(a, b bench.Result) int {
			return cmp.Or(cmp.Compare(batchOf(a), batchOf(b)), cmp.Compare(a.Cols, b.Cols))
		})
		fmt.Fprintf(w, "\n%-20s", kernel)
		for _, c := range cols {
			fmt.Fprintf(w, " %9s", c)
		}
		fmt.Fprintln(w)
		for i := 0; i < len(rs); {
			shape := rs[i].Shape
			fmt.Fprintf(w, "%-20s", shape)
			row := map[string]float64{}
			for ; i < len(rs) && rs[i].Shape == shape; i++ {
				row[rs[i].Impl] = rs[i].NsPerElem
			}
			for _, c := range cols {
				v, ok := row[c]
				s := ""
				if ok {
					s = num(v)
				}
				fmt.Fprintf(w, " %9s", s)
			}
			fmt.Fprintln(w)
		}
	}
}

// sweepJSON is the document -json prints.
type sweepJSON struct {
	CPU         string         `json:"cpu"`
	GOOS        string         `json:"goos"`
	GOARCH      string         `json:"goarch"`
	Go          string         `json:"go"`
	GOMAXPROCS  int            `json:"gomaxprocs"`
	BenchtimeNs int64          `json:"benchtime_ns"`
	Results     []bench.Result `json:"results"`
}

func writeJSON(w io.Writer, results []bench.Result, d time.Duration) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sweepJSON{
		CPU: strings.TrimSpace(cpuid.CPU.BrandName), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), BenchtimeNs: d.Nanoseconds(),
		Results: results,
	})
}

// parseInts parses a comma-separated list of positive integers; "1M",
// "30k" and "1_000" are accepted.
func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			f, mult = f[:len(f)-1], 1000
		case strings.HasSuffix(f, "M"):
			f, mult = f[:len(f)-1], 1_000_000
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(f, "_", ""), 10, 32)
		if err != nil || n <= 0 || n*int64(mult) > 1<<30 {
			return nil, usageErrorf("%s %q: want a comma-separated list of positive integers", flagName, s)
		}
		out = append(out, int(n)*mult)
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
