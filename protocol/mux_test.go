package protocol

import (
	"bytes"
	"testing"
)

func TestMuxHeaderRoundTrip(t *testing.T) {
	inner, err := Marshal(TPing, &Ping{Seq: 7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range []int{0, 1, 127, 128, 40000, MaxSlot - 1} {
		p := append(MuxHeader(slot), inner...)
		got, payload, err := SplitMux(p)
		if err != nil || got != slot || !bytes.Equal(payload, inner) {
			t.Errorf("slot %d: got %d, %x, %v", slot, got, payload, err)
		}
	}
	for _, bad := range [][]byte{nil, {byte(TMux)}, {byte(TPing), 0}, {byte(TMux), 0x80}, MuxHeader(MaxSlot)} {
		if _, _, err := SplitMux(bad); err == nil {
			t.Errorf("SplitMux(%x): no error", bad)
		}
	}
}
