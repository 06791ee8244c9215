package numpy

import (
	"math"
	"strconv"
	"strings"
)

// Printing follows NumPy 1.24's array_repr defaults: line width 75,
// precision 8 (shortest round-trip digits, at most 8 after the point),
// summarisation beyond 1000 elements with 3 edge items.
const (
	lineWidth     = 75
	printPrec     = 8
	summaryThresh = 1000
	edgeItems     = 3
)

// String returns the array's repr, as NumPy prints it.
func (a *Array) String() string {
	const prefix = "array("
	n := a.Size()
	if n == 0 {
		var sb strings.Builder
		sb.WriteString(prefix)
		sb.WriteString("[]")
		if len(a.shape) != 1 {
			sb.WriteString(", shape=" + shapeString(a.shape))
		}
		sb.WriteString(", dtype=" + a.dtype.String() + ")")
		return sb.String()
	}
	if len(a.shape) == 0 {
		return prefix + a.formatter(nil)(0) + ")"
	}
	summarise := n > summaryThresh
	shown := a.shownIndices(summarise)
	format := a.formatter(shown)
	indent := strings.Repeat(" ", len(prefix)+1)
	body := a.formatArray(format, summarise, indent, lineWidth-1)
	return prefix + body + ")"
}

// shapeString formats a shape as a Python tuple.
func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for k, d := range shape {
		parts[k] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// shownIndices returns the flat indices of the elements that the repr
// shows (all of them unless summarising).
func (a *Array) shownIndices(summarise bool) []int {
	if !summarise {
		return nil
	}
	var out []int
	strides := stridesOf(a.shape)
	var rec func(axis, off int)
	rec = func(axis, off int) {
		if axis == len(a.shape) {
			out = append(out, off)
			return
		}
		for _, k := range edgeRange(a.shape[axis], true) {
			rec(axis+1, off+k*strides[axis])
		}
	}
	rec(0, 0)
	return out
}

// edgeRange is the indices shown along an axis of length n.
func edgeRange(n int, summarise bool) []int {
	if !summarise || n <= 2*edgeItems {
		r := make([]int, n)
		for k := range r {
			r[k] = k
		}
		return r
	}
	r := make([]int, 0, 2*edgeItems)
	for k := range edgeItems {
		r = append(r, k)
	}
	for k := n - edgeItems; k < n; k++ {
		r = append(r, k)
	}
	return r
}

// formatArray is NumPy's _formatArray: nested brackets, rows separated by
// newlines, elements wrapped at width.
func (a *Array) formatArray(format func(int) string, summarise bool, indent string, width int) string {
	strides := stridesOf(a.shape)
	var rec func(axis, off int, hang string, width int) string
	rec = func(axis, off int, hang string, width int) string {
		if axis == len(a.shape) {
			return format(off)
		}
		nextHang := hang + " "
		n := a.shape[axis]
		summary := summarise && n > 2*edgeItems
		idx := edgeRange(n, summary)
		var sb strings.Builder
		if axis == len(a.shape)-1 {
			elemWidth := width - 1
			line := hang
			for j, k := range idx {
				if summary && j == edgeItems {
					line = extendLine(&sb, line, "...", elemWidth, hang)
					line += ", "
				}
				word := rec(axis+1, off+k*strides[axis], nextHang, width-1)
				line = extendLine(&sb, line, word, elemWidth, hang)
				if j < len(idx)-1 {
					line += ", "
				}
			}
			sb.WriteString(line)
		} else {
			sep := "," + strings.Repeat("\n", len(a.shape)-axis-1)
			for j, k := range idx {
				if summary && j == edgeItems {
					sb.WriteString(hang + "..." + sep)
				}
				sb.WriteString(hang + rec(axis+1, off+k*strides[axis], nextHang, width-1))
				if j < len(idx)-1 {
					sb.WriteString(sep)
				}
			}
		}
		return "[" + sb.String()[len(hang):] + "]"
	}
	return rec(0, 0, indent, width)
}

func extendLine(sb *strings.Builder, line, word string, width int, hang string) string {
	if len(line)+len(word) > width && len(line) > len(hang) {
		sb.WriteString(strings.TrimRight(line, " ") + "\n")
		line = hang
	}
	return line + word
}

// formatter returns a function formatting the element at a flat index,
// padded so that the shown elements (nil: all) line up.
func (a *Array) formatter(shown []int) func(int) string {
	pick := func(k int) int { return k }
	n := a.Size()
	if shown != nil {
		n = len(shown)
		pick = func(k int) int { return shown[k] }
	}
	switch a.dtype {
	case Bool:
		return func(k int) string {
			if a.b[k] {
				if len(a.shape) == 0 {
					return "True"
				}
				return " True"
			}
			return "False"
		}
	case Int64:
		w := 0
		for k := range n {
			w = max(w, len(strconv.FormatInt(a.i[pick(k)], 10)))
		}
		return func(k int) string {
			s := strconv.FormatInt(a.i[k], 10)
			return strings.Repeat(" ", w-len(s)) + s
		}
	case Float64:
		vals := make([]float64, n)
		for k := range n {
			vals[k] = a.f[pick(k)]
		}
		ff := newFloatFormat(vals, false)
		return func(k int) string { return ff.format(a.f[k]) }
	}
	re := make([]float64, n)
	im := make([]float64, n)
	for k := range n {
		c := a.c[pick(k)]
		re[k], im[k] = real(c), imag(c)
	}
	rf, imf := newFloatFormat(re, false), newFloatFormat(im, true)
	return func(k int) string {
		i := imf.format(imag(a.c[k]))
		t := strings.TrimRight(i, " ")
		return rf.format(real(a.c[k])) + t + "j" + strings.Repeat(" ", len(i)-len(t))
	}
}

// floatFormat is NumPy's FloatingFormat in "maxprec" mode.
type floatFormat struct {
	exp       bool
	plus      bool // always print the sign
	padLeft   int
	padRight  int
	minDigits int // scientific mode: digits after the point
	expDigits int
}

func newFloatFormat(vals []float64, plus bool) *floatFormat {
	ff := &floatFormat{plus: plus}
	var finite []float64
	hasNonFinite, negInf := false, false
	maxAbs, minAbs := 0.0, math.Inf(1)
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			hasNonFinite = true
			negInf = negInf || math.IsInf(v, -1)
			continue
		}
		finite = append(finite, v)
		if v != 0 {
			maxAbs = max(maxAbs, math.Abs(v))
			minAbs = min(minAbs, math.Abs(v))
		}
	}
	if maxAbs > 0 {
		ff.exp = maxAbs >= 1e8 || minAbs < 1e-4 || maxAbs/minAbs > 1e3
	}
	for _, v := range finite {
		s := ff.digits(v)
		if ff.exp {
			mant, ex, _ := strings.Cut(s, "e")
			ip, fp, _ := strings.Cut(mant, ".")
			ff.padLeft = max(ff.padLeft, len(ip))
			ff.minDigits = max(ff.minDigits, len(fp))
			ff.expDigits = max(ff.expDigits, len(ex)-1)
		} else {
			ip, fp, _ := strings.Cut(s, ".")
			ff.padLeft = max(ff.padLeft, len(ip))
			ff.padRight = max(ff.padRight, len(fp))
		}
	}
	if ff.exp {
		ff.padRight = ff.expDigits + 2 + ff.minDigits
	}
	if hasNonFinite {
		infLen := 3
		if negInf || plus {
			infLen++
		}
		off := ff.padRight + 1
		ff.padLeft = max(ff.padLeft, 3-off, infLen-off)
	}
	return ff
}

