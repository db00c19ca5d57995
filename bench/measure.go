package bench

import (
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Result is the measurement of one case: its identity and shape, and the
// metrics [Run] reports.
type Result struct {
	Kernel string `json:"kernel"`
	Impl   string `json:"impl"`
	Shape  string `json:"shape"`
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	K      int    `json:"k,omitempty"`

	N         int     `json:"n"`                     // ops timed
	NsPerOp   float64 `json:"ns_per_op"`             // time of one op
	NsPerElem float64 `json:"ns_per_elem"`           // NsPerOp / Case.Elems
	GBPerS    float64 `json:"gb_per_s"`              // Case.Bytes / NsPerOp
	GFLOPPerS float64 `json:"gflop_per_s,omitempty"` // Case.Flops / NsPerOp (Ger, GerBatch, Gemm, peak)
	Procs     int     `json:"procs,omitempty"`       // the GOMAXPROCS of a Parallel case's loop
}

// measureMu serialises Measure: it sets the testing package's benchtime,
// which is global.
var measureMu sync.Mutex

// Measure times c for about d outside a test binary: it runs [Run] under
// testing.Benchmark with the testing package's benchtime (its
// -test.benchtime flag, registered by testing.Init when the program has not
// done so) set to d for the call, and returns the metrics Run reported. The
// case's Setup and warm-up op are not timed. Calls are serialised. It leaves
// out the math.Exp loop that a MathExp case runs beside the op: callers
// measure that loop as a case of its own.
func Measure(c Case, d time.Duration) (Result, error) {
	c.MathExp = nil
	measureMu.Lock()
	defer measureMu.Unlock()
	f := flag.Lookup("test.benchtime")
	if f == nil {
		testing.Init()
		if f = flag.Lookup("test.benchtime"); f == nil {
			return Result{}, fmt.Errorf("bench: the testing package has no test.benchtime flag")
		}
	}
	old := f.Value.String()
	if err := f.Value.Set(d.String()); err != nil {
		return Result{}, fmt.Errorf("bench: benchtime %v: %w", d, err)
	}
	defer f.Value.Set(old)

	r := testing.Benchmark(func(b *testing.B) { Run(b, c) })
	if r.N == 0 {
		return Result{}, fmt.Errorf("bench: %s did not run", c.Name())
	}
	return Result{
		Kernel: c.Kernel, Impl: c.Impl, Shape: c.Shape, Rows: c.Rows, Cols: c.Cols, K: c.K,
		N:         r.N,
		NsPerOp:   float64(r.T.Nanoseconds()) / float64(r.N),
		NsPerElem: r.Extra["ns/elem"],
		GBPerS:    r.Extra["GB/s"],
		GFLOPPerS: r.Extra["GFLOP/s"],
		Procs:     int(r.Extra["procs"]),
	}, nil
}
