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

// A linear classifier trained by plain SGD, the hot loop of a training
// step: Gemm computes the logits X·Wᵀ, the fused cross-entropy kernel the
// loss and G = ∂J/∂logits, and GerBatch applies W −= lr·Gᵀ·X for the whole
// mini-batch in one call.
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
	batch := len(labels)
	w := make([]float32, classes*features) // classes×features, nn.Linear's layout
	logits := make([]float32, batch*classes)

	for step := range 30 {
		// logits = X·Wᵀ
		kernels.Gemm(false, true, batch, classes, features, 1, x, features, w, features, 0, logits, classes)

		// The gradient overwrites the logits in place.
		loss, err := kernels.CrossEntropyGrad(logits, logits, labels, classes)
		if err != nil {
			panic(err)
		}
		kernels.GerBatch(w, features, -lr, logits, classes, x, features)
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

// PyTorch's F.cross_entropy(logits, labels, weight=w, label_smoothing=0.1,
// reduction='none', ignore_index=-1) and its gradient in one call; PyTorch
// 1.13 prints the same losses and gradient.
func ExampleCrossEntropyGradWith() {
	logits := []float32{
		2, 0, -1,
		0, 3, 0,
		1, 1, 1,
	}
	labels := []int32{0, 2, kernels.IgnoreLabel}
	losses := make([]float32, len(labels))
	grad := make([]float32, len(logits))
	sum, err := kernels.CrossEntropyGradWith(grad, logits, labels, 3, kernels.CrossEntropyOptions{
		Weights:        []float32{1, 1, 4}, // class 2 is rare: it weighs 4
		LabelSmoothing: 0.1,
		Reduction:      kernels.ReduceNone,
		Losses:         losses,
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("losses %.4f, sum %.4f\n", losses, sum)
	fmt.Printf("grad of row 1 %.4f\n", grad[3:6])

	// A bad option is bad data: an error, and nothing written.
	_, err = kernels.CrossEntropyGradWith(grad, logits, labels, 3, kernels.CrossEntropyOptions{LabelSmoothing: 1.5})
	fmt.Println(err)
	// Output:
	// losses [0.6535 11.6607 0.0000], sum 12.3142
	// grad of row 1 [0.1387 3.4226 -3.5613]
	// kernels: LabelSmoothing = 1.5: must be in [0, 1]
}

// The two products of a linear layer with weights W (classes×features) on
// a batch X (samples×features): the logits X·Wᵀ, and the gradient G·W that
// the layer passes down, from the gradient G of the logits.
func ExampleGemm() {
	x := []float32{ // 2 samples × 3 features
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // 2 classes × 3 features
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	logits := make([]float32, 2*2)
	kernels.Gemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, logits, 2) // logits = X·Wᵀ
	fmt.Println(logits)

	g := []float32{ // ∂J/∂logits, 2 samples × 2 classes
		0.5, -0.5,
		-0.25, 0.25,
	}
	dx := make([]float32, 2*3)
	kernels.Gemm(false, false, 2, 3, 2, 1, g, 2, w, 3, 0, dx, 3) // ∂J/∂X = G·W
	fmt.Println(dx)
	// Output:
	// [-2 3 -2 7.5]
	// [0.25 -0.25 -0.75 -0.125 0.125 0.375]
}

func ExampleLinearCrossEntropy() {
	x := []float32{ // 2 samples × 3 features
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // 2 classes × 3 features (nn.Linear's layout)
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	b := []float32{0, -1}
	labels := []int32{0, kernels.IgnoreLabel} // the second sample is masked out

	dw, db, dx := make([]float32, 2*3), make([]float32, 2), make([]float32, 2*3)
	loss, err := kernels.LinearCrossEntropy(dw, db, dx, x, w, b, labels, 3, 2)
	if err != nil {
		panic(err)
	}
	// Sample 0's logits are (−2, 2): the loss is log(1 + e⁴), and its
	// gradient row G_0 = (s_0 − 1, s_1) = (−s_1, s_1) with s_1 = σ(4).
	fmt.Printf("loss %.4f\n", loss)
	fmt.Printf("dw %.4f\n", dw)
	fmt.Printf("db %.4f\n", db)
	fmt.Printf("dx %.4f\n", dx)
	// Output:
	// loss 4.0181
	// dw [-0.9820 -1.9640 -2.9460 0.9820 1.9640 2.9460]
	// db [-0.9820 0.9820]
	// dx [-0.4910 0.4910 1.4730 0.0000 0.0000 0.0000]
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
