package kernels

import (
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"
)

// Reduction says how [CrossEntropyGradWith] combines the losses of the rows.
type Reduction uint8

const (
	// ReduceMean divides the sum of the row losses by the number of
	// counted rows, or with class weights by the sum of their labels'
	// weights (PyTorch's reduction='mean').
	ReduceMean Reduction = iota
	// ReduceSum adds the row losses.
	ReduceSum
	// ReduceNone leaves the row losses apart (in Losses, if set); the
	// gradient is that of their sum and the returned loss is their sum.
	ReduceNone
)

// CrossEntropyOptions are the options of [CrossEntropyGradWith], those of
// PyTorch's F.cross_entropy with class indices and of PaLM's z-loss. The
// zero value is plain [CrossEntropyGrad].
type CrossEntropyOptions struct {
	// Weights, if not nil, holds one weight per class (len cols, each
	// finite and ≥ 0): a row's loss is multiplied by its label's weight,
	// and label smoothing's term by each class's (PyTorch's weight).
	Weights []float32
	// LabelSmoothing is ε in [0, 1]: the target of a row is
	// (1−ε)·onehot(label) + ε/cols.
	LabelSmoothing float32
	// ZLoss is z ≥ 0: each counted row's loss gains z·lse², lse being
	// logsumexp of the row (the whole log-partition, max included), which
	// keeps the log-partition near 0.
	ZLoss float32
	// Reduction combines the row losses.
	Reduction Reduction
	// Losses, if not nil (len rows), receives each row's loss before the
	// reduction: what ReduceNone's rows are; 0 for an ignored row.
	Losses []float32
}

// OptionError reports a bad value among [CrossEntropyOptions]:
// [CrossEntropyGradWith] then returns it before writing anything.
type OptionError struct {
	Field string  // "Weights", "LabelSmoothing" or "ZLoss"
	Index int     // the class of a bad weight; −1 for the other fields
	Value float32 // the bad value
}

// Error names the option, its value and what it must be.
func (e *OptionError) Error() string {
	switch e.Field {
	case "Weights":
		return fmt.Sprintf("kernels: Weights[%d] = %v: a class weight must be finite and ≥ 0", e.Index, e.Value)
	case "LabelSmoothing":
		return fmt.Sprintf("kernels: LabelSmoothing = %v: must be in [0, 1]", e.Value)
	}
	return fmt.Sprintf("kernels: %s = %v: must be finite and ≥ 0", e.Field, e.Value)
}

// CrossEntropyGradWith is [CrossEntropyGrad] with PyTorch's options
// (F.cross_entropy's weight, label_smoothing and reduction, with
// ignore_index = IgnoreLabel) and PaLM's z-loss, fused into the same passes
// over the logits. For a counted row r with label y, w_c the weight of class
// c (1 without Weights), W = Σ_c w_c, C = cols, ε = LabelSmoothing, z =
// ZLoss and lse = logsumexp(x_r), its loss is
//
//	L_r = (1−ε)·w_y·(lse − x_y) + (ε/C)·Σ_c w_c·(lse − x_c) + z·lse²,
//
// PyTorch's (1−ε)·nll + (ε/C)·smooth_loss per row
// (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing)
// plus the z-loss. Ignored rows have L_r = 0. The returned loss is Σ L_r / D
// for ReduceMean, with D the number of counted rows or, with Weights,
// Σ w_y over them (PyTorch's weighted mean), and Σ L_r for ReduceSum and
// ReduceNone. grad is the gradient of that loss (of Σ L_r for ReduceNone):
//
//	grad_rc = (((1−ε)·w_y + ε·W/C + 2z·lse)·s_c − (1−ε)·w_y·[c = y] − (ε/C)·w_c) / D,
//
// s = softmax(x_r), with D = 1 but for ReduceMean; ignored rows get 0. As
// in PyTorch, a −Inf logit makes a smoothed loss +Inf, or NaN where its
// class weight is 0 (0·−Inf). With ReduceMean and D = 0 the loss is NaN:
// the gradient is then 0 if no row is counted and NaN in the counted rows
// otherwise (their weights all 0), as in PyTorch.
//
// The checks of [CrossEntropyGrad] apply. len(Weights) must be cols and
// len(Losses) the number of rows, or the slice nil, and Reduction one of
// the three: otherwise CrossEntropyGradWith panics. A weight that is
// negative, infinite or NaN, an ε outside [0, 1] or a negative, infinite
// or NaN z is bad data: it returns an *OptionError and writes nothing.
// grad may be logits itself; Weights and Losses must not overlap grad,
// logits or each other.
func CrossEntropyGradWith(grad, logits []float32, labels []int32, cols int, opts CrossEntropyOptions) (loss float64, err error) {
	return defaultImpl.CrossEntropyGradWith(grad, logits, labels, cols, opts)
}

