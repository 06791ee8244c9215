// Package client is the Go client of a pxsh cluster: it dials a
// controller from a connection file, follows engines joining and leaving,
// submits tasks and collects their results.
//
// It imports quic, protocol and profile; it knows nothing of Starlark
// values beyond their CBOR form (see values.go).
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// Options configures a Client. The zero value is ready to use.
type Options struct {
	// Timeout bounds Dial; 0 means 10 s, a negative value no bound but
	// the transport's handshake timeout.
	Timeout time.Duration
	// Logger receives connection events; nil means silent.
	Logger *slog.Logger
	// Reconnect is how long the client keeps trying to reach a controller
	// it lost (one restarted with --restore); 0 means 30 s, a negative
	// value means it gives up at once.
	Reconnect time.Duration
	// MaxFrame bounds the frames the client reads and writes; 0 means
	// quic.DefaultMaxFrame. The controller's limit, when lower, applies
	// too: a request over it fails at once with a *protocol.TooLargeError.
	MaxFrame int
	// MaxValue bounds a pushed value, a function's arguments or a result
	// of quic.StreamMin bytes or more, which travel in chunks beside the
	// other messages; 0 means quic.DefaultMaxValue. The controller's
	// limit, when lower, applies too.
	MaxValue int64
}

// LostAfter is how long the client waits without hearing from the
// controller (the acknowledgements of its keep-alives included) before
// it counts it lost and reconnects (watch).
const LostAfter = 4 * time.Second

// StallTimeout is the QUIC idle timeout of a client's connection: how
// long the controller keeps a client that went quiet (a process stopped
// with Ctrl-Z or by a debugger, or starved) before it drops it and the
// requests the client writes as it wakes. The controller's own limit
// (hub.Config.IdleTimeout, 30 s by default) applies when it is lower.
const StallTimeout = 60 * time.Second

// lostTicks is how many ticks of LostAfter/lostTicks without a packet
// from the controller make it lost.
const lostTicks = 4

// ErrClosed is returned for calls on a closed client.
var ErrClosed = errors.New("client closed")

// Client is a connection to a controller. It is safe for concurrent use.
type Client struct {
	info      *profile.Connection
	key       []byte
	reconnect time.Duration
	id        string
	clusterID string
	log       *slog.Logger
	seq       atomic.Uint64
	strays    atomic.Int64
	mapBodies atomic.Bool // MapResults
	prefix    string
	qcfg      quic.Config

	mu       sync.Mutex
	maxFrame int   // the lower of our limit and the controller's
	maxValue int64 // likewise for streamed values
	conn     *quic.Conn
	engines  map[int]protocol.EngineInfo
	pending  map[string]*Task
	ctrl     map[uint64]chan ctrlReply
	changed  chan struct{} // closed and replaced when engines change
	closed   bool
	closing  bool
	closeErr error
	done     chan struct{}
	quit     chan struct{} // closed by Close: stops reconnecting
	swapped  chan struct{} // closed and replaced when conn is replaced
}

type ctrlReply struct {
	rep  protocol.ControlReply
	body []byte
}

// Dial connects to the controller named by a connection file.
func Dial(ctx context.Context, path string, o Options) (*Client, error) {
	conn, err := profile.Read(path)
	if err != nil {
		return nil, err
	}
	return DialConnection(ctx, conn, o)
}

