package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// badCSV lists malformed CSV files and the one-line message each must
// give, after "softgrad: FILE".
var badCSV = []struct {
	name, data string
	args       []string // extra flags
	want       string
}{
	{"ragged", "label,a,b\n0,1,2\n1,3,4\n2,5\n", nil, ":4: 2 fields, but line 2 has 3 (label and 2 features)"},
	{"non-numeric", "0,1,2\n1,3,abc\n", nil, `:2: field 3: "abc" is not a number`},
	{"nan", "0,1,2\n1,NaN,4\n", nil, `:2: field 2: "NaN" is not a finite float32`},
	{"overflow", "0,1,2\n1,1e50,4\n", nil, `:2: field 2: "1e50" is not a finite float32`},
	{"label-range", "0,1,2\n1,3,4\n\n3,5,6\n", []string{"-classes", "3"}, ":4: field 1: label 3 out of range [0, 3)"},
	{"label-negative", "0,1,2\n-1,3,4\n", nil, ":2: field 1: label -1 out of range [0, 65536) (at most 65536 classes)"},
	{"label-huge", "0,1,2\n70000,3,4\n", nil, ":2: field 1: label 70000 out of range [0, 65536)"},
	{"label-fraction", "0,1,2\n1.5,3,4\n", nil, `:2: field 1: label "1.5" is not a class number (an integer from 0)`},
	{"label-word", "0,1,2\ncat,3,4\n", nil, `:2: field 1: label "cat" is not a class number`},
	{"one-field", "0\n1\n", nil, ":1: 1 field; a row needs a label and at least one feature"},
	{"quote", "0,1,2\n1,\"3,4\n", nil, `:2: column 8: extraneous or missing " in quoted-field`},
	{"empty", "", nil, ": no data rows"},
	{"header-only", "label,x\n", nil, ": no data rows"},
	{"one-class", "0,1\n0,2\n0,3\n", nil, ": 1 class: a classifier needs at least 2"},
}

// TestBadCSV: every malformed CSV gives one line naming the file and line,
// and exit status 2.
func TestBadCSV(t *testing.T) {
	dir := t.TempDir()
	for _, c := range badCSV {
		path := filepath.Join(dir, c.name+".csv")
		must(t, os.WriteFile(path, []byte(c.data), 0o644))
		status, out, errOut := runCLI(t, append([]string{"train", "-csv", path}, c.args...)...)
		want := "softgrad: " + path + c.want
		if status != 2 || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 || out != "" {
			t.Errorf("%s: status %d, stderr %q, stdout %q; want 2 and %q", c.name, status, errOut, out, want)
		}
		noTrace(t, errOut)
	}
	missing := filepath.Join(dir, "missing.csv")
	if status, _, errOut := runCLI(t, "train", "-csv", missing); status != 2 ||
		errOut != "softgrad: "+missing+": no such file or directory\n" {
		t.Errorf("missing file: status %d, stderr %q", status, errOut)
	}
}

