// Command mutate checks that the tests catch small numeric and logic
// errors: it plants each of a list of single-point mutations, one at a
// time, in a copy of the repository, runs the short suite of the kernels
// and the fuzz seeds there, and reports each mutation the suite did not
// catch.
//
//	go run ./internal/mutate            # every mutation, about 10 minutes on 2 cores
//	go run ./internal/mutate -run exp   # those whose name matches
//
// A mutation of the generator (kernels/asm_gen) regenerates the assembly
// in the copy first. The exit status is 1 if a mutation survived or no
// longer applies (its text is not found exactly once, or the mutated code
// does not compile: the code moved on, and the list must follow it).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// mutation replaces old, which must occur exactly once in file, by new.
type mutation struct {
	name, file, old, new string
}

// regenerates reports whether the mutation is in the generator, so that
// the assembly must be generated again.
func (m mutation) regenerates() bool { return strings.HasPrefix(m.file, "kernels/asm_gen/") }

var mutations = []mutation{
	// exp's constants, in generic and in the generator.
	{"exp-coefficient-generic", "kernels/generic.go", "expC3     = 0x1.555A80p-3", "expC3     = 0x1.555A90p-3"},
	{"exp-cutoff-generic", "kernels/generic.go", "expCutoff = -0x1.5D589Ep6", "expCutoff = -0x1.5D5800p6"},
	{"exp-coefficient-simd", "kernels/asm_gen/exp.go", `expC2       = constant{"expC2", 0x1.FFFDC6p-2}`, `expC2       = constant{"expC2", 0x1.FFFDD6p-2}`},
	// Reciprocals, logarithms and sums a few ULP off.
	{"softmax-reciprocal-4ulp", "kernels/rows.go", "c[r] = float32(1 / z[r])", "c[r] = float32(1/z[r]) * (1 + 0x1p-21)"},
	{"logsoftmax-log-off", "kernels/rows.go", "logZ[r] = float32(math.Log(z[r]))", "logZ[r] = float32(math.Log(z[r] * (1 + 0x1p-20)))"},
	{"backward-dot-off", "kernels/generic.go", "out[i] = p * (g[i] - d)", "out[i] = p * (g[i] - d*(1+0x1p-20))"},
	{"crossentropy-loss-max", "kernels/rows.go", "loss -= float64(x) - float64(m[r])", "loss -= float64(x) - float64(m[r])*(1+0x1p-30)"},
	{"simd-expsum-16ulp", "kernels/dispatch_amd64.go", "\t\texpRowsAVX512(dst, src, cols, m, z)\n", "\t\texpRowsAVX512(dst, src, cols, m, z)\n\t\tfor r := range z {\n\t\t\tz[r] *= 1 + 0x1p-19\n\t\t}\n"},
	{"simd-softsums-16ulp", "kernels/dispatch_amd64.go", "\t\tsoftTargetRowsAVX512(grad, logits, targets, cols, m, z, tsum, td)\n", "\t\tsoftTargetRowsAVX512(grad, logits, targets, cols, m, z, tsum, td)\n\t\tfor r := range z {\n\t\t\tz[r] *= 1 + 0x1p-19\n\t\t}\n"},
	{"softtarget-scale", "kernels/rows.go", "invRows := float32(1 / float64(rows))", "invRows := float32(1 / float64(rows+1))"},
	// Labels and ignored rows.
	{"ignored-row-not-cleared", "kernels/rows.go", "clear(grad[row : row+cols])", "grad[row] = 0"},
	{"label-gradient-off", "kernels/rows.go", "grad[row+int(l)] -= invN", "grad[row+int(l)] -= invN * (1 - 0x1p-20)"},
	{"negative-label-accepted", "kernels/kernels.go", "case l < 0 || int(l) >= cols:", "case int(l) >= cols:"},
	// Cross-entropy's options.
	{"short-rows-label-term-added", "kernels/asm_gen/shortrows.go", "\tVSUBPS(m, v, v)\n", "\tVADDPS(m, v, v)\n"},
	{"smoothing-shift-off", "kernels/options.go", "is.scaleShiftRows(grad[i:j], o.w, cols, c[:n], float32(s))", "is.scaleShiftRows(grad[i:j], o.w, cols, c[:n], float32(s)*(1+0x1p-18))"},
	{"weighted-mean-divisor", "kernels/options.go", "d += float64(n) * float64(o.w[c])", "d += float64(n) * float64(o.w[c]) * (1 + 0x1p-20)"},
	{"zloss-factor-off", "kernels/options.go", "k := [...]float32{float32(2 * o.z * o.invD),", "k := [...]float32{float32(2.001 * o.z * o.invD),"},
	// Lane masks of the generated tails.
	{"avx512-last-lanes-mask", "kernels/asm_gen/isa.go", "MOVL(U32(0xFFFF0000), bits)", "MOVL(U32(0xFFFE0000), bits)"},
	{"avx2-first-lanes-mask", "kernels/asm_gen/isa.go", "LEAQ(laneMasks().Offset(32), base)", "LEAQ(laneMasks().Offset(28), base)"},
	// Dispatch ranges, offsets and accumulation.
	{"transposed-ger-range", "kernels/dispatch_amd64.go", "case n >= gerBatchTransposedMinColsAVX512 && n <= gerBatchTransposedMaxColsAVX512:", "case n >= gerBatchTransposedMinColsAVX512-1 && n <= gerBatchTransposedMaxColsAVX512:"},
	{"short-rows-group-offset", "kernels/asm_gen/shortrows.go", "SHLQ(U8(log2(g.is.lanes)), step)", "SHLQ(U8(log2(g.is.lanes)-1), step)"},
	{"gemm-beta-one-ignored", "kernels/gemm.go", "add := pc > 0 || g.add", "add := pc > 0"},
	{"linear-dw-accumulates", "kernels/linear.go", "		if r0 == 0 {\n			beta = 0\n		}", "		if r0 == 0 {\n			beta = 1\n		}"},
	{"loss-fold-order", "kernels/threads.go", "	for _, l := range j.losses {\n		sum += l\n	}", "	for i := len(j.losses) - 1; i >= 0; i-- {\n		sum += j.losses[i]\n	}"},
}