// DialConnection connects to a controller.
func DialConnection(ctx context.Context, info *profile.Connection, o Options) (*Client, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Reconnect == 0 {
		o.Reconnect = 30 * time.Second
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = quic.DefaultMaxFrame
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	key, err := info.KeyBytes()
	if err != nil {
		return nil, err
	}
	if o.MaxValue <= 0 {
		o.MaxValue = quic.DefaultMaxValue
	}
	qcfg := quic.Config{Key: key, IdleTimeout: StallTimeout, KeepAlive: LostAfter / lostTicks,
		MaxFrame: o.MaxFrame, MaxValue: o.MaxValue}
	qc, _, err := dialAny(ctx, info.Addresses, info.Fingerprint, qcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to controller: %w", err)
	}
	c := &Client{
		conn: qc, log: o.Logger, engines: map[int]protocol.EngineInfo{}, qcfg: qcfg,
		pending: map[string]*Task{}, ctrl: map[uint64]chan ctrlReply{},
		done: make(chan struct{}), quit: make(chan struct{}), swapped: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := c.hello(qc); err != nil {
		qc.Close(uint64(protocol.CodeBadFrame), err.Error())
		return nil, fmt.Errorf("connect to controller: %w", err)
	}
	c.info, c.key, c.reconnect = info, key, o.Reconnect
	b := make([]byte, 4)
	rand.Read(b)
	c.prefix = hex.EncodeToString(b)
	go c.read()
	return c, nil
}

func (c *Client) hello(qc *quic.Conn) error {
	p, _ := protocol.Marshal(protocol.THello, &protocol.Hello{Version: protocol.Version, ClientID: c.ID(), Pending: c.pendingIDs()}, nil)
	if err := qc.WriteFrame(p); err != nil {
		return err
	}
	// Engine events the controller sends while it welcomes us (an engine
	// joining meanwhile) are applied after the welcome's engine list.
	var early []protocol.EngineEvent
	var hb []byte
	for {
		p, err := qc.ReadFrame()
		if err != nil {
			return err
		}
		var t protocol.Type
		if t, hb, _, err = protocol.Split(p); err != nil {
			return err
		}
		if t == protocol.TWelcome {
			break
		}
		if t != protocol.TEngineEvent || len(early) >= maxEarlyEvents {
			return fmt.Errorf("unexpected %s, want welcome", t)
		}
		var ev protocol.EngineEvent
		if err := protocol.UnmarshalHeader(hb, &ev); err != nil {
			return err
		}
		early = append(early, ev)
	}
	var w protocol.Welcome
	if err := protocol.UnmarshalHeader(hb, &w); err != nil {
		return err
	}
	if w.Error != "" {
		return errors.New(w.Error)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id, c.clusterID = w.ClientID, w.ClusterID
	c.maxFrame = c.qcfg.MaxFrame
	if w.MaxFrame > 0 && w.MaxFrame < c.maxFrame {
		c.maxFrame = w.MaxFrame
	}
	c.maxValue = c.qcfg.MaxValue
	if w.MaxValue > 0 && w.MaxValue < c.maxValue {
		c.maxValue = w.MaxValue
	}
	clear(c.engines)
	for _, e := range w.Engines {
		c.engines[e.ID] = e
	}
	for _, ev := range early {
		if ev.Joined {
			c.engines[ev.Engine.ID] = ev.Engine
		} else {
			delete(c.engines, ev.Engine.ID)
		}
	}
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
	return nil
}

// maxEarlyEvents bounds the engine events accepted before the welcome.
const maxEarlyEvents = 1 << 12

// pendingIDs returns the msg ids of the tasks the client waits for.
func (c *Client) pendingIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	return ids
}

// Strays returns how many results arrived for tasks the client was not
// waiting for (a result delivered twice counts here).
func (c *Client) Strays() int64 { return c.strays.Load() }

// ID returns the client's id, given by the controller.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// ClusterID returns the cluster's id.
func (c *Client) ClusterID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clusterID
}

// Ids returns the ids of the registered engines, in order.
func (c *Client) Ids() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]int, 0, len(c.engines))
	for id := range c.engines {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ErrNoSuchEngine is wrapped by EngineAt's errors.
var ErrNoSuchEngine = errors.New("No such engine")

// EngineAt resolves an engine index as ipyparallel's rc[i] does: i >= 0
// is the engine whose id is i, i < 0 counts from the end of Ids. An
// engine not registered fails with ErrNoSuchEngine.
func (c *Client) EngineAt(i int) (int, error) {
	ids := c.Ids()
	if i < 0 {
		if -i > len(ids) {
			return 0, fmt.Errorf("%w: %d", ErrNoSuchEngine, i)
		}
		return ids[len(ids)+i], nil
	}
	if !slices.Contains(ids, i) {
		return 0, fmt.Errorf("%w: %d", ErrNoSuchEngine, i)
	}
	return i, nil
}

// Engines returns the registered engines, by id.
func (c *Client) Engines() []protocol.EngineInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]protocol.EngineInfo, 0, len(c.engines))
	for _, e := range c.engines {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b protocol.EngineInfo) int { return a.ID - b.ID })
	return out
}