// TestBadIDX: every malformed IDX pair gives one line naming the file and
// the byte offset, and exit status 2.
func TestBadIDX(t *testing.T) {
	dir := t.TempDir()
	images, labels := mnistLike(10) // 10 images of 8×8: a 16-byte header, 640 bytes
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, b, 0o644))
		return p
	}
	img, lab := write("img", images), write("lab", labels)
	badLabels := bytes.Clone(labels)
	badLabels[8+4] = 7
	floatImages := bytes.Clone(images)
	floatImages[2] = 0x0D
	for _, c := range []struct {
		name           string
		images, labels string
		args           []string
		want           string // after "softgrad: "
	}{
		{"truncated-data", write("t1", images[:500]), lab, nil,
			"t1: offset 500: truncated: the header (10×8×8) promises 640 bytes of images, the file ends after 484"},
		{"truncated-header", write("t2", images[:10]), lab, nil,
			"t2: offset 10: truncated header: 3 dimensions need 16 bytes, the file has 10"},
		{"tiny", write("t3", images[:2]), lab, nil,
			"t3: offset 2: truncated: 2 bytes, an IDX file starts with a 4-byte magic number"},
		{"truncated-labels", img, write("t4", labels[:15]), nil,
			"t4: offset 15: truncated: the header (10) promises 10 bytes of labels, the file ends after 7"},
		{"magic", write("m1", append([]byte("PK\x03\x04"), images[4:]...)), lab, nil,
			"m1: offset 0: not an IDX file: magic number 0x504b0304 does not start with two zero bytes"},
		{"float", write("f1", floatImages), lab, nil,
			"f1: offset 2: data type 0x0d (float32): softgrad reads IDX files of unsigned bytes (0x08), as MNIST's"},
		{"swapped", lab, img, nil,
			"lab: offset 3: 1 dimension(s): an images file has at least 2 (magic 0x00000803 for 28×28 images); -idx takes IMAGES,LABELS"},
		{"labels-3d", img, img, nil,
			"img: offset 3: 3 dimensions: a labels file has 1 (magic 0x00000801); -idx takes IMAGES,LABELS"},
		{"count", img, write("c1", idxBytes([]int{9}, labels[8:17])), nil,
			"c1: 9 labels, but " + img + " holds 10 images"},
		{"label-range", img, write("r1", badLabels), []string{"-classes", "4"},
			"r1: offset 12: label 7 (sample 4) out of range [0, 4)"},
		{"trailing", write("x1", append(bytes.Clone(images), 1, 2, 3)), lab, nil,
			"x1: offset 656: 3 bytes past the 640 bytes of images the header (10×8×8) describes"},
		{"zero-dim", write("z1", idxBytes([]int{0, 8, 8}, nil)), lab, nil,
			"z1: offset 4: dimension 1 is 0: no images"},
		{"huge-dims", write("h1", idxBytes([]int{1 << 31, 1 << 31, 1 << 31}, images[16:])), lab, nil,
			"h1: offset 8: dimension 2 is 2147483648: more than 2⁴⁰ bytes of images in all"},
		{"gzip-truncated", write("g1.gz", gzipBytes(t, images)[:40]), lab, nil,
			"g1.gz: gzip: unexpected EOF"},
		{"gzip-data", write("g2.gz", gzipBytes(t, images[:300])), lab, nil,
			"g2.gz: offset 300: truncated: the header (10×8×8) promises 640 bytes of images, the file ends after 284 (of the decompressed data)"},
		{"missing", filepath.Join(dir, "nope"), lab, nil,
			"nope: no such file or directory"},
	} {
		args := append([]string{"train", "-idx", c.images + "," + c.labels}, c.args...)
		status, out, errOut := runCLI(t, args...)
		want := "softgrad: " + filepath.Join(dir, c.want)
		if strings.HasPrefix(c.want, "c1:") {
			want = "softgrad: " + filepath.Join(dir, "c1") + strings.TrimPrefix(c.want, "c1")
		}
		if status != 2 || errOut != want+"\n" || out != "" {
			t.Errorf("%s: status %d, stderr %q, stdout %q;\nwant 2 and %q", c.name, status, errOut, out, want)
		}
		noTrace(t, errOut)
	}
}

// TestLoadCSV checks the values a CSV loads to, header and all.
func TestLoadCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ok.csv")
	must(t, os.WriteFile(path, []byte("y, f1, f2\n1, 0.5, -2\n\n0,3,4e1\n2.0,  1, 1\n"), 0o644))
	d, err := loadCSV(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.features != 2 || d.classes != 3 || d.len() != 3 ||
		fmt.Sprint(d.x) != "[0.5 -2 3 40 1 1]" || fmt.Sprint(d.labels) != "[1 0 2]" {
		t.Errorf("loaded %+v", d)
	}
	// Without a header the first line is data.
	must(t, os.WriteFile(path, []byte("1,2\n0,3\n"), 0o644))
	if d, err := loadCSV(path, 5); err != nil || d.len() != 2 || d.classes != 5 {
		t.Errorf("no header: %+v, %v", d, err)
	}
}

// TestSplitStandardize checks the held-out split and the standardization.
func TestSplitStandardize(t *testing.T) {
	d, bayes := synthetic(3, 1000)
	if bayes < 0.8 || bayes > 0.95 || d.features != 64 || d.classes != 10 {
		t.Fatalf("synthetic: bayes %v, %d features, %d classes", bayes, d.features, d.classes)
	}
	d2, _ := synthetic(3, 1000)
	if fmt.Sprint(d.labels) != fmt.Sprint(d2.labels) || fmt.Sprint(d.x) != fmt.Sprint(d2.x) {
		t.Error("synthetic is not deterministic")
	}
	train, test := split(d, 0.25, 9)
	if train.len() != 750 || test.len() != 250 {
		t.Fatalf("split: %d, %d", train.len(), test.len())
	}
	counts := map[int32]int{}
	for _, l := range append(append([]int32(nil), train.labels...), test.labels...) {
		counts[l]++
	}
	for l, n := range counts {
		var want int
		for _, m := range d.labels {
			if m == l {
				want++
			}
		}
		if n != want {
			t.Errorf("class %d: %d samples after the split, %d before", l, n, want)
		}
	}
	standardize(train, test)
	for j := range train.features {
		var mean, sq float64
		for i := range train.len() {
			v := float64(train.x[i*train.features+j])
			mean += v
			sq += v * v
		}
		mean /= float64(train.len())
		if v := sq/float64(train.len()) - mean*mean; mean > 1e-4 || mean < -1e-4 || v < 0.999 || v > 1.001 {
			t.Errorf("feature %d: mean %g, variance %g", j, mean, v)
		}
	}
	if _, test := split(d, 0, 1); test.len() != 0 {
		t.Errorf("holdout 0: %d test samples", test.len())
	}
	if train, test := split(&dataset{features: 1, x: []float32{1, 2}, labels: []int32{0, 1}}, 0.01, 1); train.len() != 1 || test.len() != 1 {
		t.Errorf("tiny split: %d, %d", train.len(), test.len())
	}
}
