package main

import (
	"github.com/softgrad/softgrad/internal/logreg"
	"github.com/softgrad/softgrad/kernels"
	"testing"
)

func TestTmpSynth(t *testing.T) {
	for _, sp := range []uint64{1, 2, 3} {
		d, bayes := synthetic(sp, 25000)
		tr, te := split(d, 0.2, 1)
		m := logreg.New(d.features, d.classes)
		trn := logreg.NewTrainer(m, kernels.Default(), 0.1, 1)
		for ep := range 10 {
			for lo := 0; lo < tr.len(); lo += 64 {
				hi := min(lo+64, tr.len())
				trn.Step(tr.x[lo*64:hi*64], tr.labels[lo:hi])
			}
			l, a, _ := trn.Evaluate(tr.x, tr.labels, 1000)
			_, at, _ := trn.Evaluate(te.x, te.labels, 1000)
			t.Logf("seed %d bayes %.3f epoch %d loss %.4f train %.3f test %.3f", sp, bayes, ep, l, a, at)
		}
	}
}