// Changed returns a channel closed at the next change of the engine set.
func (c *Client) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// WaitForEngines waits until at least n engines are registered.
func (c *Client) WaitForEngines(ctx context.Context, n int) error {
	for {
		ch := c.Changed()
		if len(c.Ids()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d engines (have %d): %w", n, len(c.Ids()), ctx.Err())
		case <-c.done:
			return c.err()
		case <-ch:
		}
	}
}

// NewMsgID returns a fresh message id.
func (c *Client) NewMsgID() string {
	return c.prefix + "-" + strconv.FormatUint(c.seq.Add(1), 10)
}

// Submit sends a request; req.MsgID is filled when empty. The returned
// Task completes when the result arrives.
func (c *Client) Submit(req protocol.Request, body []byte) (*Task, error) {
	return c.submitParts(req, [][]byte{body}, false)
}

// submitParts is Submit of a body given as parts (sendParts).
func (c *Client) submitParts(req protocol.Request, parts [][]byte, volatile bool) (*Task, error) {
	if req.MsgID == "" {
		req.MsgID = c.NewMsgID()
	}
	now := time.Now()
	req.Submitted = now.UnixNano()
	t := &Task{MsgID: req.MsgID, Engine: req.Engine, Kind: req.Kind, Label: req.Label, Name: req.Name,
		Submitted: now, done: make(chan struct{})}
	if err := c.sendParts(&req, parts, []*Task{t}, volatile); err != nil {
		return nil, err
	}
	return t, nil
}

// sendParts writes a request frame, its body given as parts (their
// concatenation; a streamed body is written from them without joining
// them), and makes its tasks pending: it fails at once, sending nothing,
// on a closed client or a frame over the limit, and forgets the tasks
// again if the write fails.
func (c *Client) sendParts(req *protocol.Request, parts [][]byte, tasks []*Task, volatile bool) error {
	p, err := protocol.Marshal(protocol.TRequest, req, nil)
	if err != nil {
		return err
	}
	size := 0
	for _, b := range parts {
		size += len(b)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	stream := streams(req, size)
	if n := len(p) + size; stream && int64(size) > c.maxValue {
		limit := c.maxValue
		c.mu.Unlock()
		return fmt.Errorf("submit %s: %w", req.Kind, &protocol.TooLargeError{What: requestWhat(req.Kind), Size: int64(size), Limit: limit})
	} else if !stream && n > c.maxFrame-hubHeadroom {
		limit := c.maxFrame
		c.mu.Unlock()
		return fmt.Errorf("submit %s: %w", req.Kind, &protocol.TooLargeError{What: requestWhat(req.Kind), Size: int64(n), Limit: int64(limit)})
	}
	qc := c.conn
	for _, t := range tasks {
		c.pending[t.MsgID] = t
		t.sentOn = qc
	}
	c.mu.Unlock()
	var write func(qc *quic.Conn) error
	switch {
	case stream:
		write = func(qc *quic.Conn) error {
			body := quic.NewBodyParts(parts)
			if volatile {
				body = quic.NewBodyPartsVolatile(parts)
			} else if !protocol.PartsMayHoldArray(parts) {
				body.Unmapped() // the engine reads it
			}
			return qc.WriteStream(p, body)
		}
	case len(parts) == 1:
		write = func(qc *quic.Conn) error { return qc.WriteFrame(p, parts[0]) }
	default:
		joined := bytes.Join(parts, nil)
		write = func(qc *quic.Conn) error { return qc.WriteFrame(p, joined) }
	}
	err = write(qc)
	if err != nil && c.connLost(qc, err) {
		// Nothing of a request that failed to go out is read (a frame
		// counts only whole; a streamed request fails only before its
		// head is queued, its body going out afterwards, from parts
		// still valid here), so it is sent again, once, on the
		// connection the reader makes: kept out of the pending set
		// meanwhile, so that the new connection's resync does not fail
		// it as unknown.
		c.forget(tasks)
		if next := c.nextConn(qc); next != nil {
			c.remember(tasks, next)
			err = write(next)
		}
	}
	if err != nil {
		c.forget(tasks)
		return fmt.Errorf("submit %s: %w", req.Kind, err)
	}
	return nil
}

// forget and remember take tasks out of the pending set and put them
// back, sent on qc.
func (c *Client) forget(tasks []*Task) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range tasks {
		delete(c.pending, t.MsgID)
	}
}

