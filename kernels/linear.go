package kernels

import "sync"

// LinearCrossEntropy is the output layer's whole training step, fused: the
// mean cross-entropy of softmax(x·wᵀ + b) against integer labels, and the
// gradients of that mean with respect to w, b and x. x is k×features (one
// sample per row), w is classes×features (the layout of PyTorch's
// nn.Linear), b has classes values or is nil (no bias), and labels has k
// values, each a class or [IgnoreLabel]. With Z = x·wᵀ + b and
// G = (softmax(Z) − onehot(labels))/n, n the rows not ignored (G's ignored
// rows are 0), it writes
//
//	dw = Gᵀ·x        (classes×features)
//	db = Σ_r G_r     (classes; nil: not wanted, and b nil needs none)
//	dx = G·w         (k×features; nil: not wanted, as for a first layer)
//
// over what they held (write, not accumulate), and returns the loss. It is
// the sequence Gemm, CrossEntropyGrad, Gemm for dw and dx, column sums, in
// chunks of rows: the logits of a chunk are held in scratch memory of at
// most max(2²², 16·classes) floats (16 MB for up to 262 144 classes),
// beside Gemm's packing buffers (sized from the caches, a few MB), both
// reused across calls and safe under concurrent calls; the k×classes logits
// never exist whole.
//
// Special values and bad data are those of the unfused sequence: a NaN or
// ±Inf in a row of x or a row of w gives NaN or ±Inf where the products
// carry it (a NaN in x's row r makes row r's loss NaN, and so the mean);
// ignored rows contribute nothing; with no row counted the loss is NaN and
// the gradients are 0. A label outside [0, classes) that is not IgnoreLabel
// returns a *LabelError before anything is written. Wrong lengths, and
// outputs that overlap an input or each other, panic.
//
// dw, db and dx agree with the unfused sequence, and with a float64
// computation of it, within Gemm's bound: dw_ij within
// (3k+2)·2⁻²⁴·Σ_r |G_ri·x_rj| plus the error of G, which is CrossEntropyGrad's
// (see the package doc); dx likewise over classes, db within
// (k+1)·2⁻²⁴·Σ_r |G_ri|.
func LinearCrossEntropy(dw, db, dx, x, w, b []float32, labels []int32, features, classes int) (loss float64, err error) {
	return defaultImpl.LinearCrossEntropy(dw, db, dx, x, w, b, labels, features, classes)
}

// LinearCrossEntropyWith is [LinearCrossEntropy] with the options of
// [CrossEntropyGradWith]: G is the gradient CrossEntropyGradWith writes
// (class weights, label smoothing, the z-loss, the reduction), and the loss
// the one it returns; opts.Losses, if set, receives the k row losses. The
// zero options are LinearCrossEntropy, bit for bit. Bad options are bad
// data or programmer errors as for CrossEntropyGradWith; Weights must not
// overlap an output, and Losses must overlap no other argument. With
// ReduceMean and counted rows whose weights all are 0 the loss is NaN, and
// so are dw, db and dx where those rows reach them.
func LinearCrossEntropyWith(dw, db, dx, x, w, b []float32, labels []int32, features, classes int, opts CrossEntropyOptions) (loss float64, err error) {
	return defaultImpl.LinearCrossEntropyWith(dw, db, dx, x, w, b, labels, features, classes, opts)
}

// LinearCrossEntropy is the package-level [LinearCrossEntropy] run by this
// implementation.
func (im *Impl) LinearCrossEntropy(dw, db, dx, x, w, b []float32, labels []int32, features, classes int) (loss float64, err error) {
	return im.linearCrossEntropy(dw, db, dx, x, w, b, labels, features, classes, nil)
}

// LinearCrossEntropyWith is the package-level [LinearCrossEntropyWith] run
// by this implementation.
func (im *Impl) LinearCrossEntropyWith(dw, db, dx, x, w, b []float32, labels []int32, features, classes int, opts CrossEntropyOptions) (loss float64, err error) {
	return im.linearCrossEntropy(dw, db, dx, x, w, b, labels, features, classes, &opts)
}

