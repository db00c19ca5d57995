package kernels

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
)

// Impl is one implementation of every kernel: the pure-Go reference
// ("generic") or a SIMD one. Its methods have the signatures, checks and
// semantics of the package-level functions of the same names. An Impl is
// immutable and safe for concurrent use.
type Impl struct {
	name string
	isa  isa
	// missing lists the CPU features this implementation needs and the CPU
	// lacks; nil means it needs nothing beyond the architecture.
	missing func() []string
	// threads is the most goroutines a call splits into; 0: the default
	// (see Threads).
	threads int
}

// isa names an instruction set the kernels are written for. Its methods
// (dispatch.go) are the dispatch table: each calls that instruction set's
// routine for one row primitive. They are direct calls, not function values,
// so that the per-row scratch arrays of rows.go stay on the stack.
type isa uint8

const (
	isaGeneric isa = iota
	isaAVX2
	isaAVX512
	isaNEON
)

// Name returns the implementation's name: "generic", "avx2", "avx512" or
// "neon".
func (im *Impl) Name() string { return im.name }

// String returns the implementation's name.
func (im *Impl) String() string { return im.name }

// implArch says which architecture each known implementation needs; it is
// what Lookup explains an absent implementation with.
var implArch = []struct{ name, arch string }{
	{"avx512", "amd64"},
	{"avx2", "amd64"},
	{"neon", "arm64"},
	{"generic", ""},
}

// all lists the implementations compiled into this build, fastest first,
// whether or not this CPU can run them; generic is last.
var all = append(append([]*Impl(nil), simdImpls...), genericImpl)

// Lookup returns the implementation with the given name. It returns an error
// when the name is unknown, when the implementation is not part of this build
// (another architecture, or -tags purego), or when this CPU lacks features it
// needs; the error then names the missing features.
func Lookup(name string) (*Impl, error) {
	for _, im := range all {
		if im.name != name {
			continue
		}
		if miss := im.missingFeatures(); len(miss) > 0 {
			return nil, fmt.Errorf("kernels: implementation %q needs CPU features this CPU lacks: %s",
				name, strings.Join(miss, ", "))
		}
		return im, nil
	}
	for _, a := range implArch {
		if a.name != name {
			continue
		}
		switch {
		case a.arch != runtime.GOARCH:
			return nil, fmt.Errorf("kernels: implementation %q is for %s; this program is built for %s",
				name, a.arch, runtime.GOARCH)
		case purego:
			return nil, fmt.Errorf("kernels: implementation %q is not in a build with -tags purego", name)
		default:
			return nil, fmt.Errorf("kernels: implementation %q is not in this build of the package", name)
		}
	}
	return nil, fmt.Errorf("kernels: unknown implementation %q (known: %s)", name, knownNames())
}

func (im *Impl) missingFeatures() []string {
	if im.missing == nil {
		return nil
	}
	return im.missing()
}

func knownNames() string {
	names := make([]string, len(implArch))
	for i, a := range implArch {
		names[i] = a.name
	}
	return strings.Join(names, ", ")
}

// Available returns the implementations this CPU can run, fastest first; the
// last is always "generic".
func Available() []*Impl {
	var out []*Impl
	for _, im := range all {
		if len(im.missingFeatures()) == 0 {
			out = append(out, im)
		}
	}
	return out
}

// Default returns the implementation the package-level functions use: the
// fastest available one, or the one the environment variable SOFTGRAD_IMPL
// names. SOFTGRAD_IMPL is read once, when the program starts; a value that is
// unknown or cannot run on this CPU stops the program then, with a message
// saying why and listing the valid choices.
func Default() *Impl { return defaultImpl }

// EnvVar is the environment variable that overrides [Default].
const EnvVar = "SOFTGRAD_IMPL"

var defaultImpl = chooseDefault()

func chooseDefault() *Impl {
	name, ok := os.LookupEnv(EnvVar)
	if !ok || name == "" {
		return Available()[0]
	}
	im, err := Lookup(name)
	if err != nil {
		var valid []string
		for _, a := range Available() {
			valid = append(valid, a.name)
		}
		fmt.Fprintf(os.Stderr, "softgrad: %s=%q cannot be used: %v\nvalid choices on this machine: %s\n",
			EnvVar, name, err, strings.Join(valid, ", "))
		os.Exit(2)
	}
	return im
}

func nan() float64 { return math.NaN() }