func (c *Client) remember(tasks []*Task, qc *quic.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range tasks {
		c.pending[t.MsgID] = t
		t.sentOn = qc
	}
}

// connLost reports whether a write on qc failed because the connection
// is gone (the reader then reconnects), rather than for the message.
func (c *Client) connLost(qc *quic.Conn, err error) bool {
	var tl *protocol.TooLargeError
	switch {
	case c.reconnect <= 0, errors.As(err, &tl), errors.Is(err, quic.ErrQueueFull):
		return false
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return true
	}
	select {
	case <-qc.Done():
		return true
	default:
		return false
	}
}

// nextConn waits, within the reconnect window, for the reader to replace
// qc by a new connection, and returns it; nil when the client closes or
// the window passes.
func (c *Client) nextConn(qc *quic.Conn) *quic.Conn {
	window := time.NewTimer(c.reconnect)
	defer window.Stop()
	for {
		c.mu.Lock()
		cur, swapped, closing := c.conn, c.swapped, c.closing || c.closed
		c.mu.Unlock()
		switch {
		case closing:
			return nil
		case cur != qc:
			return cur
		}
		select {
		case <-swapped:
		case <-c.done:
			return nil
		case <-window.C:
			return nil
		}
	}
}

// SubmitFan sends one request to several engines with one body: the
// controller makes one task per engine (each with its own msg id and
// result, as if submitted one by one) and forwards the same body to each,
// so the body crosses the client's link once. req.MsgID and req.Engine
// are ignored. One engine is an ordinary Submit.
func (c *Client) SubmitFan(req protocol.Request, engines []int, body []byte) ([]*Task, error) {
	return c.SubmitFanParts(req, engines, [][]byte{body})
}

// SubmitFanParts is SubmitFan of a body given as parts, whose
// concatenation is the body (starlarklib.EncodeParts): a streamed body
// is written from the parts without joining them, so a large value's
// part may point at the value itself. The parts must not change
// afterwards (they are read as the body is written).
func (c *Client) SubmitFanParts(req protocol.Request, engines []int, parts [][]byte) ([]*Task, error) {
	return c.submitFanParts(req, engines, parts, false)
}

// submitFanParts is SubmitFanParts; volatile parts are read before it
// returns (SubmitVolatileParts).
func (c *Client) submitFanParts(req protocol.Request, engines []int, parts [][]byte, volatile bool) ([]*Task, error) {
	if len(engines) == 1 {
		req.MsgID, req.Engine = "", engines[0]
		t, err := c.submitParts(req, parts, volatile)
		if err != nil {
			return nil, err
		}
		return []*Task{t}, nil
	}
	now := time.Now()
	req.Submitted = now.UnixNano()
	req.MsgID, req.Engine = "", 0
	req.Fan = make([]protocol.FanTarget, len(engines))
	tasks := make([]*Task, len(engines))
	for i, e := range engines {
		id := c.NewMsgID()
		req.Fan[i] = protocol.FanTarget{MsgID: id, Engine: e}
		tasks[i] = &Task{MsgID: id, Engine: e, Kind: req.Kind, Label: req.Label, Name: req.Name,
			Submitted: now, done: make(chan struct{})}
	}
	if err := c.sendParts(&req, parts, tasks, volatile); err != nil {
		return nil, err
	}
	return tasks, nil
}

// streams reports whether a request's body travels as a streamed value
// (in chunks, bounded by MaxValue): a large body of a direct or
// fanned-out request. A load-balanced request's body stays one frame:
// the controller may hold it and send it again.
func streams(req *protocol.Request, size int) bool {
	return size >= quic.StreamMin && (req.Engine >= 0 || len(req.Fan) > 0)
}

// hubHeadroom is room left in a request frame for the fields the hub adds
// to its header (the client id) before forwarding it.
const hubHeadroom = 1 << 10

// requestWhat names what a request of kind k carries, for size errors.
func requestWhat(k protocol.Kind) string {
	switch k {
	case protocol.KindPush:
		return "the pushed value"
	case protocol.KindApply:
		return "the function with its arguments"
	case protocol.KindExecute:
		return "the code"
	}
	return "the request"
}

