package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/softgrad/softgrad/internal/logreg"
)

// Defaults of train. On the embedded task they reach about 83% test
// accuracy in 10 epochs (the best possible is about 87%).
const (
	defaultEpochs  = 10
	defaultBatch   = 64
	defaultLR      = 0.1
	defaultSamples = 25000
	defaultHoldout = 0.2
)

// trainConfig is train's command line.
type trainConfig struct {
	impl           string
	csv, idx       string
	classes        int
	samples        int
	holdout        float64
	epochs, batch  int
	lr             float64
	workers        int
	seed           uint64
	standardizeCSV bool
	export         string
}

// runTrain is softgrad train: multinomial logistic regression trained with
// the kernels (see internal/logreg), on the embedded task, a CSV file or
// MNIST's IDX files.
func runTrain(args []string, stdout, stderr io.Writer) error {
	fs, implName := newFlags("train",
		"softgrad train [-impl NAME] [-csv FILE | -idx IMAGES,LABELS] [-classes N] [-holdout F] [-epochs N] [-batch N] [-lr X] [-workers N] [-seed N] [-samples N]", stderr)
	var c trainConfig
	fs.StringVar(&c.csv, "csv", "", "train on `FILE`: one sample per line, the class (0, 1, ...) first and the features after it; a header line is optional")
	fs.StringVar(&c.idx, "idx", "", "train on MNIST's IDX files `IMAGES,LABELS` (gzip-compressed or not)")
	fs.IntVar(&c.classes, "classes", 0, "the number of classes; 0: the largest label plus one")
	fs.IntVar(&c.samples, "samples", defaultSamples, "the number of samples of the embedded task")
	fs.Float64Var(&c.holdout, "holdout", defaultHoldout, "the `fraction` of the samples held out to test on")
	fs.IntVar(&c.epochs, "epochs", defaultEpochs, "passes over the training samples")
	fs.IntVar(&c.batch, "batch", defaultBatch, "samples per mini-batch")
	fs.Float64Var(&c.lr, "lr", defaultLR, "the learning rate")
	fs.IntVar(&c.workers, "workers", 1, "goroutines among which each mini-batch is split")
	fs.Uint64Var(&c.seed, "seed", 1, "the seed of the embedded task, of the held-out split and of the sample order")
	fs.StringVar(&c.export, "export", "", "write the embedded task to `FILE` as CSV, in the format -csv reads, and exit")
	fs.BoolVar(&c.standardizeCSV, "standardize", true, "scale each CSV feature to mean 0 and variance 1 (with the training samples' statistics)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c.impl = *implName
	switch {
	case c.csv != "" && c.idx != "":
		return usageErrorf("train: -csv and -idx: give one source of data")
	case c.epochs < 1, c.batch < 1, c.workers < 1, c.samples < 2:
		return usageErrorf("train: -epochs, -batch, -workers must be at least 1 and -samples at least 2")
	case !(c.lr > 0) || math.IsInf(c.lr, 0):
		return usageErrorf("train: -lr %v: want a positive learning rate", c.lr)
	case !(c.holdout >= 0 && c.holdout < 1):
		return usageErrorf("train: -holdout %v: want a fraction in [0, 1)", c.holdout)
	case c.classes < 0 || c.classes > maxClasses:
		return usageErrorf("train: -classes %d: want 0 (from the labels) up to %d", c.classes, maxClasses)
	}
	sel, err := selectImpl(c.impl)
	if err != nil {
		return err
	}
	if c.export != "" {
		d, _ := synthetic(c.seed, c.samples)
		if err := writeCSV(c.export, d); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote the embedded task (seed %d, %d samples) to %s\n", c.seed, d.len(), c.export)
		return nil
	}

	train, test, about, err := loadData(c)
	if err != nil {
		return err
	}
	if train.classes < 2 {
		return &dataError{file: dataName(c), msg: fmt.Sprintf("%d class: a classifier needs at least 2", train.classes)}
	}
	fmt.Fprintf(stdout, "data     %s\n", about)
	fmt.Fprintf(stdout, "samples  %d of %d features in %d classes: %d to train, %d held out to test\n",
		train.len()+test.len(), train.features, train.classes, train.len(), test.len())
	fmt.Fprintf(stdout, "model    logits = x·Wᵀ + b, W %d×%d; softmax cross-entropy; SGD, lr %g, batch %d, %d worker(s), impl %s\n",
		train.classes, train.features, c.lr, c.batch, c.workers, sel.impl.Name())

	model := logreg.New(train.features, train.classes)
	trainer := logreg.NewTrainer(model, sel.impl, float32(c.lr), c.workers)
	order := rand.New(rand.NewPCG(c.seed, 0x0bde7))
	perm := make([]int, train.len())
	for i := range perm {
		perm[i] = i
	}
	bx := make([]float32, c.batch*train.features)
	by := make([]int32, c.batch)
	batches := (train.len() + c.batch - 1) / c.batch
	const evalBatch = 1024

	fmt.Fprintf(stdout, "%-8s %9s %9s %9s %12s\n", "epoch", "loss", "train", "test", "samples/s")
	for epoch := 1; epoch <= c.epochs; epoch++ {
		order.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		bar := newProgress(stderr, int64(batches), fmt.Sprintf("epoch %d/%d", epoch, c.epochs))
		var lossSum float64
		var busy time.Duration
		for b := range batches {
			idx := perm[b*c.batch : min((b+1)*c.batch, len(perm))]
			for i, j := range idx { // gather the batch's samples into one k×F matrix
				copy(bx[i*train.features:(i+1)*train.features], train.x[j*train.features:(j+1)*train.features])
				by[i] = train.labels[j]
			}
			start := time.Now()
			loss, err := trainer.Step(bx[:len(idx)*train.features], by[:len(idx)])
			busy += time.Since(start)
			if err != nil {
				bar.finish()
				return fmt.Errorf("train: %w", err) // the loaders check labels: not reached
			}
			lossSum += loss * float64(len(idx))
			if b%64 == 63 { // the running mean loss, on the bar
				bar.describe(fmt.Sprintf("epoch %d/%d  loss %.4f", epoch, c.epochs, lossSum/float64(b*c.batch+len(idx))))
			}
			bar.add(1)
		}
		bar.finish()
		_, trainAcc, err := trainer.Evaluate(train.x, train.labels, evalBatch)
		if err != nil {
			return err
		}
		testCol := "-"
		if test.len() > 0 {
			_, testAcc, err := trainer.Evaluate(test.x, test.labels, evalBatch)
			if err != nil {
				return err
			}
			testCol = fmt.Sprintf("%.2f%%", 100*testAcc)
		}
		fmt.Fprintf(stdout, "%-8s %9.4f %8.2f%% %9s %12s\n", fmt.Sprintf("%d/%d", epoch, c.epochs),
			lossSum/float64(train.len()), 100*trainAcc, testCol, rate(float64(train.len())/busy.Seconds()))
	}
	return nil
}

// rate formats samples per second.
func rate(v float64) string {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// dataName names the data source in messages.
func dataName(c trainConfig) string {
	switch {
	case c.csv != "":
		return c.csv
	case c.idx != "":
		return strings.SplitN(c.idx, ",", 2)[0]
	}
	return "the embedded task"
}

// loadData loads the data of c and splits it into training and test
// samples, and describes it in a line.
func loadData(c trainConfig) (train, test *dataset, about string, err error) {
	var d *dataset
	switch {
	case c.csv != "":
		if d, err = loadCSV(c.csv, c.classes); err != nil {
			return nil, nil, "", err
		}
		about = c.csv
	case c.idx != "":
		images, labels, ok := strings.Cut(c.idx, ",")
		if !ok || images == "" || labels == "" {
			return nil, nil, "", usageErrorf("train: -idx %q: want IMAGES,LABELS", c.idx)
		}
		if d, err = loadIDX(images, labels, c.classes); err != nil {
			return nil, nil, "", err
		}
		about = images + " and " + labels + ", pixels scaled to [0, 1]"
	default:
		var bayes float64
		d, bayes = synthetic(c.seed, c.samples)
		if c.classes != 0 && c.classes != d.classes {
			return nil, nil, "", usageErrorf("train: -classes %d: the embedded task has %d", c.classes, d.classes)
		}
		about = fmt.Sprintf("the embedded task (seed %d): overlapping Gaussian classes; the best possible accuracy is %.1f%%", c.seed, 100*bayes)
	}
	train, test = split(d, c.holdout, c.seed)
	if c.csv != "" && c.standardizeCSV {
		standardize(train, test)
		about += ", features standardized"
	}
	return train, test, about, nil
}
