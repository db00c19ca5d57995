package gonumblas_test

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/softgrad/softgrad/gonumblas"
)

// Code written against gonum's blas32 runs softgrad's Gemm once
// Implementation is installed; nothing else changes.
func Example() {
	prev := blas32.Implementation()
	blas32.Use(gonumblas.Implementation{}) // kernels.Default()
	defer blas32.Use(prev)

	a := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{
		1, 2, 3,
		4, 5, 6,
	}}
	b := blas32.General{Rows: 3, Cols: 2, Stride: 2, Data: []float32{
		7, 8,
		9, 10,
		11, 12,
	}}
	c := blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 4)}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c) // C = A·B
	fmt.Println(c.Data)
	// Output:
	// [58 64 139 154]
}