// CrossEntropyGradWith is the package-level [CrossEntropyGradWith] run by
// this implementation.
func (im *Impl) CrossEntropyGradWith(grad, logits []float32, labels []int32, cols int, opts CrossEntropyOptions) (loss float64, err error) {
	rows := checkRows(len(logits), cols, "logits")
	checkSameLen(len(labels), rows, "labels", "rows")
	checkOut(grad, logits, "grad", "logits")
	opts.check(grad[:len(logits)], logits, cols, rows)
	if err := opts.validate(); err != nil {
		return 0, err
	}
	if opts.plain() {
		return im.CrossEntropyGrad(grad, logits, labels, cols)
	}
	if opts.sumOnly() {
		// CrossEntropyGrad's kernel with the divisor 1.
		counted, err := countLabels(labels, cols)
		if err != nil {
			return 0, err
		}
		if counted == 0 {
			clear(grad[:len(logits)])
			return 0, nil
		}
		return rowsJob{kernel: rowsCrossEntropyGrad, is: im.isa, cols: cols, out: grad[:len(logits)], in: logits,
			labels: labels, counted: 1}.split(im.Threads()), nil
	}
	o, err := newCrossEntropyWith(opts, labels, cols)
	if err != nil {
		return 0, err
	}
	grad = grad[:len(logits)]
	if o.counted == 0 {
		clear(grad)
		clear(opts.Losses)
		if opts.Reduction == ReduceMean {
			return nan(), nil
		}
		return 0, nil
	}
	sum := rowsJob{kernel: rowsCrossEntropyWith, is: im.isa, cols: cols, out: grad, in: logits,
		labels: labels, with: o}.split(im.Threads())
	if o.zeroWeights {
		// The weighted mean of rows whose labels all weigh 0: 0/0.
		for r, l := range labels {
			if l != IgnoreLabel {
				fillNaN(grad[r*cols : (r+1)*cols])
			}
		}
		return nan(), nil
	}
	return sum * o.invD, nil
}

// check panics on the programmer errors among the options.
func (o *CrossEntropyOptions) check(grad, logits []float32, cols, rows int) {
	if o.Weights != nil && len(o.Weights) != cols {
		panic("kernels: len(Weights) != cols")
	}
	if o.Losses != nil && len(o.Losses) != rows {
		panic("kernels: len(Losses) != rows")
	}
	if o.Reduction > ReduceNone {
		panic("kernels: unknown Reduction")
	}
	checkDisjoint(grad, o.Weights, "grad", "Weights")
	checkDisjoint(logits, o.Weights, "logits", "Weights")
	checkDisjoint(grad, o.Losses, "grad", "Losses")
	checkDisjoint(logits, o.Losses, "logits", "Losses")
	checkDisjoint(o.Losses, o.Weights, "Losses", "Weights")
}

// checkLinear panics on the programmer errors among the options of
// LinearCrossEntropyWith.
func (o *CrossEntropyOptions) checkLinear(rows, classes int, x, w, b, dw, db, dx []float32) {
	if o.Weights != nil && len(o.Weights) != classes {
		panic("kernels: len(Weights) != classes")
	}
	if o.Losses != nil && len(o.Losses) != rows {
		panic("kernels: len(Losses) != rows")
	}
	if o.Reduction > ReduceNone {
		panic("kernels: unknown Reduction")
	}
	for _, s := range []struct {
		s    []float32
		name string
	}{{x, "x"}, {w, "w"}, {b, "b"}, {dw, "dw"}, {db, "db"}, {dx, "dx"}, {o.Weights, "Weights"}} {
		checkDisjoint(o.Losses, s.s, "Losses", s.name)
	}
	for _, out := range []struct {
		s    []float32
		name string
	}{{dw, "dw"}, {db, "db"}, {dx, "dx"}} {
		checkDisjoint(out.s, o.Weights, out.name, "Weights")
	}
}

