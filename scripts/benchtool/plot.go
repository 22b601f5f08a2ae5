//go:build linux

package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"
	"unicode"
)

// writePlot draws one horizontal bar per (metric, peer): how far ahead wsca is of that peer, the median
// over repetitions of peer/wsca for lower-is-better metrics and wsca/peer for higher-is-better ones, on a
// logarithmic axis (1× = parity; right of it wsca is ahead). Pure standard library with a built-in 5×7
// bitmap font, so the plot needs nothing installed.
func writePlot(r *Results, path string) error {
	bars := plotBars(r)
	if len(bars) == 0 {
		return nil
	}
	img := drawPlot(r, bars)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// plotBar is one bar of the plot: its label and how far ahead wsca is (>1: wsca better).
type plotBar struct {
	label string
	adv   float64
}

// plotBars returns one bar per (metric, peer) of r, in metric and peer order, leaving out context metrics and
// pairs whose median ratio is missing or zero.
func plotBars(r *Results) []plotBar {
	var bars []plotBar
	for _, m := range r.Metrics {
		if m.Context {
			continue
		}
		for _, p := range m.Peers[1:] {
			s := summarize(m.ratios(p))
			if missing(s.Median) || s.Median == 0 {
				continue
			}
			adv := s.Median
			if !m.Lower {
				adv = 1 / adv
			}
			bars = append(bars, plotBar{fmt.Sprintf("%s %s: vs %s", m.Workload, m.Name, p), adv})
		}
	}
	return bars
}

// plotDecades returns the powers of ten the logarithmic axis spans: at least one decade, always
// including 1× (parity).
func plotDecades(bars []plotBar) (loExp, hiExp float64) {
	lo, hi := 1.0, 1.0
	for _, b := range bars {
		lo, hi = math.Min(lo, b.adv), math.Max(hi, b.adv)
	}
	loExp, hiExp = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if hiExp == loExp {
		hiExp++
	}
	return loExp, hiExp
}

// drawPlot draws the title, the decade grid, the parity line and bars (at least one) of r onto a new
// white image sized to fit the longest label.
func drawPlot(r *Results, bars []plotBar) *image.RGBA {
	loExp, hiExp := plotDecades(bars)
	const (
		scale  = 2
		cellW  = 6 * scale
		rowH   = 11 * scale
		margin = 16
	)
	labelW := 0
	for _, b := range bars {
		labelW = max(labelW, len([]rune(b.label)))
	}
	labelPx := labelW*cellW + margin
	barPx := 560
	w := margin + labelPx + barPx + 140
	top := margin + 3*rowH
	h := top + len(bars)*rowH + 2*rowH
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	ink := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grid := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	ahead := color.RGBA{0x2b, 0x7a, 0x3d, 0xff}
	behind := color.RGBA{0xc0, 0x39, 0x2b, 0xff}

	x0 := margin + labelPx
	xOf := func(v float64) int {
		return x0 + int(float64(barPx)*(math.Log10(v)-loExp)/(hiExp-loExp))
	}
	drawText(img, margin, margin, scale, ink, fmt.Sprintf("wsca ahead of each peer (×, log scale, >1 = wsca better), median of %d reps, %s run", r.Reps, r.Mode))
	for e := loExp; e <= hiExp; e++ {
		v := math.Pow(10, e)
		x := xOf(v)
		fill(img, image.Rect(x, top-rowH/2, x+1, top+len(bars)*rowH), grid)
		drawText(img, x-2*cellW, top-rowH-rowH/2+4, scale, ink, strings.TrimSuffix(fmt.Sprintf("%g", v), ".0")+"×")
	}
	one := xOf(1)
	fill(img, image.Rect(one-1, top-rowH/2, one+1, top+len(bars)*rowH), ink)
	for i, b := range bars {
		y := top + i*rowH
		drawText(img, margin, y+2, scale, ink, b.label)
		x := xOf(b.adv)
		c := ahead
		r := image.Rect(one, y+2, x, y+rowH-4)
		if b.adv < 1 {
			c, r = behind, image.Rect(x, y+2, one, y+rowH-4)
		}
		fill(img, r, c)
		drawText(img, max(x, one)+6, y+2, scale, ink, fmt.Sprintf("%.2f×", b.adv))
	}
	return img
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r.Canon(), image.NewUniform(c), image.Point{}, draw.Src)
}

