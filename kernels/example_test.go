package kernels_test

import (
	"errors"
	"fmt"

	"github.com/softgrad/softgrad/kernels"
)

func ExampleSoftmax() {
	// Two rows of three logits. The second row holds a −Inf (a masked
	// class), which gets probability exactly 0.
	logits := []float32{
		1, 2, 3,
		0, 0, float32(negInf()),
	}
	probs := make([]float32, len(logits))
	kernels.Softmax(probs, logits, 3)
	fmt.Printf("%.4f\n", probs[:3])
	fmt.Printf("%.4f\n", probs[3:])
	// Output:
	// [0.0900 0.2447 0.6652]
	// [0.5000 0.5000 0.0000]
}

func ExampleLogSoftmax() {
	logp := []float32{0, 0, 0, 1000} // in place: dst may be src
	kernels.LogSoftmax(logp, logp, 4)
	fmt.Printf("%.4g\n", logp)
	// Output:
	// [-1000 -1000 -1000 0]
}

// A linear classifier trained by plain SGD: logits = X·W, the fused
// cross-entropy kernel gives the loss and ∂J/∂logits, and GerBatch applies
// W −= lr·Xᵀ·∂J/∂logits for the whole mini-batch in one call.
func ExampleCrossEntropyGrad() {
	const (
		features = 2
		classes  = 3
		lr       = 0.5
	)
	// Four samples, one per row, and their classes.
	x := []float32{
		1, 0,
		0, 1,
		-1, 0,
		0, -1,
	}
	labels := []int32{0, 1, 2, kernels.IgnoreLabel} // the last sample is unlabelled
	w := make([]float32, features*classes)          // features×classes, row-major
	logits := make([]float32, len(labels)*classes)

	for step := range 30 {
		// logits = X·W
		clear(logits)
		kernels.GerBatch(logits, classes, 1, transpose(x, features), len(labels), w, classes)

		// The gradient overwrites the logits in place.
		loss, err := kernels.CrossEntropyGrad(logits, logits, labels, classes)
		if err != nil {
			panic(err)
		}
		kernels.GerBatch(w, classes, -lr, x, features, logits, classes)
		if step%10 == 0 {
			fmt.Printf("step %2d: loss %.3f\n", step, loss)
		}
	}

	// Bad data is an error, not a panic, and leaves the gradient untouched.
	_, err := kernels.CrossEntropyGrad(logits, logits, []int32{0, 1, 7, 2}, classes)
	var le *kernels.LabelError
	fmt.Println(errors.As(err, &le), err)
	// Output:
	// step  0: loss 1.099
	// step 10: loss 0.396
	// step 20: loss 0.227
	// true kernels: row 2: label 7 out of range [0, 3)
}

// transpose returns the cols×rows transpose of a rows×cols matrix, so that
// GerBatch(c, n, 1, transpose(a), rows(a), b, n) computes c += a·b.
func transpose(a []float32, cols int) []float32 {
	rows := len(a) / cols
	t := make([]float32, len(a))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

func negInf() float64 { var zero float64; return -1 / zero }

func ExampleLookup() {
	impl, err := kernels.Lookup("generic")
	if err != nil {
		panic(err)
	}
	dst := make([]float32, 2)
	impl.Softmax(dst, []float32{0, 0}, 2)
	fmt.Println(impl.Name(), dst)

	_, err = kernels.Lookup("sse9")
	fmt.Println(err)
	// Output:
	// generic [0.5 0.5]
	// kernels: unknown implementation "sse9" (known: avx512, avx2, neon, generic)
}