// validate returns the *OptionError of the first bad value.
func (o *CrossEntropyOptions) validate() error {
	// A weight is finite and ≥ 0 when its bits are below those of +Inf,
	// or those of −0: one integer compare per weight, branch-free until
	// one fails (a float64 conversion per weight would cost a third of the
	// kernel on a 1000-class row).
	var bad uint32
	for _, w := range o.Weights {
		b := math.Float32bits(w)
		if b == 0x8000_0000 {
			b = 0
		}
		bad |= b | (b + 0x80_0000) // negative; or +Inf, NaN: carries into the sign bit
	}
	if bad>>31 != 0 {
		for c, w := range o.Weights {
			if !(w >= 0 && w <= math.MaxFloat32) {
				return &OptionError{Field: "Weights", Index: c, Value: w}
			}
		}
	}
	if e := o.LabelSmoothing; !(e >= 0 && e <= 1) {
		return &OptionError{Field: "LabelSmoothing", Index: -1, Value: e}
	}
	if z := o.ZLoss; !(z >= 0) || math.IsInf(float64(z), 1) {
		return &OptionError{Field: "ZLoss", Index: -1, Value: z}
	}
	return nil
}

// plain reports whether the options are the zero value's semantics, which
// CrossEntropyGrad computes.
func (o *CrossEntropyOptions) plain() bool {
	return o.Weights == nil && o.LabelSmoothing == 0 && o.ZLoss == 0 && o.Reduction == ReduceMean && o.Losses == nil
}

// sumOnly reports whether the options only ask for the sum of the row
// losses (ReduceSum or ReduceNone, nothing else).
func (o *CrossEntropyOptions) sumOnly() bool {
	return o.Weights == nil && o.LabelSmoothing == 0 && o.ZLoss == 0 && o.Reduction != ReduceMean && o.Losses == nil
}

// crossEntropyWith is a CrossEntropyGradWith call's options turned into
// the factors of its rows (see crossEntropyWithBatch).
type crossEntropyWith struct {
	w        []float32 // the class weights, or ones with label smoothing
	weighted bool
	counted  int
	eps, z   float64
	wsum     float64 // W = Σ_c w_c
	invD     float64 // 1/D, the reduction's divisor; 1 where D is 0
	// The factors of a row with label weight w_y: (1−ε)·w_y/D is its
	// label's term, labelD·w_y + smoothD its factor less the z-loss's.
	labelD, smoothD float64
	smooth          bool // ε > 0: the kernels take Σ w_c·(x_c − max) and subtract (ε/C)·w_c/D
	zeroWeights     bool // ReduceMean with counted rows whose weights add to 0
	losses          []float32
}

// classCounts counts the rows of each class, for up to 64 classes.
type classCounts [64]int32

// newCrossEntropyWith counts the labels (and adds their weights) as
// countLabels does.
func newCrossEntropyWith(opts CrossEntropyOptions, labels []int32, cols int) (crossEntropyWith, error) {
	o := crossEntropyWith{w: opts.Weights, weighted: opts.Weights != nil,
		eps: float64(opts.LabelSmoothing), z: float64(opts.ZLoss), invD: 1, losses: opts.Losses}
	o.smooth = o.eps > 0
	var d float64
	if o.weighted {
		o.wsum = sum(o.w)
		if cols <= len(classCounts{}) {
			// Counted per class, then weighed: a float64 sum of
			// float32 weights row by row is a chain of conversions
			// (see crossEntropyWithShortRows).
			var counts classCounts
			for r, l := range labels {
				switch {
				case l == IgnoreLabel:
				case l < 0 || int(l) >= cols:
					return o, &LabelError{Row: r, Label: l, Cols: cols}
				default:
					counts[l]++
				}
			}
			for c, n := range counts[:cols] {
				o.counted += int(n)
				d += float64(n) * float64(o.w[c])
			}
		} else {
			for r, l := range labels {
				switch {
				case l == IgnoreLabel:
				case l < 0 || int(l) >= cols:
					return o, &LabelError{Row: r, Label: l, Cols: cols}
				default:
					o.counted++
					d += float64(o.w[l])
				}
			}
		}
	} else {
		var err error
		if o.counted, err = countLabels(labels, cols); err != nil {
			return o, err
		}
		o.wsum, d = float64(cols), float64(o.counted)
		if o.smooth {
			o.w = ones(cols)
		}
	}
	if opts.Reduction == ReduceMean {
		if d > 0 {
			o.invD = 1 / d
		} else {
			o.zeroWeights = o.counted > 0
		}
	}
	o.labelD = (1 - o.eps) * o.invD
	o.smoothD = o.eps * o.wsum / float64(cols) * o.invD
	return o, nil
}

