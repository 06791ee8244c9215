// Package kernel is pxsh's Jupyter kernel: the Jupyter messaging protocol
// (5.3) over ZeroMQ, with cells run by a pxsh shell session (Starlark, rc
// and the %px magics), and the kernelspec that tells Jupyter how to start
// it.
//
// It imports shell; only the program layer imports it.
package kernel

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ProtocolVersion is the Jupyter messaging protocol version spoken.
const ProtocolVersion = "5.3"

// delimiter separates the routing identities from the message.
var delimiter = []byte("<IDS|MSG>")

// Header is a Jupyter message header.
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// Message is one Jupyter message. Parent is the raw parent header (kept as
// received so that replies carry it unchanged).
type Message struct {
	Identities [][]byte
	Header     Header
	RawHeader  json.RawMessage
	Parent     json.RawMessage
	Metadata   json.RawMessage
	Content    json.RawMessage
	Buffers    [][]byte
}

// signer signs and verifies messages with HMAC-SHA256 (no key: no
// signatures).
type signer struct{ key []byte }

func (s signer) sign(parts ...[]byte) []byte {
	if len(s.key) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write(p)
	}
	sum := m.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// errBadSignature is the error of a message whose signature is wrong.
var errBadSignature = errors.New("invalid message signature")

// decode parses and verifies the frames of a received message.
func (s signer) decode(frames [][]byte) (*Message, error) {
	i := 0
	for i < len(frames) && !bytes.Equal(frames[i], delimiter) {
		i++
	}
	if len(frames) < i+6 {
		return nil, fmt.Errorf("decode message: %d frames, want the delimiter and 5 more", len(frames))
	}
	sig, hdr, parent, meta, content := frames[i+1], frames[i+2], frames[i+3], frames[i+4], frames[i+5]
	if len(s.key) > 0 && !hmac.Equal(sig, s.sign(hdr, parent, meta, content)) {
		return nil, fmt.Errorf("decode message: %w", errBadSignature)
	}
	m := &Message{Identities: frames[:i], RawHeader: hdr, Parent: parent, Metadata: meta, Content: content, Buffers: frames[i+6:]}
	if err := json.Unmarshal(hdr, &m.Header); err != nil {
		return nil, fmt.Errorf("decode message header: %w", err)
	}
	return m, nil
}

// encode returns the frames of a message to send.
func (s signer) encode(ids [][]byte, h Header, parent json.RawMessage, content any) ([][]byte, error) {
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	body, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", h.MsgType, err)
	}
	if len(parent) == 0 {
		parent = json.RawMessage("{}")
	}
	meta := []byte("{}")
	frames := append([][]byte(nil), ids...)
	return append(frames, delimiter, s.sign(hdr, parent, meta, body), hdr, parent, meta, body), nil
}

// newHeader makes a header for a message of type typ in session.
func newHeader(typ, session string) Header {
	return Header{MsgID: newID(), Session: session, Username: "pxsh", Date: time.Now().UTC().Format(time.RFC3339Nano),
		MsgType: typ, Version: ProtocolVersion}
}

// newID returns a random UUID-like id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ConnectionInfo is a Jupyter connection file.
type ConnectionInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
}

// endpoint returns the ZeroMQ endpoint of a port.
func (c *ConnectionInfo) endpoint(port int) string {
	if c.Transport == "ipc" {
		return fmt.Sprintf("ipc://%s-%d", c.IP, port)
	}
	return fmt.Sprintf("%s://%s:%d", c.Transport, c.IP, port)
}

// check validates the connection file's fields.
func (c *ConnectionInfo) check() error {
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Transport != "tcp" {
		return fmt.Errorf("connection file: transport %q is not supported (want tcp)", c.Transport)
	}
	if c.SignatureScheme != "" && c.SignatureScheme != "hmac-sha256" {
		return fmt.Errorf("connection file: signature scheme %q is not supported (want hmac-sha256)", c.SignatureScheme)
	}
	for _, p := range []int{c.ShellPort, c.ControlPort, c.StdinPort, c.IOPubPort, c.HBPort} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("connection file: port %d out of range", p)
		}
	}
	return nil
}
