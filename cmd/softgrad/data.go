package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// dataset is a classification data set: n samples of features values each
// (row-major), with a class in [0, classes) per sample.
type dataset struct {
	x        []float32
	labels   []int32
	features int
	classes  int
}

func (d *dataset) len() int { return len(d.labels) }

// maxClasses bounds the number of classes a file may define when -classes
// is not given, so that a stray large label does not size a giant model.
const maxClasses = 1 << 16

// dataError is bad input data: a file that cannot be read, or one whose
// content is malformed. Its message names the file and, where it can, the
// line (CSV) or byte offset (IDX). It makes softgrad exit with status 2.
type dataError struct {
	file string
	pos  string // "12" (a line), "offset 16", or ""
	msg  string
}

// Error returns "FILE:LINE: message", "FILE: offset N: message" or
// "FILE: message".
func (e *dataError) Error() string {
	switch {
	case e.pos == "":
		return e.file + ": " + e.msg
	case strings.HasPrefix(e.pos, "offset"):
		return e.file + ": " + e.pos + ": " + e.msg
	}
	return e.file + ":" + e.pos + ": " + e.msg
}

func lineError(file string, line int, format string, args ...any) error {
	return &dataError{file: file, pos: strconv.Itoa(line), msg: fmt.Sprintf(format, args...)}
}

func offsetError(file string, off int64, format string, args ...any) error {
	return &dataError{file: file, pos: fmt.Sprintf("offset %d", off), msg: fmt.Sprintf(format, args...)}
}

// openError turns an error of os.Open or a read into a dataError naming
// the file once.
func openError(file string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &dataError{file: file, msg: err.Error()}
}

// loadCSV reads a CSV file of one sample per line: the class label in the
// first field, the features after it. A first line whose fields are all
// non-numeric is a header and is skipped. classes, if positive, is the
// number of classes; otherwise it is the largest label plus one. Every
// problem is a *dataError naming the file and line.
func loadCSV(file string, classes int) (*dataset, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, openError(file, err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1 // ragged rows get our own message
	r.TrimLeadingSpace = true
	r.ReuseRecord = true

	d := &dataset{}
	maxLabel := -1
	fieldsLine := 0 // the line that set the number of fields
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, lineError(file, pe.Line, "column %d: %v", pe.Column, pe.Err)
			}
			return nil, openError(file, err)
		}
		line, _ := r.FieldPos(0)
		if first && isHeader(rec) {
			continue
		}
		switch {
		case d.features == 0 && len(rec) < 2:
			return nil, lineError(file, line, "%d field; a row needs a label and at least one feature", len(rec))
		case d.features == 0:
			d.features, fieldsLine = len(rec)-1, line
		case len(rec) != d.features+1:
			return nil, lineError(file, line, "%d fields, but line %d has %d (label and %d features)",
				len(rec), fieldsLine, d.features+1, d.features)
		}
		label, err := parseLabel(rec[0], classes)
		if err != nil {
			return nil, lineError(file, line, "field 1: %v", err)
		}
		maxLabel = max(maxLabel, label)
		d.labels = append(d.labels, int32(label))
		for i, s := range rec[1:] {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
			switch {
			case err != nil && !errors.Is(err, strconv.ErrRange):
				return nil, lineError(file, line, "field %d: %q is not a number", i+2, s)
			case err != nil || math.IsInf(v, 0) || math.IsNaN(v):
				return nil, lineError(file, line, "field %d: %q is not a finite float32", i+2, s)
			}
			d.x = append(d.x, float32(v))
		}
	}
	if d.len() == 0 {
		return nil, &dataError{file: file, msg: "no data rows"}
	}
	d.classes = classes
	if classes <= 0 {
		d.classes = maxLabel + 1
	}
	return d, nil
}

