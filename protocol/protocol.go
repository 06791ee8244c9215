// Package protocol defines the messages that pxsh's roles exchange: message
// types, headers, value tags, codec options and wire error codes.
//
// It is the leaf of the project's import graph: it does no I/O and imports no
// other pxsh package. A frame's payload is
//
//	[1 byte Type][uvarint header length][CBOR header][body]
//
// The header is small and decoded by every hop; the body is the encoded
// payload (code, function and arguments, values) that the hub forwards
// without decoding it.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the protocol version written in connection files and checked at
// registration (engines) and hello (clients); peers of another version are
// refused with CodeVersion. 2: streamed bodies may come as memfds on the
// local bulk channel, which a version-1 peer cannot read. 3: such a
// memfd may come not sealed, to be read and acknowledged as released
// (quic, fdpool.go), which a version-2 peer refuses.
const Version = 3

// Type is the kind of a message.
type Type uint8

// Message types. Arrows give the direction; the hub relays Request, Result
// and Cancel between clients and engines.
const (
	TRegister     Type = iota + 1 // engine → hub: Register
	TRegistered                   // hub → engine: Registered
	THello                        // client → hub: Hello
	TWelcome                      // hub → client: Welcome
	TEngineEvent                  // hub → client: EngineEvent
	TRequest                      // client → hub → engine: Request + body
	TResult                       // engine → hub → client: Result + body
	TCancel                       // client → hub → engine: Cancel
	TPing                         // hub → engine: Ping
	TPong                         // engine → hub: Ping (echoed)
	TControl                      // client → hub: Control + body
	TControlReply                 // hub → client: ControlReply + body
	TShutdown                     // hub → engine: Shutdown; engine → hub on a shared connection: the engine leaves
	TStarted                      // engine → hub → client: Started
	TProbe                        // engine → hub: Ping (am I still registered?)
	TProbeAck                     // hub → engine: Ping (echoed: yes)
	TOutput                       // engine → hub → client: Output (+ body)
	TReturn                       // engine → hub: Return (prefetched tasks handed back)
	TMux                          // engine process ⇄ hub: [TMux][uvarint slot][payload] (SplitMux)
	maxType
)

var typeNames = [...]string{"", "register", "registered", "hello", "welcome", "engine-event",
	"request", "result", "cancel", "ping", "pong", "control", "control-reply", "shutdown", "started", "probe", "probe-ack", "output", "return", "mux"}