// writeMsg writes a marshalled header p and its body (if any) as one
// frame.
func (c *Client) writeMsg(p, body []byte) error {
	if len(body) > 0 {
		return c.cur().WriteFrame(p, body)
	}
	return c.cur().WriteFrame(p)
}

// Cancel aborts queued tasks and cancels running ones.
func (c *Client) Cancel(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	p, err := protocol.Marshal(protocol.TCancel, &protocol.Cancel{MsgIDs: ids}, nil)
	if err != nil {
		return err
	}
	return c.cur().WriteFrame(p)
}

// Control sends a query to the controller and decodes its answer into
// reply (which may be nil).
func (c *Client) Control(ctx context.Context, op string, args, reply any) error {
	id := c.seq.Add(1)
	var body []byte
	if args != nil {
		var err error
		if body, err = protocol.MarshalValue(args); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	p, err := protocol.Marshal(protocol.TControl, &protocol.Control{ID: id, Op: op}, nil)
	if err != nil {
		return err
	}
	ch := make(chan ctrlReply, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.ctrl[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.ctrl, id)
		c.mu.Unlock()
	}()
	if err := c.writeMsg(p, body); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case <-c.done:
		return fmt.Errorf("%s: %w", op, c.err())
	case r := <-ch:
		if r.rep.Error != "" {
			return fmt.Errorf("%s: %s", op, r.rep.Error)
		}
		if reply != nil && len(r.body) > 0 {
			return protocol.UnmarshalValue(r.body, reply)
		}
		return nil
	}
}

// Close disconnects; pending tasks fail with ErrClosed. Requests already
// submitted reach the controller first (their results stay retrievable
// through HubResults).
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	c.Control(ctx, "bye", nil, nil) // every earlier frame has arrived once this answers
	cancel()
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		close(c.quit)
	}
	c.mu.Unlock()
	c.cur().Close(uint64(protocol.CodeOK), "client closed")
	<-c.done
	return nil
}

// Done is closed when the connection is gone.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return c.closeErr
	}
	return ErrClosed
}

// cur returns the current connection.
func (c *Client) cur() *quic.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// read dispatches the controller's messages, reconnecting when the
// controller is lost.
func (c *Client) read() {
	for {
		qc := c.cur()
		stop := watch(qc)
		err := c.readConn(qc)
		stop()
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing && c.reconnect >= 0 {
			c.log.Info("lost the controller; reconnecting", "err", err, "window", c.reconnect)
		}
		if closing || c.reconnect < 0 || !c.redial() {
			c.shutdown(err)
			return
		}
	}
}

// watch closes qc once it has heard nothing from the controller for
// lostTicks ticks in a row. It counts ticks, not time: a client process
// stopped and resumed gets one tick for its stop, not LostAfter's worth,
// so the stop is not taken for the controller's silence (and the
// controller keeps the connection for StallTimeout).
func watch(qc *quic.Conn) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(LostAfter / lostTicks)
		defer t.Stop()
		last, silent := qc.PacketsReceived(), 0
		for {
			select {
			case <-done:
				return
			case <-qc.Done():
				return
			case <-t.C:
			}
			if n := qc.PacketsReceived(); n != last {
				last, silent = n, 0
				continue
			}
			if silent++; silent >= lostTicks {
				qc.Close(uint64(protocol.CodeSilent), fmt.Sprintf("the controller sent nothing for %v", LostAfter))
				return
			}
		}
	}()
	return func() { close(done) }
}

func (c *Client) readConn(qc *quic.Conn) error {
	for {
		p, body, err := qc.ReadStream()
		if err != nil {
			return err
		}
		if body != nil {
			err = c.dispatchStream(p, body)
		} else {
			err = c.dispatch(p)
		}
		if err != nil {
			qc.Close(uint64(protocol.CodeBadFrame), err.Error())
			return err
		}
	}
}