// crossEntropyWithBatch is crossEntropyGradBatch with options: whole groups
// of short rows in crossEntropyWithShortRows, the other rows in
// crossEntropyWithRows. It returns Σ L over the counted rows and writes each
// L to losses, if set.
func crossEntropyWithBatch(is isa, grad, logits []float32, labels []int32, cols int, o *crossEntropyWith, losses []float32) float64 {
	var loss float64
	// The short rows' kernel works in float32: not with weights so large or
	// so small that its factors could overflow.
	if g := is.crossEntropyShortRowGroup(cols); g > 0 && len(labels) >= g && o.invD <= 0x1p64 && o.wsum <= 0x1p64 {
		n := len(labels) / g * g
		var ls []float32
		if losses != nil {
			ls, losses = losses[:n], losses[n:]
		}
		loss = crossEntropyWithShortRows(is, grad[:n*cols], logits[:n*cols], labels[:n], cols, g, o, ls)
		grad, logits, labels = grad[n*cols:], logits[n*cols:], labels[n:]
	}
	return loss + crossEntropyWithRows(is, grad, logits, labels, cols, o, losses)
}

// crossEntropyWithRows: per block, the max m, the exps e_i, their sum Z
// and, with label smoothing, d = Σ w_i·(x_i − m) (expDotRows, or expRows);
// per row, lse = m + log Z, the factor c = ((1−ε)·w_y + ε·W/C +
// 2z·lse)/(D·Z); grad_i = e_i·c − s·w_i with s = ε/(C·D) (scaleShiftRows,
// or scaleRows when ε = 0); then per row, grad_y −= (1−ε)·w_y/D and the
// row loss
//
//	L = (1−ε)·w_y·(log Z − (x_y − m)) + (ε/C)·(W·log Z − d) + z·lse²,
//
// whose smoothing term adds up non-negative parts (x_i − m ≤ 0), where
// W·lse − Σ w_i·x_i would cancel.
func crossEntropyWithRows(is isa, grad, logits []float32, labels []int32, cols int, o *crossEntropyWith, losses []float32) float64 {
	var m, c, xl [blockRows]float32
	var wy, z, d [blockRows]float64
	cf := float64(cols)
	s := o.eps / cf * o.invD
	zc := 2 * o.z * o.invD
	var loss float64
	rows := rowsPerBlock(cols)
	inPlace := unsafe.SliceData(grad) == unsafe.SliceData(logits)
	for r0 := 0; r0 < len(labels); r0 += rows {
		n := min(rows, len(labels)-r0)
		i, j := r0*cols, (r0+n)*cols
		lab := labels[r0 : r0+n]
		for r, l := range lab {
			if l != IgnoreLabel && inPlace {
				xl[r] = logits[i+r*cols+int(l)]
			}
		}
		if o.smooth {
			is.expDotRows(grad[i:j], logits[i:j], o.w, cols, m[:n], z[:n], d[:n])
		} else {
			is.expRows(grad[i:j], logits[i:j], cols, m[:n], z[:n])
		}
		for r, l := range lab {
			lz := math.Log(z[r])
			c[r] = 0
			if l != IgnoreLabel {
				wy[r] = 1
				if o.weighted {
					wy[r] = float64(o.w[l])
				}
				c[r] = float32((o.labelD*wy[r] + o.smoothD + zc*(float64(m[r])+lz)) / z[r])
			}
			z[r] = lz
		}
		if o.smooth {
			is.scaleShiftRows(grad[i:j], o.w, cols, c[:n], float32(s))
		} else {
			is.scaleRows(grad[i:j], cols, c[:n])
		}
		for r, l := range lab {
			row := i + r*cols
			if l == IgnoreLabel {
				clear(grad[row : row+cols])
				if losses != nil {
					losses[r0+r] = 0
				}
				continue
			}
			x := xl[r]
			if !inPlace {
				x = logits[row+int(l)]
			}
			grad[row+int(l)] -= float32(o.labelD * wy[r])
			lz, mr := z[r], float64(m[r])
			lr := (1 - o.eps) * wy[r] * (lz - (float64(x) - mr))
			if o.z != 0 {
				lr += o.z * (mr + lz) * (mr + lz)
			}
			if o.smooth {
				lr += o.eps / cf * (o.wsum*lz - d[r])
			}
			loss += lr
			if losses != nil {
				losses[r0+r] = float32(lr)
			}
		}
	}
	return loss
}

