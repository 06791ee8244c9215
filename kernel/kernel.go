package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/pxsh/pxsh/shell"
	"go.starlark.net/starlark"
)

// Config configures a Kernel.
type Config struct {
	// Connection is the connection file Jupyter wrote for this kernel.
	Connection ConnectionInfo
	// Shell configures the pxsh session that runs the cells (cluster,
	// profile, engines, private-cluster starter). The kernel sets its
	// streams, builtins and terminal behaviour.
	Shell shell.Config
	// Log receives the kernel's own diagnostics; nil means os.Stderr.
	Log io.Writer
	// Version is shown in kernel_info; "" means "0.1.0".
	Version string
}

// Kernel is a running Jupyter kernel.
type Kernel struct {
	cfg     Config
	sig     signer
	session string
	log     io.Writer

	shellSock, control, stdin, iopub, hb zmq4.Socket
	shellMu, controlMu, iopubMu          sync.Mutex

	sh      *shell.Shell
	streams *streams
	started bool
	count   int
	queue   chan *Message

	mu      sync.Mutex
	cancel  context.CancelFunc // of the running cell
	quit    chan struct{}
	restart bool
}

// ReadConnectionFile reads a Jupyter connection file.
func ReadConnectionFile(path string) (ConnectionInfo, error) {
	var c ConnectionInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read connection file: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read connection file %s: %w", path, err)
	}
	return c, c.check()
}

// New makes a kernel; Serve runs it.
func New(cfg Config) (*Kernel, error) {
	if err := cfg.Connection.check(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	k := &Kernel{cfg: cfg, sig: signer{key: []byte(cfg.Connection.Key)}, session: newID(), log: cfg.Log,
		queue: make(chan *Message, 1024), quit: make(chan struct{})}
	k.streams = &streams{k: k}
	sc := cfg.Shell
	sc.Stdin = strings.NewReader("")
	sc.Stdout = k.streams.writer("stdout")
	sc.Stderr = k.streams.writer("stderr")
	sc.Interactive, sc.Quiet, sc.HistoryFile = true, true, "-"
	builtins := starlark.StringDict{}
	for name, v := range cfg.Shell.Builtins {
		builtins[name] = v
	}
	for name, v := range k.displayBuiltins() {
		builtins[name] = v
	}
	sc.Builtins = builtins
	k.sh = shell.New(sc)
	return k, nil
}

// Interrupt interrupts the running cell (as interrupt_request does): its
// Starlark stops and its engine tasks are cancelled.
func (k *Kernel) Interrupt() {
	k.mu.Lock()
	cancel := k.cancel
	k.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Restart reports whether the kernel stopped for a shutdown_request
// that asked for a restart.
func (k *Kernel) Restart() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.restart
}

// Serve binds the kernel's sockets and serves until a shutdown_request
// or until ctx ends. It stops the session's private cluster on return.
func (k *Kernel) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer k.sh.Close()
	if err := k.listen(ctx); err != nil {
		k.closeSockets()
		return err
	}
	defer k.closeSockets()
	go k.heartbeat()
	go k.serveControl()
	go k.readShell()
	go k.drain(k.stdin)
	k.publish(nil, "status", map[string]any{"execution_state": "starting"})
	execDone := make(chan struct{})
	go func() {
		defer close(execDone)
		k.execute(ctx)
	}()
	select {
	case <-ctx.Done():
	case <-k.quit:
	}
	k.Interrupt()
	cancel()
	select {
	case <-execDone:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(k.log, "pxsh kernel: the running cell did not stop within 5 s")
	}
	k.streams.flush()
	return nil
}

// listen binds the five sockets of the connection file.
func (k *Kernel) listen(ctx context.Context) error {
	c := &k.cfg.Connection
	k.shellSock, k.control, k.stdin = zmq4.NewRouter(ctx), zmq4.NewRouter(ctx), zmq4.NewRouter(ctx)
	k.iopub, k.hb = zmq4.NewPub(ctx), zmq4.NewRep(ctx)
	for _, s := range []struct {
		sock zmq4.Socket
		port int
		name string
	}{{k.shellSock, c.ShellPort, "shell"}, {k.control, c.ControlPort, "control"}, {k.stdin, c.StdinPort, "stdin"},
		{k.iopub, c.IOPubPort, "iopub"}, {k.hb, c.HBPort, "heartbeat"}} {
		if err := s.sock.Listen(c.endpoint(s.port)); err != nil {
			return fmt.Errorf("kernel: listen %s on %s: %w", s.name, c.endpoint(s.port), err)
		}
	}
	return nil
}

func (k *Kernel) closeSockets() {
	for _, s := range []zmq4.Socket{k.shellSock, k.control, k.stdin, k.iopub, k.hb} {
		if s != nil {
			s.Close()
		}
	}
}

// heartbeat echoes every ping.
func (k *Kernel) heartbeat() {
	for {
		m, err := k.hb.Recv()
		if err != nil {
			return
		}
		if err := k.hb.Send(m); err != nil {
			return
		}
	}
}

