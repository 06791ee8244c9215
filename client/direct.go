package client

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"

	"github.com/pxsh/pxsh/protocol"
)

// MapChunkFunction returns the function a map task runs on an engine:
// pxsh_map(f, *seqs) calls f on each element of its chunk, zipping several
// sequences. Each chunk is an apply of it to f and the chunk's slices.
func MapChunkFunction() protocol.Function {
	return protocol.Function{Name: "pxsh_map", Source: `def pxsh_map(f, *seqs):
    if len(seqs) == 1:
        return [f(x) for x in seqs[0]]
    return [f(*a) for a in zip(*seqs)]`, File: "<pxsh map>", Line: 1, Col: 1}
}

// Chunks splits n items into parts contiguous [lo, hi) ranges, the first
// n%parts one longer: 101 over 4 gives [0 26] [26 51] [51 76] [76 101].
// When n < parts the last ranges are empty. Map and Scatter cut their
// sequences this way, one range per target engine.
func Chunks(n, parts int) [][2]int {
	out := make([][2]int, parts)
	lo := 0
	for i := range out {
		hi := lo + n/parts
		if i < n%parts {
			hi++
		}
		out[i] = [2]int{lo, hi}
		lo = hi
	}
	return out
}

// FixedChunks splits n items into [lo, hi) ranges of size items, the last
// one shorter when size does not divide n: a load-balanced map's tasks
// (chunksize=).
func FixedChunks(n, size int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += size {
		out = append(out, [2]int{lo, min(lo+size, n)})
	}
	return out
}

// MapAsync calls fn on each element of seqs (element i of every sequence;
// the shortest sequence sets the length), one contiguous chunk per target
// engine; Get returns the results in order.
func (v *View) MapAsync(fn Func, seqs ...[]any) (*AsyncResult, error) {
	if len(seqs) == 0 {
		return nil, fmt.Errorf("map: no sequence")
	}
	n := len(seqs[0])
	for _, s := range seqs[1:] {
		n = min(n, len(s))
	}
	targets := v.Targets()
	if len(targets) == 0 {
		return nil, fmt.Errorf("map: %w", ErrNoEngines)
	}
	wrapper := Function{MapChunkFunction()}
	ar := &AsyncResult{Combine: CombineChunks, Kind: protocol.KindApply, Name: funcWire(string(fn)).Name}
	for i, c := range Chunks(n, len(targets)) {
		if c[0] == c[1] {
			continue
		}
		args := []any{fn}
		for _, s := range seqs {
			args = append(args, s[c[0]:c[1]])
		}
		body, err := encodeCall(wrapper, args, nil)
		if err != nil {
			return nil, fmt.Errorf("map: %w", err)
		}
		t, err := v.c.Submit(protocol.Request{Kind: protocol.KindApply, Engine: targets[i], Name: funcWire(string(fn)).Name}, body)
		if err != nil {
			return nil, fmt.Errorf("map: %w", err)
		}
		ar.Tasks = append(ar.Tasks, t)
		ar.Chunks = append(ar.Chunks, c[1]-c[0])
	}
	return ar, nil
}

// Map is MapAsync followed by Get.
func (v *View) Map(ctx context.Context, fn Func, seqs ...[]any) ([]any, error) {
	ar, err := v.MapAsync(fn, seqs...)
	if err != nil {
		return nil, err
	}
	return ar.Get(ctx)
}

// Scatter pushes contiguous chunks of seq as name, one per target engine
// (101 items over 4 engines: 26, 25, 25, 25); with flatten a one-element
// chunk is pushed as the bare element.
func (v *View) Scatter(ctx context.Context, name string, seq []any, flatten bool) error {
	targets := v.Targets()
	if len(targets) == 0 {
		return fmt.Errorf("scatter: %w", ErrNoEngines)
	}
	ar := &AsyncResult{}
	for i, c := range Chunks(len(seq), len(targets)) {
		var chunk any = seq[c[0]:c[1]]
		if flatten && c[1]-c[0] == 1 {
			chunk = seq[c[0]]
		}
		body, err := Encode(map[string]any{name: chunk})
		if err != nil {
			return fmt.Errorf("scatter: %w", err)
		}
		t, err := v.c.Submit(protocol.Request{Kind: protocol.KindPush, Engine: targets[i], Name: "scatter"}, body)
		if err != nil {
			return fmt.Errorf("scatter: %w", err)
		}
		ar.Tasks = append(ar.Tasks, t)
	}
	_, err := ar.Get(ctx)
	return err
}