// crossEntropyWithShortRows is crossEntropyWithRows for whole groups of g
// short rows: crossEntropyShortRows computes the gradient, the row losses
// and their sum, a group of rows at a time. What is left here per row
// takes no float64 arithmetic and does not read the gradient: on short
// rows, the conversions between float32 and float64 of a loop over the
// rows (which chain one row to the next through a false dependency on
// their destination register) and the loads of a gradient element just
// stored by a vector store (which cannot be forwarded) would cost as much
// as the kernel.
func crossEntropyWithShortRows(is isa, grad, logits []float32, labels []int32, cols, g int, o *crossEntropyWith, losses []float32) float64 {
	var m, xl, wl, lz, d, ls [blockRows]float32
	var shift, ws, wt [shortRowsMaxCols]float32
	var sum [1]float64
	cf := float64(cols)
	for i := range cols {
		wt[i] = 1
		if o.weighted {
			wt[i] = o.w[i]
		}
		if o.smooth {
			ws[i] = o.w[i]
			shift[i] = float32(o.eps / cf * o.invD * float64(ws[i]))
		}
	}
	k := [...]float32{float32(2 * o.z * o.invD), float32(1 - o.eps), float32(o.eps / cf), float32(o.wsum), float32(o.z),
		float32(o.labelD), float32(o.smoothD)}
	var loss float64
	rows := blockRows / g * g
	for r0 := 0; r0 < len(labels); r0 += rows {
		n := min(rows, len(labels)-r0)
		i, j := r0*cols, (r0+n)*cols
		lab := labels[r0 : r0+n]
		ignored := false
		for r, l := range lab {
			if l == IgnoreLabel {
				xl[r], wl[r], ignored = 0, 0, true
				continue
			}
			wl[r] = wt[l]
			xl[r] = logits[i+r*cols+int(l)] // before grad, which may be logits, is written
		}
		out := ls[:n]
		if losses != nil {
			out = losses[r0 : r0+n]
		}
		is.crossEntropyShortRows(grad[i:j], logits[i:j], cols, lab, xl[:n], wl[:n], k[:], shift[:], ws[:],
			m[:n], lz[:n], d[:n], out, sum[:])
		if s := sum[0]; s-s == 0 {
			loss += s
		} else {
			// A NaN row, or a float32 row loss beyond float32's range:
			// the block's losses again in float64.
			loss += o.shortRowLosses(lab, m[:n], lz[:n], d[:n], xl[:n], wl[:n], out, cols)
		}
		if ignored {
			for r, l := range lab {
				if l == IgnoreLabel {
					clear(grad[i+r*cols : i+(r+1)*cols])
				}
			}
		}
	}
	return loss
}

// shortRowLosses returns the sum of the row losses of crossEntropyShortRows
// computed in float64 from its per-row values, and writes them to losses.
func (o *crossEntropyWith) shortRowLosses(labels []int32, m, lz, d, xl, wl, losses []float32, cols int) float64 {
	var sum float64
	for r, l := range labels {
		if l == IgnoreLabel {
			continue
		}
		mr, lzr := float64(m[r]), float64(lz[r])
		lr := (1 - o.eps) * float64(wl[r]) * (lzr - (float64(xl[r]) - mr))
		if o.z != 0 {
			lr += o.z * (mr + lzr) * (mr + lzr)
		}
		if o.smooth {
			lr += o.eps / float64(cols) * (o.wsum*lzr - float64(d[r]))
		}
		sum += lr
		losses[r] = float32(lr)
	}
	return sum
}

// shortRowsMaxCols bounds every isa's softmaxShortRowsMaxCols, the size of
// crossEntropyWithBatch's per-class arrays for crossEntropyShortRows.
const shortRowsMaxCols = 16

// ones returns n ones, for the kernels that take class weights when there
// are none: a slice shared by every call, grown as needed and never
// written once published.
func ones(n int) []float32 {
	if p := onesBuf.Load(); p != nil && len(*p) >= n {
		return (*p)[:n]
	}
	b := make([]float32, max(n, 1024))
	for i := range b {
		b[i] = 1
	}
	onesBuf.Store(&b)
	return b[:n]
}

var onesBuf atomic.Pointer[[]float32]

// fillNaN sets every element of x to NaN.
func fillNaN(x []float32) {
	n := float32(math.NaN())
	for i := range x {
		x[i] = n
	}
}