// drain reads and drops what arrives on a socket the kernel does not use
// (stdin: the kernel never asks for input).
func (k *Kernel) drain(s zmq4.Socket) {
	for {
		if _, err := s.Recv(); err != nil {
			return
		}
	}
}

// recv reads the next well-signed message of a socket; messages with a
// bad signature or layout are logged and dropped.
func (k *Kernel) recv(s zmq4.Socket, name string) (*Message, error) {
	for {
		raw, err := s.Recv()
		if err != nil {
			return nil, err
		}
		m, err := k.sig.decode(raw.Frames)
		if err != nil {
			fmt.Fprintf(k.log, "pxsh kernel: %s: dropped a message: %v\n", name, err)
			continue
		}
		return m, nil
	}
}

// readShell reads shell requests: kernel_info is answered at once (it
// needs no session, and clients wait for it at start-up); the rest is
// queued for the executor.
func (k *Kernel) readShell() {
	for {
		m, err := k.recv(k.shellSock, "shell")
		if err != nil {
			close(k.queue)
			return
		}
		if m.Header.MsgType == "kernel_info_request" {
			k.busy(m, func() { k.reply(k.shellSock, &k.shellMu, m, "kernel_info_reply", k.kernelInfo()) })
			continue
		}
		k.queue <- m
	}
}

// serveControl answers control requests: interrupt, shutdown,
// kernel_info.
func (k *Kernel) serveControl() {
	for {
		m, err := k.recv(k.control, "control")
		if err != nil {
			return
		}
		k.busy(m, func() { k.handleControl(m) })
	}
}

func (k *Kernel) handleControl(m *Message) {
	switch m.Header.MsgType {
	case "interrupt_request":
		k.Interrupt()
		k.reply(k.control, &k.controlMu, m, "interrupt_reply", map[string]any{"status": "ok"})
	case "shutdown_request":
		k.shutdown(k.control, &k.controlMu, m)
	case "kernel_info_request":
		k.reply(k.control, &k.controlMu, m, "kernel_info_reply", k.kernelInfo())
	default:
		fmt.Fprintf(k.log, "pxsh kernel: control: ignored %s\n", m.Header.MsgType)
	}
}

// shutdown answers a shutdown_request and stops the kernel.
func (k *Kernel) shutdown(s zmq4.Socket, mu *sync.Mutex, m *Message) {
	var req struct {
		Restart bool `json:"restart"`
	}
	json.Unmarshal(m.Content, &req)
	k.reply(s, mu, m, "shutdown_reply", map[string]any{"status": "ok", "restart": req.Restart})
	k.mu.Lock()
	defer k.mu.Unlock()
	select {
	case <-k.quit:
	default:
		k.restart = req.Restart
		close(k.quit)
	}
}

// busy publishes status busy, runs f, and publishes status idle, all
// with m as the parent (clients wait for the idle status).
func (k *Kernel) busy(m *Message, f func()) {
	k.publish(m, "status", map[string]any{"execution_state": "busy"})
	defer k.publish(m, "status", map[string]any{"execution_state": "idle"})
	f()
}

// reply sends a reply to m on socket s.
func (k *Kernel) reply(s zmq4.Socket, mu *sync.Mutex, m *Message, typ string, content any) {
	frames, err := k.sig.encode(m.Identities, newHeader(typ, k.session), m.RawHeader, content)
	if err != nil {
		fmt.Fprintf(k.log, "pxsh kernel: %v\n", err)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if err := s.Send(zmq4.NewMsgFrom(frames...)); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(k.log, "pxsh kernel: send %s: %v\n", typ, err)
	}
}

// publish sends a message on IOPub with parent m (nil: none).
func (k *Kernel) publish(m *Message, typ string, content any) {
	var parent json.RawMessage
	if m != nil {
		parent = m.RawHeader
	}
	k.publishRaw(parent, typ, content)
}

func (k *Kernel) publishRaw(parent json.RawMessage, typ string, content any) {
	topic := []byte("kernel." + k.session + "." + typ)
	frames, err := k.sig.encode([][]byte{topic}, newHeader(typ, k.session), parent, content)
	if err != nil {
		fmt.Fprintf(k.log, "pxsh kernel: %v\n", err)
		return
	}
	k.iopubMu.Lock()
	defer k.iopubMu.Unlock()
	if err := k.iopub.Send(zmq4.NewMsgFrom(frames...)); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(k.log, "pxsh kernel: publish %s: %v\n", typ, err)
	}
}

// kernelInfo is the content of kernel_info_reply.
func (k *Kernel) kernelInfo() map[string]any {
	return map[string]any{
		"status":                 "ok",
		"protocol_version":       ProtocolVersion,
		"implementation":         "pxsh",
		"implementation_version": k.cfg.Version,
		"language_info": map[string]any{
			"name":            "starlark",
			"version":         "pxsh " + k.cfg.Version,
			"mimetype":        "text/x-starlark",
			"file_extension":  ".star",
			"pygments_lexer":  "python",
			"codemirror_mode": "python",
		},
		"banner":     "pxsh " + k.cfg.Version + ": Starlark on a parallel cluster; rc = Client(), %px on rc[:]",
		"help_links": []any{},
	}
}