// writeCSV writes d in the format loadCSV reads: a header line, then one
// sample per line, the label first.
func writeCSV(file string, d *dataset) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("label")
	for j := range d.features {
		fmt.Fprintf(w, ",x%d", j+1)
	}
	w.WriteString("\n")
	for i, l := range d.labels {
		w.WriteString(strconv.Itoa(int(l)))
		for _, v := range d.x[i*d.features : (i+1)*d.features] {
			w.WriteByte(',')
			w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isHeader reports whether a CSV record is a header: no field is a number.
func isHeader(rec []string) bool {
	for _, s := range rec {
		if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return false
		}
	}
	return true
}

// parseLabel parses a class label: a non-negative integer ("3", or "3.0"
// as spreadsheets write it), below classes when classes is positive and
// below maxClasses otherwise.
func parseLabel(s string, classes int) (int, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != math.Trunc(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("label %q is not a class number (an integer from 0)", s)
	}
	limit, why := classes, ""
	if classes <= 0 {
		limit, why = maxClasses, fmt.Sprintf(" (at most %d classes)", maxClasses)
	}
	if v < 0 || v >= float64(limit) {
		return 0, fmt.Errorf("label %s out of range [0, %d)%s", s, limit, why)
	}
	return int(v), nil
}

// IDX, the format of MNIST: a 4-byte magic 0x00 0x00 TYPE NDIMS, NDIMS
// big-endian uint32 sizes, then the data, row-major. softgrad reads
// unsigned bytes (TYPE 0x08): images of NDIMS ≥ 2 (samples × the rest) and
// labels of NDIMS 1.
const idxUbyte = 0x08

// idxTypes names the IDX data types, for messages.
var idxTypes = map[byte]string{0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}

// idxFile is a parsed IDX file.
type idxFile struct {
	dims    []int
	data    []byte
	dataOff int64 // offset of data in the (decompressed) file
}

// readIDX reads an IDX file of unsigned bytes with the given number of
// dimensions (0: at least 2), gunzipping it first if it is gzip-compressed.
// what ("images", "labels") names the file's role in messages. Offsets in
// errors are in the decompressed bytes.
func readIDX(file, what string, wantDims int) (*idxFile, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, openError(file, err)
	}
	gz := ""
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			raw, err = io.ReadAll(zr)
		}
		if err != nil {
			return nil, &dataError{file: file, msg: "gzip: " + err.Error()}
		}
		gz = " (of the decompressed data)"
	}
	off := func(o int64, format string, args ...any) error {
		return offsetError(file, o, format+gz, args...)
	}
	if len(raw) < 4 {
		return nil, off(int64(len(raw)), "truncated: %d bytes, an IDX file starts with a 4-byte magic number", len(raw))
	}
	magic := binary.BigEndian.Uint32(raw)
	typ, nd := raw[2], int(raw[3])
	switch {
	case raw[0] != 0 || raw[1] != 0:
		return nil, off(0, "not an IDX file: magic number %#08x does not start with two zero bytes", magic)
	case typ != idxUbyte:
		name := idxTypes[typ]
		if name == "" {
			name = "unknown"
		}
		return nil, off(2, "data type %#02x (%s): softgrad reads IDX files of unsigned bytes (0x08), as MNIST's", typ, name)
	case wantDims == 1 && nd != 1:
		return nil, off(3, "%d dimensions: a labels file has 1 (magic 0x00000801); -idx takes IMAGES,LABELS", nd)
	case wantDims == 0 && nd < 2:
		return nil, off(3, "%d dimension(s): an images file has at least 2 (magic 0x00000803 for 28×28 images); -idx takes IMAGES,LABELS", nd)
	}
	hdr := 4 + 4*int64(nd)
	if int64(len(raw)) < hdr {
		return nil, off(int64(len(raw)), "truncated header: %d dimensions need %d bytes, the file has %d", nd, hdr, len(raw))
	}
	f := &idxFile{dataOff: hdr}
	size := int64(1)
	for i := range nd {
		n := int64(binary.BigEndian.Uint32(raw[4+4*i:]))
		if n == 0 {
			return nil, off(4+4*int64(i), "dimension %d is 0: no %s", i+1, what)
		}
		if size > (1<<40)/n {
			return nil, off(4+4*int64(i), "dimension %d is %d: more than 2⁴⁰ bytes of %s in all", i+1, n, what)
		}
		size *= n
		f.dims = append(f.dims, int(n))
	}
	switch have := int64(len(raw)) - hdr; {
	case have < size:
		return nil, off(int64(len(raw)), "truncated: the header (%s) promises %d bytes of %s, the file ends after %d",
			dimString(f.dims), size, what, have)
	case have > size:
		return nil, off(hdr+size, "%d bytes past the %d bytes of %s the header (%s) describes", have-size, size, what, dimString(f.dims))
	}
	f.data = raw[hdr:]
	return f, nil
}

func dimString(dims []int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "×")
}

