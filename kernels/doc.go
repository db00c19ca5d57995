// Package kernels computes the output layer of a classifier: the general
// matrix product of a linear layer ([Gemm]), softmax, log-softmax, their
// backward passes, a fused cross-entropy loss and gradient, and the rank-1
// and rank-k weight updates that carry that gradient down to the weights.
// Each kernel has a pure-Go implementation ("generic", the reference) and,
// where the CPU allows, SIMD implementations chosen at run time (see
// [Default]).
//
// # Layout
//
// A batch is a row-major, contiguous rows×cols matrix of float32 held in a
// slice; rows = len(src)/cols. Every row is processed independently: a NaN or
// an infinity in one row never changes another row's output. The matrices
// of [Ger], [GerBatch] and [Gemm] are row-major with a row stride (lda, ldb,
// ldc) of at least their number of columns, as in BLAS.
//
// # The math
//
// For a row x with max m = max_i x_i and sum Z = Σ_j exp(x_j − m):
//
//	Softmax             s_i  = exp(x_i − m) / Z
//	LogSoftmax          ls_i = x_i − m − log Z
//	SoftmaxBackward     dx_i = s_i·(dy_i − ⟨dy, s⟩)      (the Jacobian ∂s_i/∂x_k = s_i(δ_ik − s_k) applied to dy)
//	LogSoftmaxBackward  dx_i = dy_i − exp(logp_i)·Σ_j dy_j
//
// Subtracting the row max keeps every exp argument ≤ 0, so no finite input
// overflows. exp is evaluated in float32 with a two-constant Cody-Waite range
// reduction and a degree-5 minimax polynomial, within 2 ULP of the correctly
// rounded result on [−87.33, 0]; arguments below −87.33 (where exp would be
// subnormal) give exactly 0. Row sums add float32 partial sums over blocks
// of at most 256 elements into a float64 total, so a softmax output stays
// within 2e-6 relative error of a float64 computation for rows up to 4096
// and 1e-5 up to 262144 (plus the |x_i − m|·2⁻²⁴ that rounding x_i − m to
// float32 costs).
//
// Cross-entropy with integer labels ([CrossEntropyGrad]) fuses the forward
// and backward passes of PyTorch's cross_entropy with mean reduction: with n
// the number of rows whose label is not [IgnoreLabel],
//
//	loss  = (1/n) Σ_r (log Z_r + m_r − x_r[label_r])
//	grad_r = (softmax(x_r) − onehot(label_r)) / n
//
// Ignored rows get a zero gradient and add nothing to the loss. With soft
// targets t ([CrossEntropyGradSoft]), over all rows:
//
//	loss   = (1/rows) Σ_r −Σ_i t_ri·log softmax(x_r)_i
//	grad_r = (softmax(x_r)·Σ_i t_ri − t_r) / rows
//
// [CrossEntropyGradWith] adds the options of PyTorch's F.cross_entropy
// (class weights w, label smoothing ε, the reductions) and PaLM's z-loss z,
// in the same passes over the logits. For a counted row with label y, C =
// cols, W = Σ_c w_c and lse = log Z + m (PyTorch's formula in
// aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing,
// plus the z-loss):
//
//	L_r    = (1−ε)·w_y·(lse − x_y) + (ε/C)·Σ_c w_c·(lse − x_c) + z·lse²
//	loss   = Σ_r L_r / D,  D = Σ_r w_y over counted rows (ReduceMean), or 1 (ReduceSum, ReduceNone)
//	grad_r = (((1−ε)·w_y + ε·W/C + 2z·lse)·softmax(x_r) − (1−ε)·w_y·onehot(y) − (ε/C)·w) / D
//
// Without weights w is 1 and D the number of counted rows; the zero options
// are CrossEntropyGrad bit for bit. The smoothing sum is taken as
// W·log Z − Σ_c w_c·(x_c − m), in the sweep that computes the exps, and its
// gradient term is subtracted in the sweep that scales them; short rows
// (up to 16 classes on AVX2 and AVX-512) take one kernel for everything,
// computing each row's loss in float32 (in float64 again when it is not
// finite). As in PyTorch, a −Inf logit makes a smoothed loss +Inf, or NaN
// where its class weighs 0, and a row whose Σ_c (m − x_c) passes float32's
// range (3.4e38) gets a smoothed loss of +Inf. Each row's factors are
// rounded to float32, so weights are meant to be of the order of 1: a
// weighted mean whose divisor D is below about 10⁻³⁰ can overflow them.
// [LinearCrossEntropyWith] is [LinearCrossEntropy] with these options.
//
// The weight gradient of a linear layer is ∂J/∂W = x ⊗ (s − y): [Ger] adds one
// such outer product, a[i*lda+j] += alpha·x[i]·y[j], and [GerBatch] adds k of
// them at once, A += alpha·Xᵀ·Y, with X k×m and Y k×n row-major (one sample
// per row). Each element gets its k products in sample order, but not with
// the same association everywhere: generic adds (alpha·x_pi)·y_pj to a_ij one
// sample at a time, the SIMD implementations sum x_pi·y_pj in registers and
// then add alpha times the sum (a GEMM's order, which keeps A out of the
// inner loop). Both are within (k+2)·2⁻²⁴·(|a_ij| + Σ_p |alpha·x_pi·y_pj|)
// of the exact result, and agree with each other within twice that.
//
// [Gemm] computes C = alpha·op(A)·op(B) + beta·C with BLAS sgemm's
// semantics. For a linear layer with weights W (classes×features, the
// layout of PyTorch's nn.Linear) and a batch X (samples×features), the
// logits are X·Wᵀ, Gemm(false, true, …, X, W), and the gradient with
// respect to X is G·W, Gemm(false, false, …, G, W), with G = ∂J/∂logits as
// CrossEntropyGrad writes it; the weight gradient Gᵀ·X is GerBatch's. Gemm
// sums each element's k products in float32, in order of p, in blocks
// along k, adding alpha times each block's sum to C: at most
// k + 2·blocks + 1 roundings, so each element is within
// (3k+2)·2⁻²⁴·(|beta·c_ij| + |alpha|·Σ_p |a_ip·b_pj|) of the exact result
// (the bound the fuzz tests hold every implementation to), and two
// implementations agree within twice that.
//
// [LinearCrossEntropy] is the whole step of such a layer with a bias b:
// with Z = X·Wᵀ + b and G = (softmax(Z) − onehot(y))/n as above, it
// returns the mean loss and writes dW = Gᵀ·X, db = Σ_r G_r and dX = G·W,
// running Gemm and the fused cross-entropy on chunks of rows so that Z is
// never held whole.
//
// # Special values
//
// The kernels follow PyTorch's float32 semantics. A −Inf logit gets
// probability 0 and log-probability −Inf. A row whose logits are all −Inf has
// no defined distribution and becomes NaN (0/0). A +Inf or a NaN anywhere in a
// row makes that whole row NaN. Large spreads are exact: a row holding 0 and
// −1000 gives probabilities 1 and 0, never a negative number or a NaN. The
// mean loss is NaN when no row is counted (every label ignored, or no rows),
// as in PyTorch; the gradient is then zero. An infinite upstream gradient or
// target is not a value training produces: where it meets an exp that
// underflowed to 0 the result is NaN (0·Inf), where float64 arithmetic might
// give ±Inf.
//
// Gemm follows BLAS: when beta is 0, C is written without being read, so a
// NaN in C does not survive; when alpha or k is 0, C is only scaled by
// beta. Otherwise every product is computed, so a 0 in A meeting an Inf in
// B gives NaN (0·Inf), as the formula does; some BLAS libraries skip the
// zeros of A and give a finite result there. GerBatch computes every
// product too, also when alpha is 0.
//
// # Errors
//
// Wrong shapes are programmer errors and panic with a short message that
// starts with "kernels:" and names the argument, as BLAS packages do: a length
// that is not a multiple of cols, an output shorter than its input, inputs of
// different lengths, lda < n, a k that differs between x and y, a negative
// dimension, a matrix shorter than (rows−1)·stride + columns, and outputs
// that partially overlap an input (the A of Ger and GerBatch, and Gemm's C,
// must not overlap their inputs at all). An output may be
// the very same slice as an input (in place) where a kernel's documentation
// says so. Bad data is not a programmer error: a label outside [0, cols) that
// is not IgnoreLabel makes [CrossEntropyGrad] and [LinearCrossEntropy] return
// a *[LabelError] without writing anything, and so does a bad option value
// (a negative, infinite or NaN class weight, ε outside [0, 1], a negative or
// non-finite z) for [CrossEntropyGradWith], with an *[OptionError].
//
// # Implementations
//
// [Available] lists the implementations this CPU can run, fastest first;
// [Lookup] finds one by name ("generic", "avx2", "avx512", "neon") and says
// which CPU features are missing when it cannot run. The package-level
// functions call [Default], which is the fastest available implementation
// unless the environment variable SOFTGRAD_IMPL names another. Building with
// -tags purego leaves out all assembly, so only "generic" exists.
//
// # Cost
//
// Every kernel is safe for concurrent use on disjoint outputs. The argument
// checks take constant time, except CrossEntropyGrad's, which reads every
// label once.
//
// Softmax, LogSoftmax, CrossEntropyGrad and CrossEntropyGradSoft compute one
// exp per element, a division or a logarithm per row, and pass over each
// block of rows (up to 32 KB, or one row) two or three times while it is in
// cache: they read their inputs from memory once and write their output
// once. Rows of more than 2¹⁷ elements take two passes over memory, with
// two exps per element; where the output is larger than the last-level
// cache, Softmax writes it with non-temporal stores. SoftmaxBackward takes
// two passes and no exp, LogSoftmaxBackward two passes and one exp per
// element. Ger does len(x)·len(y) multiply-adds and reads and writes A once.
// GerBatch does k·m·n multiply-adds; it reads and writes A once where Y has
// at most 64 columns, and otherwise is Gemm's product Xᵀ·Y added to A. Gemm does m·n·k
// multiply-adds (2·m·n·k floating-point operations). It copies op(B) once,
// and op(A) once per block of C's columns, into contiguous panels, except
// the panels it reads in place where a copy does not pay; it reads and
// writes C once per block of k, plus one pass to scale C when beta is
// neither 0 nor 1 (with beta 0, C is not read). LinearCrossEntropy is
// Gemm's cost for its two or three products (k·features·classes
// multiply-adds each) plus CrossEntropyGrad's on the logits, a chunk of
// rows at a time in at most max(2²², 16·classes) floats of scratch.
//
// Nothing allocates in steady state: Gemm (and so GerBatch of a wide Y) and
// LinearCrossEntropy's chunks take their buffers from pools, which allocate
// them on a first call or after the garbage collector has emptied them (a
// call split across goroutines also allocates a few small objects).
//
// # Threads
//
// A large call splits across goroutines: the row kernels over blocks of
// rows (at least 2¹⁶ elements each), Ger over rows of A, Gemm (and so
// GerBatch of a wide Y and LinearCrossEntropy's products) over panels of
// C's columns or rows (from 2²² floating-point operations). Smaller calls,
// and GerBatch of a Y of up to 64 columns, run on the calling goroutine. A
// call splits into at most [Impl.Threads] goroutines: runtime.GOMAXPROCS(0)
// by default, the number the environment variable SOFTGRAD_THREADS gives
// (read once at start; a bad value stops the program), or the number given
// to [Impl.WithThreads], which returns an Impl of its own: WithThreads(1)
// keeps every call on its caller's goroutine, for a trainer that already
// runs one worker per core.
//
// The other goroutines are helpers that outlive the call, no more than the
// largest Threads()−1 asked for: after a task a helper polls for the next
// one for 200 µs, yielding between polls, and then sleeps, so that the
// calls of a training step, made one after another, find their helpers
// running (waking a sleeping goroutine costs its caller some 10 µs and the
// call some 100 µs on a virtual machine). A call of at least 2¹⁹ elements
// (the row kernels) or 2²⁶ floating-point operations (Gemm) wakes helpers
// that sleep; a shorter one splits only onto helpers that are polling, and
// otherwise runs alone.
//
// Results are the same bits for every number of threads: a call is split
// over rows or over tiles of its output, never over a dimension that is
// summed (the weight gradient's sum over the batch is split over its
// classes and features), and a loss is the sum of fixed blocks of rows
// added in their order. A call that splits allocates a few small objects.
package kernels
