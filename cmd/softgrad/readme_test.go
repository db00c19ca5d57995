package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/softgrad/softgrad/bench"
	"github.com/softgrad/softgrad/internal/peak"
	"github.com/softgrad/softgrad/kernels"
)

// The README shows a shortened sample of softgrad's output, in the fenced
// block that follows the line holding readmeMarker. checkReadmeSample holds
// it to the command's format: the same lines and columns as a run, not the
// same numbers. TestReadmeSample rewrites it from a run.

var (
	updateReadme    = flag.Bool("update-readme", false, "TestReadmeSample: rewrite README.md's sample of softgrad's output from a run of the command")
	updateBenchtime = flag.Duration("update-readme.benchtime", tableTime, "TestReadmeSample: measure each case of the sample's run for `D`")
)

const (
	readmePath   = "../../README.md"
	readmeMarker = "-run TestReadmeSample -update-readme"
	elision      = "..." // a README line that stands for rows left out
)

// sampleGroups are the kernel × shape groups of the short table that the
// README's sample shows; the rows of the others become an elision line.
var sampleGroups = []struct{ kernel, shape string }{
	{bench.KernelPeak, "12x4096"},
	{"Softmax", "64x1000"},
	{"Gemm", "64x10xk784NT"},
}

// TestReadmeSample rewrites README.md's sample with -update-readme; without
// it, TestInfo checks the sample against its own run.
func TestReadmeSample(t *testing.T) {
	if !*updateReadme {
		t.Skip("TestInfo checks the README's sample; -update-readme rewrites it")
	}
	if testing.Short() {
		defer func(all []struct{ kernel, shape string }) { tableCases = all }(tableCases)
		tableCases = shortTableCases()
	}
	status, out, errOut := runCLI(t, "-benchtime", updateBenchtime.String())
	if status != 0 {
		t.Fatalf("status %d\n%s%s", status, out, errOut)
	}
	lines, from, to := readReadme(t)
	sample := renderSample(outputLines(out))
	lines = slices.Concat(lines[:from], sample, lines[to:])
	if err := os.WriteFile(readmePath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("README.md: %d lines of sample", len(sample))
}

// shortTableCases is tableCases without the products of half a GFLOP,
// which take seconds each under emulation.
func shortTableCases() []struct{ kernel, shape string } {
	return slices.DeleteFunc(slices.Clone(tableCases), func(tc struct{ kernel, shape string }) bool {
		return tc.kernel == "Gemm" && tc.shape != "64x10xk784NT"
	})
}

// sampleBlock returns the lines [from, to) inside the README's fenced
// sample block.
func sampleBlock(lines []string) (from, to int, err error) {
	i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, readmeMarker) })
	if i < 0 {
		return 0, 0, fmt.Errorf("%s: no line holds %q", readmePath, readmeMarker)
	}
	for from = i + 1; from < len(lines) && !strings.HasPrefix(lines[from], "```"); from++ {
	}
	for to = from + 1; to < len(lines) && !strings.HasPrefix(lines[to], "```"); to++ {
	}
	if to >= len(lines) {
		return 0, 0, fmt.Errorf("%s: no fenced block after %q", readmePath, readmeMarker)
	}
	return from + 1, to, nil
}