func (c *Client) dispatch(p []byte) error {
	t, hb, body, err := protocol.Split(p)
	if err != nil {
		return err
	}
	switch t {
	case protocol.TResult:
		return handle(hb, func(r protocol.Result) { c.onResult(r, body) })
	case protocol.TStarted:
		return handle(hb, c.onStarted)
	case protocol.TOutput:
		return handle(hb, func(m protocol.Output) { c.onOutput(m, body) })
	case protocol.TEngineEvent:
		return handle(hb, c.onEngineEvent)
	case protocol.TControlReply:
		return handle(hb, func(r protocol.ControlReply) { c.onControlReply(r, body) })
	}
	return fmt.Errorf("unexpected %s from controller", t)
}

// handle decodes a message header of type M and passes it to f.
func handle[M any](hb []byte, f func(M)) error {
	var m M
	if err := protocol.UnmarshalHeader(hb, &m); err != nil {
		return err
	}
	f(m)
	return nil
}

// onResult finishes the pending task of r; a result nobody waits for is
// counted as a stray.
func (c *Client) onResult(r protocol.Result, body []byte) {
	c.onResultKept(r, body, nil)
}

// onResultKept is onResult of a body that lives as long as keep (a
// mapped body), which its task then holds.
func (c *Client) onResultKept(r protocol.Result, body []byte, keep *quic.Mapping) {
	c.mu.Lock()
	task := c.pending[r.MsgID]
	delete(c.pending, r.MsgID)
	c.mu.Unlock()
	if task != nil {
		task.keep = keep
		if task.finish(r, body) {
			// The caller waiting for this result is runnable now: let
			// it run before this reader reads the connection empty and
			// parks (with one P it takes this P at once; with more, the
			// reader goes on elsewhere). Results nobody waits for yet
			// (a burst of load-balanced ones) are read on at once.
			runtime.Gosched()
		}
	} else {
		c.strays.Add(1)
		c.log.Warn("result for a task that is not pending", "msg_id", r.MsgID, "engine", r.Engine)
	}
}

// MapResults makes the client map a large result that comes as a sealed
// memfd and may hold a large array, instead of reading it: its Task's
// body (Task.Result) is then memory outside the Go heap, valid while the
// Task is reachable (Task.Keep holds it), so a caller must keep the Task
// reachable while it uses the body (runtime.KeepAlive) and decode it
// with the Task's Keep (starlarklib.DecodeOptions.Keep), so that arrays
// pointing into it hold it. The Starlark client sets it; plain Go
// callers need not.
func (c *Client) MapResults(on bool) { c.mapBodies.Store(on) }

// onStarted records when a pending task started on its engine.
func (c *Client) onStarted(m protocol.Started) {
	c.mu.Lock()
	task := c.pending[m.MsgID]
	c.mu.Unlock()
	if task != nil {
		task.started.Store(m.At)
	}
}

// onOutput records a pending task's streamed output or published data.
func (c *Client) onOutput(m protocol.Output, body []byte) {
	c.mu.Lock()
	task := c.pending[m.MsgID]
	c.mu.Unlock()
	if task != nil {
		task.addOutput(m, body)
	}
}

// onEngineEvent updates the engine table and wakes its watchers.
func (c *Client) onEngineEvent(ev protocol.EngineEvent) {
	c.mu.Lock()
	if ev.Joined {
		c.engines[ev.Engine.ID] = ev.Engine
	} else {
		delete(c.engines, ev.Engine.ID)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// onControlReply hands r to the control call waiting for it, if any.
func (c *Client) onControlReply(r protocol.ControlReply, body []byte) {
	c.mu.Lock()
	ch := c.ctrl[r.ID]
	c.mu.Unlock()
	if ch != nil {
		ch <- ctrlReply{r, body}
	}
}

// shutdown fails every pending task once the connection is gone.
func (c *Client) shutdown(err error) {
	c.mu.Lock()
	c.closed = true
	c.closeErr = fmt.Errorf("controller connection lost: %w", err)
	pending := c.pending
	c.pending = map[string]*Task{}
	c.mu.Unlock()
	now := time.Now().UnixNano()
	for _, t := range pending {
		t.finish(protocol.Result{MsgID: t.MsgID, Engine: t.Engine, Status: protocol.StatusError, Completed: now,
			Error: &protocol.RemoteError{Name: "ConnectionError", Message: "lost the controller before the result arrived",
				Engine: t.Engine, Method: string(t.Kind)}}, nil)
	}
	close(c.done)
}
