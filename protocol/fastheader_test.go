package protocol

import (
	"bytes"
	"testing"
)

// sampleHeaders are encoded headers the fast path takes or declines.
func sampleHeaders(t testing.TB) [][]byte {
	var out [][]byte
	for _, h := range []any{
		Request{MsgID: "m1", Client: "c", Kind: "apply", Engine: 3, Timeout: 1.5, Submitted: 1 << 60, Label: "x", Retries: 2, Priority: -7, DepAny: true, Name: "f", Share: "s", ShareN: 4, SharedBody: "b", BodyOf: "o"},
		Request{MsgID: "m2", Engine: -1, Targets: []int{1, 2}, After: []string{"a"}},
		Request{Fan: []FanTarget{{MsgID: "a", Engine: 1}}},
		Result{MsgID: "m1", Engine: 2, Status: StatusOK, Submitted: 1, Started: 2, Completed: 3, Stdout: "out\n", Stderr: "é", ExecCount: 9, Kind: "apply", HasValue: true, Client: "c", Label: "l", Received: -5},
		Result{MsgID: "m3", Status: StatusError, Error: &RemoteError{Name: "ValueError"}},
	} {
		b, err := headerEnc.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// decodeBoth decodes b into a Request and a Result with the fast path and
// with the generic decoder alone; it fails when the fast path accepts
// input the generic decoder refuses or decodes it differently.
func decodeBoth(t testing.TB, b []byte) (fastHits int) {
	var fq, gq Request
	var fr, gr Result
	gqErr := headerDec.Unmarshal(b, &gq)
	grErr := headerDec.Unmarshal(b, &gr)
	if fastRequest(b, &fq) {
		fastHits++
		if gqErr != nil {
			t.Fatalf("fast path accepted a request the decoder refuses (%v): %x", gqErr, b)
		}
		same(t, fq, gq, b)
	}
	if fastResult(b, &fr) {
		fastHits++
		if grErr != nil {
			t.Fatalf("fast path accepted a result the decoder refuses (%v): %x", grErr, b)
		}
		same(t, fr, gr, b)
	}
	return fastHits
}

func same(t testing.TB, a, b any, in []byte) {
	t.Helper()
	ea, err1 := headerEnc.Marshal(a)
	eb, err2 := headerEnc.Marshal(b)
	if err1 != nil || err2 != nil || !bytes.Equal(ea, eb) {
		t.Fatalf("fast path and decoder differ on %x:\n%+v\n%+v", in, a, b)
	}
}

func TestFastHeaderAgrees(t *testing.T) {
	hits := 0
	for _, b := range sampleHeaders(t) {
		hits += decodeBoth(t, b)
		for i := range b { // every truncation is declined or agrees
			decodeBoth(t, b[:i])
		}
	}
	if hits < 2 {
		t.Fatalf("fast path took %d samples, want at least 2", hits)
	}
	var r Result
	if err := UnmarshalHeader([]byte{0xa1, 0x01, 0x61, 0xff}, &r); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
	if err := UnmarshalHeader([]byte{0xa2, 0x01, 0x61, 0x61, 0x01, 0x61, 0x62}, &r); err == nil {
		t.Fatal("duplicate key accepted")
	}
}

// FuzzHeaderFast checks that the fast header path never accepts what the
// generic decoder refuses and decodes what it accepts the same way.
func FuzzHeaderFast(f *testing.F) {
	for _, b := range sampleHeaders(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { decodeBoth(t, b) })
}

func BenchmarkHeaderDecode(b *testing.B) {
	hb, _ := headerEnc.Marshal(Result{MsgID: "0123456789abcdef0123456789abcdef", Engine: 2, Status: StatusOK, Submitted: 1 << 60, Started: 1 << 60, Completed: 1 << 60, Received: 1 << 60, Kind: "apply", HasValue: true, Client: "0123456789abcdef"})
	b.Run("generic", func(b *testing.B) {
		for range b.N {
			var r Result
			_ = headerDec.Unmarshal(hb, &r)
		}
	})
	b.Run("fast", func(b *testing.B) {
		for range b.N {
			var r Result
			_ = UnmarshalHeader(hb, &r)
		}
	})
}
