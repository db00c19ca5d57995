package main

import (
	"cmp"
	"fmt"
	"image/color"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/klauspost/cpuid/v2"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/softgrad/softgrad/bench"
)

// implColors gives each implementation and peer its color in every panel.
var implColors = map[string]color.Color{
	"avx512":          color.RGBA{R: 0x6a, G: 0x3d, B: 0x9a, A: 0xff}, // purple
	"avx2":            color.RGBA{R: 0x1f, G: 0x78, B: 0xb4, A: 0xff}, // blue
	"neon":            color.RGBA{R: 0x33, G: 0xa0, B: 0x2c, A: 0xff}, // green
	"generic":         color.RGBA{R: 0xe3, G: 0x1a, B: 0x1c, A: 0xff}, // red
	bench.PeerMathExp: color.RGBA{R: 0xff, G: 0x7f, B: 0x00, A: 0xff}, // orange
	bench.PeerCopy:    color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}, // grey
	bench.PeerGonum:   color.RGBA{R: 0xb1, G: 0x59, B: 0x28, A: 0xff}, // brown
}

// batchDashes draws the first batch size solid, the next ones dashed and
// dotted.
var batchDashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(1.5), vg.Points(2.5)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}

// writeChart draws the sweep's results as an SVG file: one log-log panel
// per kernel of ns per element against row length, a line per
// implementation (color) and batch size (dash), and a last panel with the
// legend and the machine.
func writeChart(file string, results []bench.Result) error {
	var kernels, impls []string
	for _, k := range bench.Kernels() {
		if slices.ContainsFunc(results, func(r bench.Result) bool { return r.Kernel == k }) {
			kernels = append(kernels, k)
		}
	}
	var batches []int
	for _, r := range results {
		if b := batchOf(r); !slices.Contains(batches, b) {
			batches = append(batches, b)
		}
		if !slices.Contains(impls, r.Impl) {
			impls = append(impls, r.Impl)
		}
	}
	slices.Sort(batches)

	const cols = 3
	rows := (len(kernels) + 1 + cols - 1) / cols // the kernels and the legend
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, kernel := range kernels {
		p, err := kernelPlot(kernel, results, batches)
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = p
	}
	for i := len(kernels); i < rows*cols; i++ {
		p := plot.New() // the legend, then empty tiles
		p.HideAxes()
		if i == len(kernels) {
			if err := legendPlot(p, impls, batches); err != nil {
				return err
			}
		}
		plots[i/cols][i%cols] = p
	}

	w, h := 4.5*vg.Inch*cols, 3.5*vg.Inch*vg.Length(rows)
	img := vgsvg.New(w, h)
	dc := draw.New(img)
	pad := 5 * vg.Millimeter
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: pad, PadY: pad, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
	canvases := plot.Align(plots, tiles, dc)
	for j := range rows {
		for i := range cols {
			plots[j][i].Draw(canvases[j][i])
		}
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("-svg: %w", err)
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("-svg: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-svg: %w", err)
	}
	return nil
}

// legendPlot makes p the legend panel: a color per implementation, a dash
// per batch size, and what was measured where.
func legendPlot(p *plot.Plot, impls []string, batches []int) error {
	p.Title.Text = "softgrad bench: ns per element, one thread\n" + machineLine()
	p.Title.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.ThumbnailWidth = vg.Points(30)
	add := func(name string, c color.Color, dashes []vg.Length) error {
		l, err := plotter.NewLine(plotter.XYs{})
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = c, vg.Points(1.5), dashes
		p.Legend.Add(name, l)
		return nil
	}
	for _, impl := range impls {
		if err := add(impl, implColor(impl), nil); err != nil {
			return err
		}
	}
	for i, b := range batches {
		if err := add(fmt.Sprintf("batch %d", b), color.Black, batchDashes[i%len(batchDashes)]); err != nil {
			return err
		}
	}
	return nil
}

// machineLine describes the machine in a few words, for the chart.
func machineLine() string {
	brand := strings.TrimSpace(cpuid.CPU.BrandName)
	if brand == "" {
		brand = "unknown CPU"
	}
	return fmt.Sprintf("%s\n%s/%s, %s", brand, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func implColor(impl string) color.Color {
	if c, ok := implColors[impl]; ok {
		return c
	}
	return color.Black
}

// kernelPlot returns one kernel's panel.
func kernelPlot(kernel string, results []bench.Result, batches []int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = kernel
	p.X.Label.Text = "row length"
	p.Y.Label.Text = "ns per element"
	switch kernel {
	case "Ger":
		p.X.Label.Text = "n (a is batch×n)"
	case "GerBatch":
		p.X.Label.Text = "n (a is 64×n, k = batch)"
		p.Y.Label.Text = "ns per multiply-add"
	}
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())

	var impls []string
	for _, r := range results {
		if r.Kernel == kernel && !slices.Contains(impls, r.Impl) {
			impls = append(impls, r.Impl)
		}
	}
	for _, impl := range impls {
		for bi, b := range batches {
			var pts plotter.XYs
			for _, r := range results {
				if r.Kernel == kernel && r.Impl == impl && batchOf(r) == b && r.NsPerElem > 0 {
					pts = append(pts, plotter.XY{X: float64(r.Cols), Y: r.NsPerElem})
				}
			}
			if len(pts) == 0 {
				continue
			}
			slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
			line, err := plotter.NewLine(pts)
			if err != nil {
				return nil, err
			}
			line.Color = implColor(impl)
			line.Width = vg.Points(1.5)
			line.Dashes = batchDashes[bi%len(batchDashes)]
			p.Add(line)
		}
	}
	return p, nil
}