// drawText writes s at (x, y) in the 5×7 font, each font pixel scale×scale screen pixels.
func drawText(img *image.RGBA, x, y, scale int, c color.Color, s string) {
	for _, ch := range s {
		g, ok := font5x7[glyphKey(ch)]
		if !ok {
			g = font5x7['?']
		}
		for row, bits := range g {
			for col := range 5 {
				if bits[col] == '1' {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 6 * scale
	}
}

func glyphKey(ch rune) rune {
	switch ch {
	case '×':
		return 'x'
	case '–', '—':
		return '-'
	case '≤':
		return '<'
	case '≥':
		return '>'
	}
	return unicode.ToUpper(ch)
}

// font5x7 is a classic 5×7 dot-matrix font: upper-case letters, digits and the punctuation the labels use.
var font5x7 = map[rune][7]string{
	' ':  {"00000", "00000", "00000", "00000", "00000", "00000", "00000"},
	'0':  {"01110", "10001", "10011", "10101", "11001", "10001", "01110"},
	'1':  {"00100", "01100", "00100", "00100", "00100", "00100", "01110"},
	'2':  {"01110", "10001", "00001", "00010", "00100", "01000", "11111"},
	'3':  {"11111", "00010", "00100", "00010", "00001", "10001", "01110"},
	'4':  {"00010", "00110", "01010", "10010", "11111", "00010", "00010"},
	'5':  {"11111", "10000", "11110", "00001", "00001", "10001", "01110"},
	'6':  {"00110", "01000", "10000", "11110", "10001", "10001", "01110"},
	'7':  {"11111", "00001", "00010", "00100", "01000", "01000", "01000"},
	'8':  {"01110", "10001", "10001", "01110", "10001", "10001", "01110"},
	'9':  {"01110", "10001", "10001", "01111", "00001", "00010", "01100"},
	'A':  {"01110", "10001", "10001", "11111", "10001", "10001", "10001"},
	'B':  {"11110", "10001", "10001", "11110", "10001", "10001", "11110"},
	'C':  {"01110", "10001", "10000", "10000", "10000", "10001", "01110"},
	'D':  {"11100", "10010", "10001", "10001", "10001", "10010", "11100"},
	'E':  {"11111", "10000", "10000", "11110", "10000", "10000", "11111"},
	'F':  {"11111", "10000", "10000", "11110", "10000", "10000", "10000"},
	'G':  {"01110", "10001", "10000", "10111", "10001", "10001", "01111"},
	'H':  {"10001", "10001", "10001", "11111", "10001", "10001", "10001"},
	'I':  {"01110", "00100", "00100", "00100", "00100", "00100", "01110"},
	'J':  {"00111", "00010", "00010", "00010", "00010", "10010", "01100"},
	'K':  {"10001", "10010", "10100", "11000", "10100", "10010", "10001"},
	'L':  {"10000", "10000", "10000", "10000", "10000", "10000", "11111"},
	'M':  {"10001", "11011", "10101", "10101", "10001", "10001", "10001"},
	'N':  {"10001", "10001", "11001", "10101", "10011", "10001", "10001"},
	'O':  {"01110", "10001", "10001", "10001", "10001", "10001", "01110"},
	'P':  {"11110", "10001", "10001", "11110", "10000", "10000", "10000"},
	'Q':  {"01110", "10001", "10001", "10001", "10101", "10010", "01101"},
	'R':  {"11110", "10001", "10001", "11110", "10100", "10010", "10001"},
	'S':  {"01111", "10000", "10000", "01110", "00001", "00001", "11110"},
	'T':  {"11111", "00100", "00100", "00100", "00100", "00100", "00100"},
	'U':  {"10001", "10001", "10001", "10001", "10001", "10001", "01110"},
	'V':  {"10001", "10001", "10001", "10001", "10001", "01010", "00100"},
	'W':  {"10001", "10001", "10001", "10101", "10101", "10101", "01010"},
	'X':  {"10001", "10001", "01010", "00100", "01010", "10001", "10001"},
	'Y':  {"10001", "10001", "10001", "01010", "00100", "00100", "00100"},
	'Z':  {"11111", "00001", "00010", "00100", "01000", "10000", "11111"},
	'x':  {"00000", "00000", "10001", "01010", "00100", "01010", "10001"},
	'.':  {"00000", "00000", "00000", "00000", "00000", "01100", "01100"},
	',':  {"00000", "00000", "00000", "00000", "01100", "00100", "01000"},
	':':  {"00000", "01100", "01100", "00000", "01100", "01100", "00000"},
	'(':  {"00010", "00100", "01000", "01000", "01000", "00100", "00010"},
	')':  {"01000", "00100", "00010", "00010", "00010", "00100", "01000"},
	'-':  {"00000", "00000", "00000", "11111", "00000", "00000", "00000"},
	'/':  {"00000", "00001", "00010", "00100", "01000", "10000", "00000"},
	'%':  {"11000", "11001", "00010", "00100", "01000", "10011", "00011"},
	'[':  {"01110", "01000", "01000", "01000", "01000", "01000", "01110"},
	']':  {"01110", "00010", "00010", "00010", "00010", "00010", "01110"},
	'+':  {"00000", "00100", "00100", "11111", "00100", "00100", "00000"},
	'=':  {"00000", "00000", "11111", "00000", "11111", "00000", "00000"},
	'>':  {"01000", "00100", "00010", "00001", "00010", "00100", "01000"},
	'<':  {"00010", "00100", "01000", "10000", "01000", "00100", "00010"},
	'_':  {"00000", "00000", "00000", "00000", "00000", "00000", "11111"},
	'\'': {"00100", "00100", "01000", "00000", "00000", "00000", "00000"},
	'"':  {"01010", "01010", "00000", "00000", "00000", "00000", "00000"},
	'?':  {"01110", "10001", "00001", "00010", "00100", "00000", "00100"},
}
