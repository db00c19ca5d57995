package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/softgrad/softgrad/internal/accuracy"
	"github.com/softgrad/softgrad/kernels"
)

// runCheck is softgrad check: the accuracy of every implementation (or the
// one -impl names) against exact arithmetic and against generic. It
// returns errCheckFailed when a bound is missed.
func runCheck(args []string, stdout, stderr io.Writer) error {
	fs, implName := newFlags("check", "softgrad check [-impl NAME] [-full | -stride N] [-seed N]", stderr)
	full := fs.Bool("full", false, "measure exp on every float32 of its domain (1.1e9 arguments, under a minute per implementation on 2 cores); the same as -stride 1")
	strideFlag := fs.Uint("stride", accuracy.ExpSampleStride, "measure exp on every `N`th float32 of its domain")
	seed := fs.Uint64("seed", 1, "the seed of the random rows")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *strideFlag < 1 || *strideFlag > 1<<30 {
		return usageErrorf("check: -stride %d: want 1 to 2³⁰", *strideFlag)
	}
	sel, err := selectImpl(*implName)
	if err != nil {
		return err
	}
	impls := kernels.Available()
	if sel.forced {
		impls = []*kernels.Impl{sel.impl}
	}
	var failures []error
	verdict := func(err error) string {
		if err != nil {
			failures = append(failures, err)
			return "FAIL"
		}
		return "ok"
	}
	fmt.Fprintf(stdout, "accuracy of %s against exact arithmetic, under the bounds of the kernels documentation\n\n",
		strings.Join(implNames(impls), ", "))

	// exp, read off LogSoftmaxBackward.
	stride := uint32(*strideFlag)
	if *full {
		stride = 1
	}
	sample := fmt.Sprintf("every %s float32", ordinal(stride))
	if stride == 1 {
		sample = "every float32"
	}
	perImpl := (accuracy.ExpInputs()-1)/int64(stride) + 1
	fmt.Fprintf(stdout, "exp: error against the correctly rounded e^x, on %s in [%.7g, 0] (%s arguments)\n",
		sample, float32(accuracy.ExpMin), count(perImpl))
	fmt.Fprintf(stdout, "  %-9s %8s  %-14s %-9s\n", "impl", "max ULP", "at x", "bound")
	bar := newProgress(stderr, perImpl*int64(len(impls)), "exp")
	for _, im := range impls {
		bar.describe("exp " + im.Name())
		st := accuracy.Exp(im, stride, bar.add)
		if st.Err != nil {
			st.Err = fmt.Errorf("%s: %w", im.Name(), st.Err)
		}
		fmt.Fprintf(stdout, "  %-9s %8d  %-14.8g %-9s %s\n", im.Name(), st.MaxULP, st.WorstX,
			fmt.Sprintf("%d ULP", accuracy.ExpMaxULP), verdict(st.Err))
	}
	bar.finish()

	// Softmax and cross-entropy against float64.
	groups := accuracy.Groups(*seed)
	fmt.Fprintf(stdout, "\nsoftmax and cross-entropy against float64, on rows of 5 kinds (seed %d):\n", *seed)
	for _, g := range groups {
		fmt.Fprintf(stdout, "  %-8s %s\n", g.Name, g.About)
	}
	fmt.Fprintln(stdout, "relative errors (softmax: probabilities ≥ 2⁻¹²⁵), the gradient's error times the batch size,")
	fmt.Fprintln(stdout, "and the largest error as a fraction of its bound (÷bound ≤ 1 passes)")
	fmt.Fprintf(stdout, "  %-9s %-8s %12s %8s %12s %12s %8s\n", "impl", "rows", "softmax", "÷bound", "CE loss", "CE grad·n", "÷bound")
	for _, im := range impls {
		for _, g := range groups {
			st := accuracy.Rows(im, g)
			if st.Err != nil {
				st.Err = fmt.Errorf("%s: %w", im.Name(), st.Err)
			}
			fmt.Fprintf(stdout, "  %-9s %-8s %12s %8.3f %12s %12s %8.3f %s\n", im.Name(), g.Name,
				sci(st.SoftmaxRel), st.SoftmaxRatio, sci(st.LossRel), sci(st.GradErr), st.CERatio, verdict(st.Err))
		}
	}

	// Every other implementation against generic.
	gen := generic()
	header := false
	for _, im := range impls {
		if im.Name() == gen.Name() {
			continue
		}
		if !header {
			fmt.Fprintln(stdout, "\nagreement with generic: the largest difference of a softmax output (ULP), of a gradient")
			fmt.Fprintln(stdout, "element times the batch size, and of a loss")
			fmt.Fprintf(stdout, "  %-9s %-8s %12s %12s %12s\n", "impl", "rows", "softmax ULP", "CE grad·n", "CE loss")
			header = true
		}
		for _, g := range groups {
			ag := accuracy.Agree(im, gen, g)
			if ag.Err != nil {
				ag.Err = fmt.Errorf("%s against generic: %w", im.Name(), ag.Err)
			}
			fmt.Fprintf(stdout, "  %-9s %-8s %12d %12s %12s %s\n", im.Name(), g.Name,
				ag.SoftmaxULP, sci(ag.GradDiff), sci(ag.LossDiff), verdict(ag.Err))
		}
	}

	fmt.Fprintln(stdout)
	if len(failures) > 0 {
		for _, err := range failures {
			fmt.Fprintf(stdout, "FAIL %v\n", err)
		}
		return errCheckFailed
	}
	fmt.Fprintln(stdout, "all bounds hold")
	return nil
}

// ordinal returns "97th", "2nd", ...
func ordinal(n uint32) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprint(n) + suffix
}

// sci formats an error in scientific notation, 0 as "0".
func sci(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2e", v)
}

// count formats a large count: 11.5M, 1.12G.
func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.3gk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