func main() {
	run := flag.String("run", "", "plant only the mutations whose name matches `REGEXP`")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up on the suite of one mutation after `D` (counts as caught)")
	flag.Parse()
	re, err := regexp.Compile(*run)
	if err != nil {
		fail(err)
	}
	root, err := output(".", "git", "rev-parse", "--show-toplevel")
	if err != nil {
		fail(err)
	}
	tmp, err := os.MkdirTemp("", "softgrad-mutate-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	if err := copyTracked(root, tmp); err != nil {
		fail(err)
	}
	var survived, stale []string
	for _, m := range mutations {
		if !re.MatchString(m.name) {
			continue
		}
		start := time.Now()
		caught, err := plant(tmp, m, *timeout)
		switch {
		case err != nil:
			stale = append(stale, m.name)
			fmt.Printf("%-30s does not apply: %v\n", m.name, err)
		case caught:
			fmt.Printf("%-30s caught (%.0fs)\n", m.name, time.Since(start).Seconds())
		default:
			survived = append(survived, m.name)
			fmt.Printf("%-30s SURVIVED: %s: %q → %q\n", m.name, m.file, m.old, m.new)
		}
	}
	fmt.Printf("%d survived, %d do not apply\n", len(survived), len(stale))
	if len(survived)+len(stale) > 0 {
		os.Exit(1)
	}
}

// plant applies m in the copy at dir, runs the suite and restores the copy.
// It reports whether the suite failed.
func plant(dir string, m mutation, timeout time.Duration) (caught bool, err error) {
	path := filepath.Join(dir, m.file)
	orig, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if n := bytes.Count(orig, []byte(m.old)); n != 1 {
		return false, fmt.Errorf("%s holds the text %d times, want once", m.file, n)
	}
	mutated := bytes.Replace(orig, []byte(m.old), []byte(m.new), 1)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return false, err
	}
	generated := []string{"kernels/softmax_amd64.s", "kernels/softmax_amd64.go", "kernels/softmax_arm64.s", "kernels/softmax_arm64.go", "kernels/limits_amd64.go"}
	saved := map[string][]byte{}
	defer func() {
		os.WriteFile(path, orig, 0o644)
		for f, b := range saved {
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
	}()
	if m.regenerates() {
		for _, f := range generated {
			if saved[f], err = os.ReadFile(filepath.Join(dir, f)); err != nil {
				return false, err
			}
		}
		if _, err := output(dir, "go", "generate", "./kernels/..."); err != nil {
			return false, fmt.Errorf("the generator fails: %v", err)
		}
	}
	// A mutation that does not compile would count as caught: build the
	// tests first, without running them.
	if _, err := output(dir, "go", "test", "-count=1", "-run", "^$", "./kernels/...", "./fuzz/..."); err != nil {
		return false, fmt.Errorf("does not compile: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-short", "-count=1", "./kernels/...", "./fuzz/...")
	cmd.Dir = dir
	return cmd.Run() != nil, nil
}

// copyTracked copies the files git tracks in root into dir.
func copyTracked(root, dir string) error {
	list, err := output(root, "git", "ls-files", "-z")
	if err != nil {
		return err
	}
	for _, f := range strings.Split(strings.TrimRight(list, "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return err
		}
		info, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func output(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
