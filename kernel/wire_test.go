package kernel

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestSignAndDecode(t *testing.T) {
	s := signer{key: []byte("secret")}
	ids := [][]byte{[]byte("client-identity")}
	frames, err := s.encode(ids, newHeader("execute_request", "sess"), json.RawMessage(`{"msg_id":"p"}`), map[string]any{"code": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if string(frames[0]) != "client-identity" || string(frames[1]) != "<IDS|MSG>" || len(frames[2]) != 64 {
		t.Fatalf("frame layout: %q", frames[:3])
	}
	m, err := s.decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.MsgType != "execute_request" || len(m.Identities) != 1 || string(m.Content) != `{"code":"1"}` || string(m.Parent) != `{"msg_id":"p"}` {
		t.Fatalf("decoded %+v", m)
	}
	// Any changed part, or another key, fails verification.
	for i := 2; i < len(frames); i++ {
		bad := append([][]byte(nil), frames...)
		bad[i] = append([]byte(nil), frames[i]...)
		bad[i][len(bad[i])-1] ^= 1
		if _, err := s.decode(bad); !errors.Is(err, errBadSignature) {
			t.Errorf("frame %d changed: err %v, want a bad signature", i, err)
		}
	}
	if _, err := (signer{key: []byte("other")}).decode(frames); !errors.Is(err, errBadSignature) {
		t.Errorf("other key: %v", err)
	}
	if _, err := s.decode(frames[:4]); err == nil || !strings.Contains(err.Error(), "frames") {
		t.Errorf("short message: %v", err)
	}
}

func TestConnectionCheck(t *testing.T) {
	good := ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", ShellPort: 1, ControlPort: 2, StdinPort: 3, IOPubPort: 4, HBPort: 5, Key: "k", SignatureScheme: "hmac-sha256"}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	if got := good.endpoint(4); got != "tcp://127.0.0.1:4" {
		t.Errorf("endpoint %s", got)
	}
	bad := good
	bad.SignatureScheme = "hmac-md5"
	if err := bad.check(); err == nil {
		t.Error("hmac-md5 accepted")
	}
	bad = good
	bad.HBPort = 0
	if err := bad.check(); err == nil {
		t.Error("port 0 accepted")
	}
}