// GatherAsync pulls name from every target; Get concatenates the values
// in engine order (lists are extended, other values appended).
func (v *View) GatherAsync(name string) (*AsyncResult, error) {
	body, err := Encode(name)
	if err != nil {
		return nil, err
	}
	ar, err := v.Submit(protocol.Request{Kind: protocol.KindPull, Name: "gather"}, body)
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	ar.Combine = CombineGather
	return ar, nil
}

// Gather is GatherAsync followed by Get.
func (v *View) Gather(ctx context.Context, name string) ([]any, error) {
	ar, err := v.GatherAsync(name)
	if err != nil {
		return nil, err
	}
	return ar.Get(ctx)
}

// Clear resets the namespaces of the target engines.
func (v *View) Clear(ctx context.Context) error {
	ar, err := v.Submit(protocol.Request{Kind: protocol.KindClear}, nil)
	if err != nil {
		return fmt.Errorf("clear: %w", err)
	}
	_, err = ar.Get(ctx)
	return err
}

// Wait waits until every given task has finished (every outstanding task
// of the client when none is given) or ctx is done.
func (c *Client) Wait(ctx context.Context, tasks ...*Task) error {
	if len(tasks) == 0 {
		c.mu.Lock()
		for _, t := range c.pending {
			tasks = append(tasks, t)
		}
		c.mu.Unlock()
	}
	return (&AsyncResult{Tasks: tasks}).Wait(ctx)
}

// GetResult returns an AsyncResult for msg ids: this client's outstanding
// tasks directly, others (finished, or another client's) from the hub.
func (c *Client) GetResult(ctx context.Context, ids ...string) (*AsyncResult, error) {
	ar := &AsyncResult{Tasks: make([]*Task, len(ids))}
	var rest []string
	var idx []int
	c.mu.Lock()
	for i, id := range ids {
		if t := c.pending[id]; t != nil {
			ar.Tasks[i] = t
			continue
		}
		rest = append(rest, id)
		idx = append(idx, i)
	}
	c.mu.Unlock()
	if len(rest) > 0 {
		ts, err := c.HubResults(ctx, rest)
		if err != nil {
			return nil, fmt.Errorf("get result: %w", err)
		}
		for j, t := range ts {
			ar.Tasks[idx[j]] = t
		}
	}
	return ar, nil
}

// Values waits for ar and converts its values to T: integers convert to
// any integer or float type, floats to float types, lists to []E (of a
// convertible E), and any value to any. A failure is the task's
// *RemoteError or *CompositeError.
func Values[T any](ctx context.Context, ar *AsyncResult) ([]T, error) {
	vals, err := ar.Get(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(vals))
	typ := reflect.TypeFor[T]()
	for i, v := range vals {
		rv, err := convert(v, typ)
		if err != nil {
			return nil, fmt.Errorf("result %d: %w", i, err)
		}
		out[i] = rv.Interface().(T)
	}
	return out, nil
}

// ErrConvert is wrapped by Values errors about a value of the wrong type.
var ErrConvert = errors.New("cannot convert")

func convert(v any, typ reflect.Type) (reflect.Value, error) {
	if typ.Kind() == reflect.Interface {
		if v == nil {
			return reflect.Zero(typ), nil
		}
		if reflect.TypeOf(v).Implements(typ) {
			return reflect.ValueOf(v).Convert(typ), nil
		}
	}
	if v == nil {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			return reflect.Zero(typ), nil
		}
		return reflect.Value{}, fmt.Errorf("%w None to %s", ErrConvert, typ)
	}
	rv := reflect.ValueOf(v)
	if b, ok := v.(*big.Int); ok && typ.Kind() >= reflect.Float32 && typ.Kind() <= reflect.Float64 {
		f, _ := new(big.Float).SetInt(b).Float64()
		return reflect.ValueOf(f).Convert(typ), nil
	}
	switch typ.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		switch rv.Kind() {
		case reflect.Int64, reflect.Float64:
			if rv.Kind() == reflect.Float64 && typ.Kind() < reflect.Float32 {
				break
			}
			return rv.Convert(typ), nil
		}
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 && rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Convert(typ), nil
		}
		if l, ok := asList(v); ok {
			s := reflect.MakeSlice(typ, len(l), len(l))
			for i, e := range l {
				ev, err := convert(e, typ.Elem())
				if err != nil {
					return reflect.Value{}, fmt.Errorf("[%d]: %w", i, err)
				}
				s.Index(i).Set(ev)
			}
			return s, nil
		}
	}
	if rv.Type().AssignableTo(typ) {
		return rv, nil
	}
	return reflect.Value{}, fmt.Errorf("%w %T to %s", ErrConvert, v, typ)
}

// asList returns the elements of a list, tuple or set value.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case Tuple:
		return x, true
	case Set:
		return x, true
	}
	return nil, false
}