// linearCrossEntropy is LinearCrossEntropy, with options unless opts is nil.
func (im *Impl) linearCrossEntropy(dw, db, dx, x, w, b []float32, labels []int32, features, classes int, opts *CrossEntropyOptions) (loss float64, err error) {
	if features <= 0 || classes <= 0 {
		panic("kernels: features and classes must be > 0")
	}
	rows := checkRows(len(x), features, "x")
	checkSameLen(len(labels), rows, "labels", "rows")
	checkSameLen(len(w), classes*features, "w", "classes*features")
	checkSameLen(len(dw), classes*features, "dw", "classes*features")
	if b != nil {
		checkSameLen(len(b), classes, "b", "classes")
	}
	if db != nil {
		checkSameLen(len(db), classes, "db", "classes")
	}
	if dx != nil {
		checkSameLen(len(dx), len(x), "dx", "x")
	}
	outs := []struct {
		s    []float32
		name string
	}{{dw, "dw"}, {db, "db"}, {dx, "dx"}}
	for i, o := range outs {
		for _, in := range []struct {
			s    []float32
			name string
		}{{x, "x"}, {w, "w"}, {b, "b"}} {
			checkDisjoint(o.s, in.s, o.name, in.name)
		}
		for _, p := range outs[i+1:] {
			checkDisjoint(o.s, p.s, o.name, p.name)
		}
		checkDisjoint(o.s, labels, o.name, "labels")
	}
	if opts != nil {
		opts.checkLinear(rows, classes, x, w, b, dw, db, dx)
		if err := opts.validate(); err != nil {
			return 0, err
		}
		if opts.plain() {
			opts = nil
		}
	}

	var with crossEntropyWith
	var counted int
	if opts == nil {
		counted, err = countLabels(labels, classes)
	} else {
		with, err = newCrossEntropyWith(*opts, labels, classes)
		counted = with.counted
	}
	if err != nil {
		return 0, err
	}
	if counted == 0 {
		clear(dw)
		clear(db)
		clear(dx)
		if opts != nil {
			clear(opts.Losses)
			if opts.Reduction != ReduceMean {
				return 0, nil
			}
		}
		return nan(), nil
	}

	chunk := linearChunk(rows, classes)
	threads := im.Threads()
	zs := getLinearScratch(chunk * classes)
	defer linearScratch.Put(zs)
	var sum float64
	for r0 := 0; r0 < rows; r0 += chunk {
		n := min(chunk, rows-r0)
		xs := x[r0*features : (r0+n)*features]
		z := (*zs)[:n*classes]
		// Z = xs·wᵀ + b: b copied into each row, then Gemm adds to it.
		beta := float32(0)
		if b != nil {
			for r := range n {
				copy(z[r*classes:(r+1)*classes], b)
			}
			beta = 1
		}
		im.Gemm(false, true, n, classes, features, 1, xs, features, w, features, beta, z, classes)
		// G over Z in place, already divided by the rows counted in the
		// whole batch.
		if opts == nil {
			sum += rowsJob{kernel: rowsCrossEntropyGrad, is: im.isa, cols: classes, out: z, in: z,
				labels: labels[r0 : r0+n], counted: counted}.split(threads)
		} else {
			sum += with.chunk(im.isa, threads, z, labels, r0, n, classes)
		}
		// dw (+)= Gᵀ·xs; dx's rows = G·w; db (+)= G's column sums.
		beta = 1
		if r0 == 0 {
			beta = 0
		}
		im.Gemm(true, false, classes, features, n, 1, z, classes, xs, features, beta, dw, features)
		if dx != nil {
			im.Gemm(false, false, n, features, classes, 1, z, classes, w, features, 0, dx[r0*features:(r0+n)*features], features)
		}
		if db != nil {
			if r0 == 0 {
				clear(db)
			}
			colSumsSplit(im.isa, threads, db, z, classes)
		}
	}
	switch {
	case opts == nil:
		return sum / float64(counted), nil
	case with.zeroWeights:
		return nan(), nil
	}
	return sum * with.invD, nil
}

// chunk writes CrossEntropyGradWith's gradient over the logits z of rows
// r0 … r0+n−1 in place, as the whole batch's (the divisor D is the
// batch's; NaN in the counted rows where D is 0), and returns the sum of
// their losses.
func (o crossEntropyWith) chunk(is isa, threads int, z []float32, labels []int32, r0, n, classes int) float64 {
	if o.losses != nil {
		o.losses = o.losses[r0 : r0+n]
	}
	lab := labels[r0 : r0+n]
	sum := rowsJob{kernel: rowsCrossEntropyWith, is: is, cols: classes, out: z, in: z, labels: lab, with: o}.split(threads)
	if o.zeroWeights {
		for r, l := range lab {
			if l != IgnoreLabel {
				fillNaN(z[r*classes : (r+1)*classes])
			}
		}
	}
	return sum
}

// linearOne is the x of a rank-1 update that adds a row to db.
var linearOne = [1]float32{1}

// The chunks of LinearCrossEntropy: as many rows as make linearChunkFloats
// logits, and at least linearChunkRows (a Gemm's k below that runs far
// from its speed). Variables, so that tests can make chunks of a few rows.
var (
	linearChunkFloats = 1 << 22
	linearChunkRows   = 16
)

func linearChunk(rows, classes int) int {
	return min(rows, max(linearChunkFloats/classes, linearChunkRows))
}

// linearScratch holds the logits of a chunk between calls.
var linearScratch sync.Pool

func getLinearScratch(n int) *[]float32 {
	s, _ := linearScratch.Get().(*[]float32)
	if s == nil {
		s = new([]float32)
	}
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	return s
}
