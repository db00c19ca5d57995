// Command softgrad shows what the softgrad kernels do on this machine: how
// fast they run, how accurate they are, and a classifier trained with them.
//
// Usage:
//
//	softgrad [-impl NAME] [-benchtime D]
//	softgrad bench [-impl NAME] [-kernel REGEXP] [-lens LIST] [-batches LIST] [-benchtime D] [-svg FILE] [-json]
//	softgrad check [-impl NAME] [-full | -stride N] [-seed N]
//	softgrad train [-impl NAME] [-csv FILE | -idx IMAGES,LABELS] [-epochs N] [-batch N] [-lr X] [-workers N] [-seed N] ...
//	softgrad help
//
// With no command, softgrad prints the CPU (its model, its caches and the
// features the implementations use), the CPUs this process can use
// (runtime.NumCPU, and cpuid's count of the CPU package where that differs,
// as it does on a virtual machine), the implementations this CPU runs and
// the one selected, with the reason (the default, SOFTGRAD_IMPL or -impl),
// then a
// short benchmark table of about 15 seconds: one core's multiply-add peak
// at each vector width, then each kernel on a few shapes, for every
// implementation and beside the peers (a math.Exp loop, copy(), gonum's
// BLAS), in ns per element, GB/s, GFLOP/s, speed-up over generic and
// fraction of the peak.
//
// The bench command runs the full sweep of bench.Sweep: every kernel and
// implementation over row lengths from 10 to 10⁶ (Step: classes, from 64
// features) and batch sizes 1, 32 and 256, with a progress bar on a terminal. It prints a table of ns per
// element per kernel; -json prints every measurement as JSON instead, and
// -svg FILE draws ns per element against row length, one panel per kernel,
// one line per implementation and batch size.
//
// The check command measures each implementation's accuracy (see
// internal/accuracy): exp's largest error in ULP against the correctly
// rounded e^x (every 97th float32 of its domain [−87.34, 0], -stride N
// every Nth, or with -full every one, under a minute per implementation on 2 cores),
// softmax and cross-entropy errors against a float64 reference on random
// and adversarial rows (large spreads, −Inf masks, ties, exp's cutoff), and
// how closely each SIMD implementation agrees with generic. It exits with
// status 1 when any bound of the kernels documentation is missed.
//
// The train command trains multinomial logistic regression (a linear layer
// and softmax cross-entropy) with mini-batch SGD: the loss and the
// gradients of the weights and biases with the kernels' LinearCrossEntropy,
// the updates with Ger (see internal/logreg). By default it trains on an embedded task generated from
// -seed, 10 overlapping classes in 64 features, and reaches about 83% test
// accuracy in 10 epochs (the best possible is about 87%). -csv FILE reads
// one sample per line, the class in the first field and the features after
// it, with an optional header; -idx IMAGES,LABELS reads MNIST's IDX files
// (gzip-compressed or not), with pixels scaled to [0, 1]; CSV features are
// standardized with the training samples' statistics. -holdout sets the
// fraction held out for testing (0.2), -classes the number of classes (by
// default the largest label plus one). Each epoch prints the mean training
// loss, training and test accuracy and samples per second, with a progress
// bar on a terminal; -workers N splits each batch among N goroutines.
// -export FILE writes the embedded task as a CSV file that -csv reads.
//
// Every command takes -impl NAME to use one implementation ("generic",
// "avx2", "avx512", "neon") instead of the default; the environment
// variable SOFTGRAD_IMPL does the same for the whole program.
//
// Exit status: 0 on success; 1 when check finds a missed bound or a command
// fails; 2 on a usage error (a bad flag, an unknown implementation) or bad
// input data, which is reported on one line naming the file and the line
// (CSV) or byte offset (IDX): "softgrad: data.csv:7: field 3: "x" is not a
// number".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/softgrad/softgrad/kernels"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usageText = `usage:
  softgrad [-impl NAME] [-benchtime D]   the CPU, the implementations and a short speed table (about 15 s)
  softgrad bench [flags]                 the full sweep over row lengths and batch sizes (-svg, -json)
  softgrad check [flags]                 accuracy of every implementation; exit status 1 when a bound is missed
  softgrad train [flags]                 train a linear classifier with the kernels (embedded task, -csv or -idx)
  softgrad help                          this text; 'softgrad COMMAND -h' lists a command's flags
`

// run runs softgrad with the arguments after the program name and returns
// its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = runInfo(args, stdout, stderr)
	case "bench":
		err = runBench(args, stdout, stderr)
	case "check":
		err = runCheck(args, stdout, stderr)
	case "train":
		err = runTrain(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usageText)
		return 0
	default:
		err = usageErrorf("unknown command %q", cmd)
	}
	return exitStatus(err, stderr)
}

// usageError is a bad command line. It makes softgrad exit with status 2.
type usageError struct {
	msg    string
	silent bool // the flag package has printed the message already
}

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errCheckFailed reports that check found a missed bound; the report says
// which. It makes softgrad exit with status 1.
var errCheckFailed = errors.New("accuracy check failed")

// exitStatus reports err on stderr, in one line, and returns the exit
// status it calls for.
func exitStatus(err error, stderr io.Writer) int {
	var ue *usageError
	var de *dataError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if !ue.silent {
			fmt.Fprintf(stderr, "softgrad: %s\n", ue.msg)
			fmt.Fprint(stderr, usageText)
		}
		return 2
	case errors.As(err, &de):
		fmt.Fprintf(stderr, "softgrad: %v\n", de)
		return 2
	case errors.Is(err, errCheckFailed):
		fmt.Fprintln(stderr, "softgrad: check: a bound was missed (see above)")
		return 1
	}
	fmt.Fprintf(stderr, "softgrad: %v\n", err)
	return 1
}

// newFlags returns the flag set of a command, which prints its errors and
// usage to stderr, and the -impl flag every command has.
func newFlags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	impl := fs.String("impl", "", "use the implementation `NAME` (generic, avx2, avx512, neon) instead of the default")
	return fs, impl
}

// parse parses a command's flags; it accepts no positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error(), silent: true}
	}
	if fs.NArg() > 0 {
		return usageErrorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// selection is the implementation a command uses and why.
type selection struct {
	impl   *kernels.Impl
	forced bool   // by -impl
	why    string // "the default ...", "SOFTGRAD_IMPL=avx2", "-impl avx2"
}

// selectImpl resolves -impl: the named implementation, or kernels.Default()
// when name is empty. An unknown or unsupported name is a usage error that
// says why and lists the choices.
func selectImpl(name string) (selection, error) {
	if name == "" {
		im := kernels.Default()
		why := "the default, the first this CPU runs; SOFTGRAD_IMPL or -impl chooses another"
		if env := os.Getenv(kernels.EnvVar); env != "" {
			why = "chosen by " + kernels.EnvVar + "=" + env
		}
		return selection{impl: im, why: why}, nil
	}
	im, err := kernels.Lookup(name)
	if err != nil {
		return selection{}, usageErrorf("-impl %s: %v (this CPU runs: %s)", name,
			strings.TrimPrefix(err.Error(), "kernels: "), strings.Join(implNames(kernels.Available()), ", "))
	}
	return selection{impl: im, forced: true, why: "chosen by -impl " + name}, nil
}

func implNames(impls []*kernels.Impl) []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.Name()
	}
	return names
}

// generic returns the generic implementation, which every build has.
func generic() *kernels.Impl {
	im, err := kernels.Lookup("generic")
	if err != nil {
		panic(err)
	}
	return im
}
