package numpy

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"go.starlark.net/starlark"
)

// sortingFuncs is this file's part of the np module.
func sortingFuncs() map[string]impl {
	return map[string]impl{
		"sort":      npSort,
		"argsort":   npSort,
		"unique":    npUnique,
		"histogram": npHistogram,
	}
}

// floatCmp orders floats with NaN last, as NumPy sorts.
func floatCmp(x, y float64) int {
	switch xn, yn := math.IsNaN(x), math.IsNaN(y); {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	}
	return cmp.Compare(x, y)
}

// npSort is sort(a, axis=-1) and argsort(a, axis=-1); axis=None sorts the
// flattened array. Both are stable.
func npSort(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	var axisV starlark.Value = starlark.MakeInt(-1)
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "axis?", &axisV); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if a.dtype == Complex128 {
		return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
	}
	if len(a.shape) == 0 {
		return nil, fmt.Errorf("%s: cannot sort a 0-d array", fn)
	}
	axis, hasAxis, err := optAxis(fn, axisV, len(a.shape))
	if err != nil {
		return nil, err
	}
	src := a
	if !hasAxis {
		src, axis = a.reshaped([]int{a.Size()}), 0
	}
	// Move the axis last, sort contiguous lanes, move it back.
	nd := len(src.shape)
	perm := make([]int, 0, nd)
	for d := range nd {
		if d != axis {
			perm = append(perm, d)
		}
	}
	perm = append(perm, axis)
	t, err := transpose(src, perm)
	if err != nil {
		return nil, err
	}
	vals := t.floats()
	n := src.shape[axis]
	order := make([]int64, len(vals))
	for o := 0; o < len(vals); o += max(n, 1) {
		lane := order[o : o+n]
		for j := range lane {
			lane[j] = int64(j)
		}
		slices.SortStableFunc(lane, func(x, y int64) int { return floatCmp(vals[o+int(x)], vals[o+int(y)]) })
	}
	var out *Array
	if fn == "argsort" {
		out = NewInt64(t.shape, order)
	} else {
		idx := make([]int, len(order))
		for k, j := range order {
			idx[k] = k - k%max(n, 1) + int(j)
		}
		out = t.gather(idx, t.shape)
	}
	inv := make([]int, nd)
	for k, p := range perm {
		inv[p] = k
	}
	return transpose(out, inv)
}

// npUnique is unique(a, return_counts=False): the sorted distinct
// elements of the flattened array.
func npUnique(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av starlark.Value
	counts := false
	if err := starlark.UnpackArgs(fn, args, kwargs, "ar", &av, "return_counts?", &counts); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if a.dtype == Complex128 {
		return nil, fmt.Errorf("%s: not supported for complex arrays", fn)
	}
	flat := a.reshaped([]int{a.Size()})
	sorted, err := npSort(nil, "sort", starlark.Tuple{flat}, nil)
	if err != nil {
		return nil, err
	}
	s := sorted.(*Array)
	vals := s.floats()
	var keep []int
	var cnt []int64
	for k := range vals {
		if k == 0 || floatCmp(vals[k], vals[k-1]) != 0 {
			keep = append(keep, k)
			cnt = append(cnt, 0)
		}
		cnt[len(cnt)-1]++
	}
	u := s.gather(keep, []int{len(keep)})
	if counts {
		return starlark.Tuple{u, NewInt64([]int{len(cnt)}, cnt)}, nil
	}
	return u, nil
}

// npHistogram is histogram(a, bins=10, range=None): counts in equal bins
// between the minimum and the maximum (the last bin closed), and the bin
// edges.
func npHistogram(_ *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var av, rangeV starlark.Value
	bins := 10
	if err := starlark.UnpackArgs(fn, args, kwargs, "a", &av, "bins?", &bins, "range?", &rangeV); err != nil {
		return nil, err
	}
	a, err := arrayArg(fn, av)
	if err != nil {
		return nil, err
	}
	if bins < 1 || bins > maxElements {
		return nil, fmt.Errorf("%s: bins must be a positive int", fn)
	}
	x := a.floats()
	lo, hi := 0.0, 1.0
	if rangeV != nil && rangeV != starlark.None {
		r, err := arrayArg(fn, rangeV)
		if err != nil || r.Size() != 2 {
			return nil, fmt.Errorf("%s: range must be a (min, max) pair", fn)
		}
		lo, hi = r.floats()[0], r.floats()[1]
		if lo > hi {
			return nil, fmt.Errorf("%s: max must be larger than min in range parameter", fn)
		}
	} else if len(x) > 0 {
		lo, hi = extreme(x, -1), extreme(x, 1)
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil, fmt.Errorf("%s: autodetected range of [%g, %g] is not finite", fn, lo, hi)
	}
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	edges := make([]float64, bins+1)
	step := (hi - lo) / float64(bins)
	for k := range edges {
		edges[k] = lo + float64(k)*step
	}
	edges[bins] = hi
	hist := make([]int64, bins)
	norm := float64(bins) / (hi - lo)
	for _, v := range x {
		if v < lo || v > hi || math.IsNaN(v) {
			continue
		}
		k := min(int((v-lo)*norm), bins-1)
		if v < edges[k] {
			k--
		} else if k < bins-1 && v >= edges[k+1] {
			k++
		}
		hist[k]++
	}
	return starlark.Tuple{NewInt64([]int{bins}, hist), NewFloat64([]int{bins + 1}, edges)}, nil
}