// digits is the unpadded positional or scientific form of a finite v:
// shortest round-trip digits, at most 8 after the point, the point kept.
func (ff *floatFormat) digits(v float64) string {
	var s string
	if ff.exp {
		s = strconv.FormatFloat(v, 'e', -1, 64)
		mant, ex, _ := strings.Cut(s, "e")
		if _, fp, _ := strings.Cut(mant, "."); len(fp) > printPrec {
			mant, ex, _ = strings.Cut(strconv.FormatFloat(v, 'e', printPrec, 64), "e")
			mant = strings.TrimRight(mant, "0")
		}
		if !strings.Contains(mant, ".") {
			mant += "."
		}
		s = mant + "e" + ex
	} else {
		s = strconv.FormatFloat(v, 'f', -1, 64)
		if _, fp, _ := strings.Cut(s, "."); len(fp) > printPrec {
			s = strings.TrimRight(strconv.FormatFloat(v, 'f', printPrec, 64), "0")
		}
		if !strings.Contains(s, ".") {
			s += "."
		}
	}
	if ff.plus && !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s
}

func (ff *floatFormat) format(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		s := "nan"
		switch {
		case math.IsInf(v, 1):
			s = "inf"
			if ff.plus {
				s = "+inf"
			}
		case math.IsInf(v, -1):
			s = "-inf"
		case ff.plus:
			s = "+nan"
		}
		w := ff.padLeft + ff.padRight + 1
		return strings.Repeat(" ", max(0, w-len(s))) + s
	}
	s := ff.digits(v)
	if ff.exp {
		mant, ex, _ := strings.Cut(s, "e")
		ip, fp, _ := strings.Cut(mant, ".")
		fp += strings.Repeat("0", ff.minDigits-len(fp))
		sign, num := ex[:1], ex[1:]
		num = strings.Repeat("0", max(0, ff.expDigits-len(num))) + num
		return strings.Repeat(" ", max(0, ff.padLeft-len(ip))) + ip + "." + fp + "e" + sign + num
	}
	ip, fp, _ := strings.Cut(s, ".")
	return strings.Repeat(" ", max(0, ff.padLeft-len(ip))) + ip + "." + fp + strings.Repeat(" ", max(0, ff.padRight-len(fp)))
}

// formatComplexScalar formats a complex element as Python does, without
// the parentheses: 1+2j, -0.5-1j.
func formatComplexScalar(c complex128) string {
	re := strconv.FormatFloat(real(c), 'g', -1, 64)
	im := strconv.FormatFloat(imag(c), 'g', -1, 64)
	if !strings.HasPrefix(im, "-") {
		im = "+" + im
	}
	return re + im + "j"
}

// stridesOf returns the row-major strides (in elements) of shape.
func stridesOf(shape []int) []int {
	s := make([]int, len(shape))
	k := 1
	for d := len(shape) - 1; d >= 0; d-- {
		s[d] = k
		k *= shape[d]
	}
	return s
}
