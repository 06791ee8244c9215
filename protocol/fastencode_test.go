package protocol

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
)

// sameEncoding fails when the fast encoder takes h and writes other bytes
// than the generic encoder.
func sameEncoding(t testing.TB, h any) (fast bool) {
	t.Helper()
	hb, err := headerEnc.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	want := binary.AppendUvarint([]byte{byte(TResult)}, uint64(len(hb)))
	want = append(want, hb...)
	got, ok := appendFlat([]byte{}, TResult, h)
	if ok && !bytes.Equal(got, want) {
		t.Fatalf("fast encoding of %+v:\n got %x\nwant %x", h, got, want)
	}
	if !ok && len(got) != 0 {
		t.Fatalf("declined encoding left %x", got)
	}
	return ok
}

func TestFastEncodeAgrees(t *testing.T) {
	ints := []int64{0, 1, -1, 23, 24, -24, -25, 255, 256, -256, -257, 65535, 65536, 1<<32 - 1, 1 << 32, -1 << 32, math.MaxInt64, math.MinInt64}
	hits := 0
	for _, v := range ints {
		for _, s := range []string{"", "a", string(make([]byte, 30)), "é", "\xff"} {
			q := Request{MsgID: s, Client: s, Kind: Kind(s), Engine: int(v), Silent: v > 0, Timeout: float64(v) / 3, Submitted: v, Label: s, Retries: int(v), Priority: int(-v), DepAny: v < 0, DepSuccess: true, Name: s, Prefetched: v == 0, Share: s, ShareN: int(v), SharedBody: s, BodyOf: s}
			r := Result{MsgID: s, Engine: int(v), Status: Status(s), Submitted: v, Started: -v, Completed: v, Stdout: s, Stderr: s, ExecCount: int(v), Kind: Kind(s), HasValue: v != 0, Client: s, Label: s, Received: v}
			for _, h := range []any{q, &q, r, &r, Request{}, Result{}} {
				if sameEncoding(t, h) {
					hits++
				}
			}
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Copysign(0, -1), 1e-310, 0.5} {
		sameEncoding(t, Request{Timeout: f})
	}
	sameEncoding(t, Request{Targets: []int{}})
	sameEncoding(t, Result{Error: &RemoteError{Name: "x"}})
	if hits < 100 {
		t.Fatalf("fast encoder took %d headers", hits)
	}
}

func BenchmarkHeaderEncode(b *testing.B) {
	r := Result{MsgID: "0123456789abcdef0123456789abcdef", Engine: 2, Status: StatusOK, Submitted: 1 << 60, Started: 1 << 60, Completed: 1 << 60, Received: 1 << 60, Kind: "apply", HasValue: true, Client: "0123456789abcdef"}
	b.Run("generic", func(b *testing.B) {
		for range b.N {
			hb, _ := headerEnc.Marshal(&r)
			_ = append(make([]byte, 0, 64), hb...)
		}
	})
	b.Run("fast", func(b *testing.B) {
		for range b.N {
			_, _ = Marshal(TResult, &r, nil)
		}
	})
}

// FuzzHeaderEncode checks that the fast encoder writes what the generic
// encoder writes for any flat Request and Result.
func FuzzHeaderEncode(f *testing.F) {
	f.Add("m", "c", int64(-1), int64(1<<40), 1.5, true)
	f.Fuzz(func(t *testing.T, s1, s2 string, i1, i2 int64, fl float64, b bool) {
		q := Request{MsgID: s1, Client: s2, Kind: Kind(s2), Engine: int(i1), Silent: b, Timeout: fl, Submitted: i2, Label: s1, Retries: int(i2), Priority: int(i1), DepAny: !b, DepFailure: b, Name: s2, Share: s1, ShareN: int(i1), SharedBody: s2, BodyOf: s1}
		r := Result{MsgID: s1, Engine: int(i1), Status: Status(s2), Submitted: i2, Started: i1, Completed: i2, Stdout: s2, Stderr: s1, ExecCount: int(i2), Kind: Kind(s1), HasValue: b, Client: s2, Label: s1, Received: i1}
		sameEncoding(t, &q)
		sameEncoding(t, &r)
		sameEncoding(t, Request{MsgID: s1, Engine: int(i1)})
		sameEncoding(t, Result{MsgID: s1, Engine: int(i1), Status: Status(s2), Started: i2})
	})
}

// Each field of Request and Result set alone is encoded as the generic
// encoder does: a field added to the types but not to the fast encoder
// fails here.
func TestFastEncodeEveryField(t *testing.T) {
	for _, h := range []any{Request{}, Result{}} {
		typ := reflect.TypeOf(h)
		for i := range typ.NumField() {
			v := reflect.New(typ).Elem()
			f := v.Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString("x")
			case reflect.Int, reflect.Int64:
				f.SetInt(-300)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Float64:
				f.SetFloat(2.5)
			case reflect.Slice:
				f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			case reflect.Pointer:
				f.Set(reflect.New(f.Type().Elem()))
			default:
				t.Fatalf("%s.%s: kind %s not covered", typ.Name(), typ.Field(i).Name, f.Kind())
			}
			sameEncoding(t, v.Interface())
			b, err := headerEnc.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			decodeBoth(t, b)
		}
	}
}