// loadIDX reads MNIST-style IDX images and labels. Pixels are scaled from
// [0, 255] to [0, 1]. classes, if positive, is the number of classes;
// otherwise it is the largest label plus one.
func loadIDX(images, labels string, classes int) (*dataset, error) {
	im, err := readIDX(images, "images", 0)
	if err != nil {
		return nil, err
	}
	lb, err := readIDX(labels, "labels", 1)
	if err != nil {
		return nil, err
	}
	n := im.dims[0]
	if lb.dims[0] != n {
		return nil, &dataError{file: labels, msg: fmt.Sprintf("%d labels, but %s holds %d images", lb.dims[0], images, n)}
	}
	d := &dataset{features: len(im.data) / n, classes: classes, labels: make([]int32, n), x: make([]float32, len(im.data))}
	maxLabel := 0
	for i, l := range lb.data {
		limit := classes
		if limit <= 0 {
			limit = maxClasses
		}
		if int(l) >= limit {
			return nil, offsetError(labels, lb.dataOff+int64(i), "label %d (sample %d) out of range [0, %d)", l, i, limit)
		}
		d.labels[i] = int32(l)
		maxLabel = max(maxLabel, int(l))
	}
	for i, p := range im.data {
		d.x[i] = float32(p) / 255
	}
	if classes <= 0 {
		d.classes = maxLabel + 1
	}
	return d, nil
}

// synthetic returns the embedded task: n samples of 64 features in 10
// classes, deterministic from seed. Each class is a Gaussian blob of unit
// variance around a mean drawn at random, about 0.35 per feature from the
// others, so the classes overlap and no classifier is always right. The
// features are then scaled by factors from 0.1 to 3 (as raw measurements
// in different units are), which makes plain SGD take several epochs to
// converge. With one covariance for all classes the best possible
// classifier is linear (the nearest class mean, before scaling): the very
// model softgrad trains. bayes is its accuracy on the samples, the ceiling
// to compare with.
func synthetic(seed uint64, n int) (d *dataset, bayes float64) {
	const features, classes, spread = 64, 10, 0.35
	r := rand.New(rand.NewPCG(seed, 0x7a5c))
	means := make([]float64, classes*features)
	for i := range means {
		means[i] = spread * r.NormFloat64()
	}
	scale := make([]float64, features)
	for j := range scale {
		scale[j] = math.Pow(10, -1+1.5*r.Float64())
	}
	d = &dataset{features: features, classes: classes, x: make([]float32, n*features), labels: make([]int32, n)}
	z := make([]float64, features)
	right := 0
	for i := range n {
		l := r.IntN(classes)
		d.labels[i] = int32(l)
		for j := range z {
			z[j] = means[l*features+j] + r.NormFloat64()
			d.x[i*features+j] = float32(scale[j] * z[j])
		}
		best, bestDist := 0, math.Inf(1)
		for c := range classes {
			var dist float64
			for j, v := range z {
				e := v - means[c*features+j]
				dist += e * e
			}
			if dist < bestDist {
				best, bestDist = c, dist
			}
		}
		if best == l {
			right++
		}
	}
	return d, float64(right) / float64(max(n, 1))
}

// split shuffles the samples (deterministically from seed) and returns a
// training set and a held-out test set of about holdout of them (at least
// one sample each when holdout is positive and there are two or more).
func split(d *dataset, holdout float64, seed uint64) (train, test *dataset) {
	n := d.len()
	perm := rand.New(rand.NewPCG(seed, 0x59117)).Perm(n)
	nt := int(math.Round(holdout * float64(n)))
	if holdout > 0 && n >= 2 {
		nt = min(max(nt, 1), n-1)
	}
	pick := func(idx []int) *dataset {
		s := &dataset{features: d.features, classes: d.classes,
			x: make([]float32, len(idx)*d.features), labels: make([]int32, len(idx))}
		for i, j := range idx {
			copy(s.x[i*d.features:(i+1)*d.features], d.x[j*d.features:(j+1)*d.features])
			s.labels[i] = d.labels[j]
		}
		return s
	}
	return pick(perm[nt:]), pick(perm[:nt])
}

// standardize scales every feature of train to mean 0 and variance 1, and
// applies the same affine map (from train's statistics) to test. A constant
// feature is only centred.
func standardize(train, test *dataset) {
	f := train.features
	mean, sd := make([]float64, f), make([]float64, f)
	n := float64(max(train.len(), 1))
	for i, v := range train.x {
		mean[i%f] += float64(v)
	}
	for j := range mean {
		mean[j] /= n
	}
	for i, v := range train.x {
		e := float64(v) - mean[i%f]
		sd[i%f] += e * e
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / n)
		if sd[j] == 0 {
			sd[j] = 1
		}
	}
	for _, d := range []*dataset{train, test} {
		for i, v := range d.x {
			d.x[i] = float32((float64(v) - mean[i%f]) / sd[i%f])
		}
	}
}