func outputLines(out string) []string {
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// splitOutput splits softgrad's output (or a sample of it) into the machine
// lines, the table's title lines, its column header and its rows.
func splitOutput(lines []string) (machine, titles []string, header string, rows []string) {
	blank := slices.Index(lines, "")
	if blank < 0 {
		return lines, nil, "", nil
	}
	machine, rest := lines[:blank], lines[blank+1:]
	h := slices.IndexFunc(rest, func(l string) bool { return strings.HasPrefix(l, "kernel ") })
	if h < 0 {
		return machine, rest, "", nil
	}
	return machine, rest[:h], rest[h], rest[h+1:]
}

// tableRow is a row of the short table: its kernel × shape group (from the
// group's first row), its implementation (without the selection's *) and
// its line.
type tableRow struct {
	kernel, shape, impl string
	line                string
}

// implColumn is where the impl column starts: after "%-20s %-16s ".
const implColumn = 20 + 1 + 16 + 1

// parseRows attributes each row to its group; elision lines are dropped.
func parseRows(lines []string) []tableRow {
	var rows []tableRow
	var kernel, shape string
	for _, l := range lines {
		if strings.TrimSpace(l) == elision {
			continue
		}
		if f := strings.Fields(l); len(f) >= 2 && l[0] != ' ' {
			kernel, shape = f[0], f[1]
		}
		impl := ""
		if utf8.RuneCountInString(l) > implColumn {
			if f := strings.Fields(string([]rune(l)[implColumn:])); len(f) > 0 {
				impl = strings.TrimSuffix(f[0], "*")
			}
		}
		rows = append(rows, tableRow{kernel: kernel, shape: shape, impl: impl, line: l})
	}
	return rows
}

// splitRow splits a row at the impl column: the group's labels, then the
// implementation and its measurements.
func splitRow(l string) (labels, rest string) {
	r := []rune(l)
	if len(r) <= implColumn {
		return l, ""
	}
	return string(r[:implColumn]), string(r[implColumn:])
}

// renderSample returns the README's sample of an output: every machine
// line, the table's title and header, and the rows of sampleGroups, with an
// elision line wherever rows are left out.
func renderSample(out []string) []string {
	machine, titles, header, rowLines := splitOutput(out)
	sample := slices.Concat(machine, []string{""}, titles, []string{header})
	elided := false
	for _, r := range parseRows(rowLines) {
		if slices.Contains(sampleGroups, struct{ kernel, shape string }{r.kernel, r.shape}) {
			if elided {
				sample = append(sample, elision)
				elided = false
			}
			sample = append(sample, r.line)
		} else {
			elided = true
		}
	}
	if elided {
		sample = append(sample, elision)
	}
	return sample
}

var (
	numberRE = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?`)
	fieldRE  = regexp.MustCompile(`\S+`)
)

// skeleton is a line's form without its numbers: each field with its
// numbers written #, and its column (in runes), where it starts for a word
// and where it ends for a number (numbers are right-aligned).
func skeleton(l string) []string {
	var sk []string
	for _, loc := range fieldRE.FindAllStringIndex(l, -1) {
		f := numberRE.ReplaceAllString(strings.TrimSuffix(l[loc[0]:loc[1]], "*"), "#")
		col := utf8.RuneCountInString(l[:loc[0]])
		if strings.HasPrefix(f, "#") {
			col = utf8.RuneCountInString(l[:loc[1]])
		}
		sk = append(sk, fmt.Sprintf("%d:%s", col, f))
	}
	return sk
}

// words is a line's fields with their numbers written #, without columns.
func words(l string) string {
	return numberRE.ReplaceAllString(strings.Join(strings.Fields(l), " "), "#")
}

// label is the first column of a machine line ("%-10s ").
func label(l string) string {
	return strings.TrimSpace(string([]rune(l)[:min(10, utf8.RuneCountInString(l))]))
}

// checkReadmeSample checks that the README's sample has the lines and
// columns of out, softgrad's output on this machine with the cases
// measured: the machine lines' labels in order (their text describes
// another machine), the table's titles and header word for word (numbers
// aside), and each row where out has it, field by field in the same
// columns. A row that out lacks must be of an implementation this CPU does
// not run or of a case not measured.
func checkReadmeSample(t *testing.T, out string, measured []struct{ kernel, shape string }) {
	t.Helper()
	lines, from, to := readReadme(t)
	failed := false
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("README.md's sample: "+format, args...)
		failed = true
	}
	defer func() {
		if failed {
			t.Logf("softgrad's output here, to compare (go test ./cmd/softgrad -run TestReadmeSample -update-readme rewrites the sample):\n%s", out)
		}
	}()

	rMachine, rTitles, rHeader, rRows := splitOutput(lines[from:to])
	oMachine, oTitles, oHeader, oRows := splitOutput(outputLines(out))

	// The machine lines: every label, in the command's order.
	var rLabels, oLabels []string
	for _, l := range rMachine {
		rLabels = append(rLabels, label(l))
	}
	for _, l := range oMachine {
		oLabels = append(oLabels, label(l))
	}
	for _, want := range []string{"cpu", "cpus", "features", "build", "impls", "selected"} {
		if !slices.Contains(rLabels, want) {
			fail("no %q line", want)
		}
	}
	j := 0
	for _, l := range rLabels {
		for j < len(oLabels) && oLabels[j] != l {
			j++
		}
		if j == len(oLabels) {
			fail("machine lines labelled %q, the command's %q", rLabels, oLabels)
			break
		}
		j++
	}
	// The cpus line has one of cpuCounts's forms.
	var forms []string
	for _, c := range []struct {
		usable, pkg int
		vm          bool
	}{{2, 2, false}, {2, 254, true}, {2, 16, false}, {32, 16, false}} {
		forms = append(forms, words(cpuCounts(c.usable, c.usable, c.pkg, c.vm)))
	}
	for _, l := range rMachine {
		if label(l) == "cpus" && !slices.Contains(forms, words(string([]rune(l)[min(11, utf8.RuneCountInString(l)):]))) {
			fail("the cpus line %q is none of cpuCounts's forms %q", l, forms)
		}
	}

	// The table's titles and header.
	if len(rTitles) != len(oTitles) {
		fail("%d title lines, the command prints %d", len(rTitles), len(oTitles))
	}
	for i := range min(len(rTitles), len(oTitles)) {
		if words(rTitles[i]) != words(oTitles[i]) {
			fail("title line\n\t%s\nthe command's\n\t%s", rTitles[i], oTitles[i])
		}
	}
	if strings.TrimRight(rHeader, " ") != strings.TrimRight(oHeader, " ") {
		fail("header\n\t%s\nthe command's\n\t%s", rHeader, oHeader)
	}

	// The rows: field by field where this run has them, in its order.
	rows := parseRows(oRows)
	avail := implNames(kernels.Available())
	last, compared := -1, 0
	for _, r := range parseRows(rRows) {
		i := slices.IndexFunc(rows, func(o tableRow) bool {
			return o.kernel == r.kernel && o.shape == r.shape && o.impl == r.impl
		})
		if i < 0 {
			runs := slices.Contains(avail, r.impl) || isPeer(r.impl)
			if r.kernel == bench.KernelPeak {
				runs = slices.Contains(peak.ISAs(), r.impl)
			}
			if runs && slices.Contains(measured, struct{ kernel, shape string }{r.kernel, r.shape}) {
				fail("row %q (%s %s %s) is not one the command prints", r.line, r.kernel, r.shape, r.impl)
			}
			continue
		}
		if i <= last {
			fail("row %q is out of the command's order", r.line)
		}
		last = i
		compared++
		// The kernel and shape label a group's first row, which depends on
		// the implementations this CPU runs: they are compared with the
		// labels of the command's group, the rest with the same row.
		rl, rr := splitRow(r.line)
		_, or := splitRow(rows[i].line)
		if rs, ws := skeleton(rr), skeleton(or); !slices.Equal(rs, ws) {
			fail("row\n\t%s\nhas other fields or columns than the command's\n\t%s\n(%q against %q)", r.line, rows[i].line, rs, ws)
		}
		if strings.TrimSpace(rl) != "" {
			first := slices.IndexFunc(rows, func(o tableRow) bool { return o.kernel == r.kernel && o.shape == r.shape })
			if ol, _ := splitRow(rows[first].line); !slices.Equal(skeleton(rl), skeleton(ol)) {
				fail("row\n\t%s\nlabels its group otherwise than the command's\n\t%s", r.line, rows[first].line)
			}
		}
	}
	if compared == 0 {
		fail("no row to compare with the command's %d", len(rows))
	}
}

// readReadme returns the README's lines and the bounds of its sample of
// the command's output, lines[from:to].
func readReadme(t *testing.T) (lines []string, from, to int) {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(string(b), "\n")
	from, to, err = sampleBlock(lines)
	if err != nil {
		t.Fatal(err)
	}
	return lines, from, to
}