func (t Type) String() string {
	if t > 0 && t < maxType {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Valid reports whether t is a known message type.
func (t Type) Valid() bool { return t > 0 && t < maxType }

// Kind is what a Request asks an engine to do.
type Kind string

// Request kinds. Bodies: execute: CBOR text (code); apply: CBOR array
// [function, args array, kwargs map]; push: CBOR map name → value; pull:
// CBOR array of expressions (text); clear: empty; modules: CBOR map
// filename → source text; abort_running (internal).
const (
	KindExecute Kind = "execute"
	KindApply   Kind = "apply"
	KindPush    Kind = "push"
	KindPull    Kind = "pull"
	KindClear   Kind = "clear"
	KindModules Kind = "modules"
)

// Register is an engine's first message.
type Register struct {
	// ID is the id the engine asks for (its MPI rank, or its old id when
	// it reconnects); -1 asks for the next free id.
	ID      int    `cbor:"1,keyasint"`
	Host    string `cbor:"2,keyasint"`
	PID     int    `cbor:"3,keyasint"`
	Version int    `cbor:"4,keyasint"`
	// Resume says the engine was registered before and reconnects after
	// losing its connection; it keeps its id and namespace.
	Resume bool `cbor:"5,keyasint,omitempty"`
	// Tasks, when resuming, lists the msg ids the engine still holds
	// (running first, then queued), so a restarted hub can reclaim them.
	Tasks []string `cbor:"6,keyasint,omitempty"`
	// Recent, when resuming, lists the msg ids of the results the engine
	// sends again after registering.
	Recent []string `cbor:"7,keyasint,omitempty"`
	// Caps lists the host capabilities the engine was granted, in
	// --allow syntax ("sh", "env", "fs=/a:/b").
	Caps []string `cbor:"8,keyasint,omitempty"`
	// MaxFrame is the engine's frame limit in bytes (0: unknown): the hub
	// fails a request larger than it instead of sending it.
	MaxFrame int `cbor:"9,keyasint,omitempty"`
	// Process is a random token of the engine's process, shared by the
	// engines it runs (pxsh engine --count): the hub sends a fanned-out
	// body once per process (Request.Share).
	Process string `cbor:"10,keyasint,omitempty"`
	// MaxValue is the engine's bound on a streamed value in bytes (0:
	// unknown): the hub fails a request whose streamed body is larger.
	MaxValue int64 `cbor:"11,keyasint,omitempty"`
}

// Registered answers Register.
type Registered struct {
	ID        int    `cbor:"1,keyasint"`
	ClusterID string `cbor:"2,keyasint"`
	// HeartbeatMS is how often the hub pings.
	HeartbeatMS int `cbor:"3,keyasint"`
	// Error, when set, refuses the registration (id taken, version).
	Error string `cbor:"4,keyasint,omitempty"`
	// Busy says the id asked for still belongs to a live engine: the
	// engine may try again once the hub declares the old one dead.
	Busy bool `cbor:"5,keyasint,omitempty"`
	// Drop lists tasks the resuming engine holds that it must not run
	// (nor report): the hub declared the engine dead meanwhile and told
	// their clients they failed.
	Drop []string `cbor:"6,keyasint,omitempty"`
	// DeadAfterMS is how long the hub waits without hearing from an
	// engine before declaring it dead. An engine whose process was
	// stopped for a good part of it probes (TProbe) before it starts
	// another task, so that it never runs one whose client was told it
	// failed.
	DeadAfterMS int `cbor:"7,keyasint,omitempty"`
	// MaxFrame is the hub's frame limit in bytes (0: unknown): an engine
	// sends no larger frame, so a result over it fails as a ValueError.
	MaxFrame int `cbor:"8,keyasint,omitempty"`
	// MaxValue is the hub's bound on a streamed value (a push, a result;
	// 0: unknown): an engine sends no larger result.
	MaxValue int64 `cbor:"9,keyasint,omitempty"`
}

// EngineInfo describes a registered engine.
type EngineInfo struct {
	ID   int    `cbor:"1,keyasint"`
	Host string `cbor:"2,keyasint"`
	PID  int    `cbor:"3,keyasint"`
	// Caps are the engine's host capabilities (Register.Caps).
	Caps []string `cbor:"4,keyasint,omitempty"`
}

// Hello is a client's first message.
type Hello struct {
	Version int `cbor:"1,keyasint"`
	// ClientID, when set, resumes an earlier session of this client.
	ClientID string `cbor:"2,keyasint,omitempty"`
	// Pending lists, when resuming, the msg ids the client still waits
	// for. A restored controller does not run again the tasks of this
	// client that it does not list: their results were delivered.
	Pending []string `cbor:"3,keyasint,omitempty"`
}

// Welcome answers Hello.
type Welcome struct {
	ClientID  string       `cbor:"1,keyasint"`
	ClusterID string       `cbor:"2,keyasint"`
	Engines   []EngineInfo `cbor:"3,keyasint"`
	Error     string       `cbor:"4,keyasint,omitempty"`
	// MaxFrame is the hub's frame limit in bytes (0: unknown): a client
	// sends no larger frame.
	MaxFrame int `cbor:"5,keyasint,omitempty"`
	// MaxValue is the hub's bound on a streamed value (0: unknown): a
	// client sends no larger one.
	MaxValue int64 `cbor:"6,keyasint,omitempty"`
}

// EngineEvent tells clients that an engine joined or left.
type EngineEvent struct {
	Joined bool       `cbor:"1,keyasint"`
	Engine EngineInfo `cbor:"2,keyasint"`
}

// Request asks for one task on one engine. The hub fills Client.
type Request struct {
	MsgID  string `cbor:"1,keyasint"`
	Client string `cbor:"2,keyasint,omitempty"`
	Kind   Kind   `cbor:"3,keyasint"`
	// Engine is the target engine; -1 lets the load-balancing scheduler
	// choose among Targets (all engines when empty).
	Engine int `cbor:"4,keyasint"`
	// Silent, for execute, discards the value of the last expression.
	Silent bool `cbor:"5,keyasint,omitempty"`
	// Timeout bounds the task end to end, in seconds; 0 means none.
	Timeout   float64 `cbor:"6,keyasint,omitempty"`
	Submitted int64   `cbor:"7,keyasint,omitempty"` // unix nanoseconds
	Label     string  `cbor:"8,keyasint,omitempty"`
	// Load-balancing fields.
	Targets  []int    `cbor:"9,keyasint,omitempty"`
	Retries  int      `cbor:"10,keyasint,omitempty"`
	Priority int      `cbor:"11,keyasint,omitempty"`
	After    []string `cbor:"12,keyasint,omitempty"`
	Follow   []string `cbor:"13,keyasint,omitempty"`
	// DepAny makes After and Follow satisfied by any one task instead of all.
	DepAny bool `cbor:"14,keyasint,omitempty"`
	// DepSuccess and DepFailure say which outcomes satisfy a dependency;
	// both false means success only.
	DepSuccess bool `cbor:"15,keyasint,omitempty"`
	DepFailure bool `cbor:"16,keyasint,omitempty"`
	// Name is a display name for the task (the function's name).
	Name string `cbor:"17,keyasint,omitempty"`
	// Fan, when set, sends the request to several engines with one body:
	// the hub makes one direct task per entry (its msg id and engine, the
	// other fields shared) and forwards the same body bytes to each
	// engine. MsgID and Engine are then ignored. Clients send it for a
	// DirectView over several engines, so a pushed value crosses the
	// client's link once.
	Fan []FanTarget `cbor:"18,keyasint,omitempty"`
	// Prefetched, set by the hub, marks a load-balanced task sent beyond
	// the high-water mark: the engine hands it back (TReturn) unstarted
	// if the task it runs turns out long.
	Prefetched bool `cbor:"19,keyasint,omitempty"`
	// Share, set by the hub on a fanned-out request, names its body for
	// the other engines of the same process, ShareN of them, which get
	// the request with SharedBody set to the name and no body: the body
	// crosses to each engine process once.
	Share      string `cbor:"20,keyasint,omitempty"`
	ShareN     int    `cbor:"21,keyasint,omitempty"`
	SharedBody string `cbor:"22,keyasint,omitempty"`
	// BodyOf, in the task database's copy of a request, says its body is
	// the one recorded with task BodyOf (a large fan-out records its body
	// once per engine process, not once per engine).
	BodyOf string `cbor:"23,keyasint,omitempty"`
}

// FanTarget is one task of a fanned-out Request.
type FanTarget struct {
	MsgID  string `cbor:"1,keyasint"`
	Engine int    `cbor:"2,keyasint"`
}

// Status is a task's outcome.
type Status string

// Task outcomes.
const (
	StatusOK      Status = "ok"
	StatusError   Status = "error"
	StatusAborted Status = "aborted"
)

// Result is the outcome of one task; the body holds the encoded value.
type Result struct {
	MsgID     string       `cbor:"1,keyasint"`
	Engine    int          `cbor:"2,keyasint"`
	Status    Status       `cbor:"3,keyasint"`
	Submitted int64        `cbor:"4,keyasint,omitempty"`
	Started   int64        `cbor:"5,keyasint,omitempty"`
	Completed int64        `cbor:"6,keyasint,omitempty"`
	Stdout    string       `cbor:"7,keyasint,omitempty"`
	Stderr    string       `cbor:"8,keyasint,omitempty"`
	Error     *RemoteError `cbor:"9,keyasint,omitempty"`
	// ExecCount is the engine's execution count after the task.
	ExecCount int  `cbor:"10,keyasint,omitempty"`
	Kind      Kind `cbor:"11,keyasint,omitempty"`
	// HasValue says the body holds a value (execute with silent=False
	// whose last statement was an expression, apply, pull).
	HasValue bool   `cbor:"12,keyasint,omitempty"`
	Client   string `cbor:"13,keyasint,omitempty"`
	Label    string `cbor:"14,keyasint,omitempty"`
	// Received is when the engine received the request (unix
	// nanoseconds): Started - Received is the wait in its queue.
	Received int64 `cbor:"15,keyasint,omitempty"`
}

// RemoteError describes a failed task in ipyparallel's terms.
type RemoteError struct {
	// Name is the error class: a Starlark error classified as
	// ZeroDivisionError, NameError, KeyError, IndexError, TypeError,
	// ValueError or Error, or one of EngineError, EngineBusy (the hub refused
	// a request: the engine had not read EngineQueue bytes), TaskAborted,
	// TaskTimeout, TaskCancelled, ImpossibleDependency, UnmetDependency,
	// InvalidDependency.
	Name      string `cbor:"1,keyasint"`
	Message   string `cbor:"2,keyasint"`
	Traceback string `cbor:"3,keyasint,omitempty"`
	Engine    int    `cbor:"4,keyasint"`
	Method    string `cbor:"5,keyasint,omitempty"`
}

// Cancel aborts queued tasks and cancels running ones.
type Cancel struct {
	MsgIDs []string `cbor:"1,keyasint"`
	Reason string   `cbor:"2,keyasint,omitempty"`
}

// Ping is a heartbeat; the engine echoes it as TPong.
type Ping struct {
	Seq uint64 `cbor:"1,keyasint"`
}

// Pong answers Ping. Memory is the engine process's memory in bytes (the
// Go runtime's, shared by the engines of one process; 0: not reported).
type Pong struct {
	Seq    uint64 `cbor:"1,keyasint"`
	Memory int64  `cbor:"2,keyasint,omitempty"`
}

// Control is a client's query or command to the hub (queue_status,
// shutdown, database queries). The body holds the op's CBOR arguments.
type Control struct {
	ID uint64 `cbor:"1,keyasint"`
	Op string `cbor:"2,keyasint"`
}

// ControlReply answers Control; the body holds the op's CBOR answer.
type ControlReply struct {
	ID    uint64 `cbor:"1,keyasint"`
	Error string `cbor:"2,keyasint,omitempty"`
}

// Started tells that an engine began running a task.
type Started struct {
	MsgID  string `cbor:"1,keyasint"`
	Engine int    `cbor:"2,keyasint"`
	At     int64  `cbor:"3,keyasint"` // unix nanoseconds
}

// Output is what a running task produced so far: the printed text added
// since its previous Output (engines send them every OutputInterval while
// a task prints), or, with Data, data it published (publish_data; the body
// is the encoded dict). The Result still carries the whole output.
type Output struct {
	MsgID  string `cbor:"1,keyasint"`
	Engine int    `cbor:"2,keyasint"`
	Stdout string `cbor:"3,keyasint,omitempty"`
	Data   bool   `cbor:"4,keyasint,omitempty"`
}

// Return hands load-balanced tasks back to the hub unstarted: they were
// prefetched behind a task that turned out long.
type Return struct {
	MsgIDs []string `cbor:"1,keyasint"`
}

// Shutdown asks an engine to exit.
type Shutdown struct {
	Reason string `cbor:"1,keyasint,omitempty"`
}

// MaxSlot bounds the slots of one shared connection (engines per
// process).
const MaxSlot = 1 << 20

// MuxHeader returns the prefix of a frame sent for the engine in slot on
// its process's shared connection: an engine process (pxsh engine
// --count N) carries its N engines on one connection, and every frame
// on it names the engine's slot (0..N-1, fixed for the process's life)
// before the engine's own payload, so the peer routes it without
// decoding the payload's header.
func MuxHeader(slot int) []byte {
	return binary.AppendUvarint([]byte{byte(TMux)}, uint64(slot))
}

// SplitMux splits a TMux frame payload into its slot and the engine's
// payload, which aliases p.
func SplitMux(p []byte) (slot int, payload []byte, err error) {
	if len(p) < 2 || Type(p[0]) != TMux {
		return 0, nil, fmt.Errorf("mux frame: %w", ErrShortFrame)
	}
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || n >= MaxSlot {
		return 0, nil, errors.New("mux frame: bad slot")
	}
	return int(n), p[1+k:], nil
}

// Errors of the frame layout.
var (
	ErrShortFrame  = errors.New("short frame")
	ErrUnknownType = errors.New("unknown message type")
)

// Append appends a frame payload of type t with header h (CBOR-encoded) and
// body to dst and returns it.
func Append(dst []byte, t Type, h any, body []byte) ([]byte, error) {
	if out, ok := appendFlat(dst, t, h); ok {
		return append(out, body...), nil
	}
	hb, err := headerEnc.Marshal(h)
	if err != nil {
		return dst, fmt.Errorf("encode %s header: %w", t, err)
	}
	dst = append(dst, byte(t))
	dst = binary.AppendUvarint(dst, uint64(len(hb)))
	dst = append(dst, hb...)
	return append(dst, body...), nil
}

// Marshal returns a frame payload; see Append.
func Marshal(t Type, h any, body []byte) ([]byte, error) {
	return Append(make([]byte, 0, 160+len(body)), t, h, body)
}

// Split splits a frame payload into its type, header bytes and body. The
// returned slices alias p.
func Split(p []byte) (t Type, header, body []byte, err error) {
	if len(p) < 2 {
		return 0, nil, nil, ErrShortFrame
	}
	t = Type(p[0])
	if !t.Valid() {
		return t, nil, nil, fmt.Errorf("%w %d", ErrUnknownType, p[0])
	}
	n, k := binary.Uvarint(p[1:])
	if k <= 0 || n > uint64(len(p)-1-k) {
		return t, nil, nil, fmt.Errorf("%s frame: bad header length", t)
	}
	start := 1 + k
	return t, p[start : start+int(n)], p[start+int(n):], nil
}

// UnmarshalHeader decodes a header into h (a pointer to one of the header
// structs), with the strict header limits.
func UnmarshalHeader(b []byte, h any) error {
	switch h := h.(type) {
	case *Request:
		if fastRequest(b, h) {
			return nil
		}
	case *Result:
		if fastResult(b, h) {
			return nil
		}
	}
	if err := headerDec.Unmarshal(b, h); err != nil {
		return fmt.Errorf("decode header: %w", err)
	}
	return nil
}
