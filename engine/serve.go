package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
	"github.com/pxsh/pxsh/starlarklib/hostlib"
	"go.starlark.net/starlark"
)

// Config configures an engine's service loop.
type Config struct {
	// Connection is the controller to join.
	Connection *profile.Connection
	// ID is the id to ask for; -1 takes the next free one.
	ID int
	// Host and PID describe this engine; "" and 0 mean os.Hostname and
	// os.Getpid.
	Host string
	PID  int
	// MaxSteps is the per-task execution-step budget; 0 means none.
	MaxSteps uint64
	// MaxMemory, MaxStack and MaxOutput are the per-task limits of
	// InterpConfig (MaxMemory 0: none; `pxsh engine` defaults it to
	// DefaultMaxMemory and sets the runtime's limit to
	// RuntimeMemoryLimit); MaxDepth bounds the nesting of decoded values
	// and json.decode input (0: DefaultMaxDepth).
	MaxMemory int64
	MaxStack  int64
	MaxOutput int
	MaxDepth  int
	// MaxValue bounds a streamed value (a pushed value or a result of
	// quic.StreamMin bytes or more, which travels in chunks); 0 means
	// quic.DefaultMaxValue. The controller's limit, when lower, applies.
	MaxValue int64
	// MaxFrame bounds the frames the engine reads and writes; 0 means
	// quic.DefaultMaxFrame. The controller's limit, when lower, applies
	// too: a result over it is replaced by a ValueError naming its size.
	MaxFrame int
	// Retry bounds how long the engine keeps trying to reach the
	// controller (at first, and after losing it); 0 means 30 s.
	Retry time.Duration
	// Grant is the host capabilities tasks get (sh, env, fs); the zero
	// Grant keeps the sandbox.
	Grant hostlib.Grant
	// Modules are extra predeclared names (Go-defined modules).
	Modules starlark.StringDict
	// Logger receives the engine's events; nil means silent.
	Logger *slog.Logger
	// Process, when set, carries this engine on its process's shared
	// connection, in slot Slot (unique in the process); nil: the engine
	// has a connection of its own.
	Process *Process
	Slot    int
}

// IdleTimeout is how long an engine waits without hearing from the
// controller (QUIC keep-alives included) before it reconnects
// ($PXSH_ENGINE_IDLE_TIMEOUT overrides it, for tests).
const IdleTimeout = 4 * time.Second

// ErrShutdown is returned by Serve when the controller asked the engine to
// exit.
var ErrShutdown = errors.New("engine shut down by the controller")

// Engine serves tasks from a controller, one at a time in arrival order.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	interp *Interp
	id     int
	key    []byte

	mu      sync.Mutex
	conn    link
	queue   []queued
	wake    chan struct{}
	running string
	long    bool // the running task has run past StartedDelay
	cancel  context.CancelCauseFunc
	unsent  []outFrame // results produced while disconnected
	recent  recentResults
	// maxFrame is the lower of our frame limit and the controller's.
	maxFrame int
	// maxValue is the lower of our streamed-value limit and the
	// controller's.
	maxValue int64
	live     liveness
	// joined is closed once the engine first registered (or gave up).
	joined     chan struct{}
	joinedOnce sync.Once

	// Results held back while tasks are queued (holdreplies.go).
	heldConn  holder
	heldN     int
	heldSince time.Time
}

// liveness lets an engine whose process was stopped (SIGSTOP, a frozen
// VM) make sure, before it starts another task, that the hub did not
// declare it dead meanwhile: the hub then told the clients of its tasks
// that they failed, and running them would deliver what nobody waits for
// and apply their effects twice. Fields are guarded by Engine.mu.
type liveness struct {
	gap      time.Duration // a pause this long makes the engine suspect
	silence  time.Duration // hearing nothing from the hub this long, too
	suspect  bool          // paused since last confirmed: probe first
	ok       chan struct{} // closed when suspect is cleared
	probeSeq uint64
	heard    atomic.Int64 // unix nanoseconds of the last frame from the hub
	ticked   time.Time    // watchGaps' last tick
	packets  uint64       // the connection's packet count at that tick
}

// recentResults keeps the last result frames sent, to send again after a
// reconnection: a controller that crashed may not have recorded them.
type recentResults struct {
	frames []outFrame
	ids    []string
	bytes  int
}

const (
	recentMax      = 4096
	recentMaxBytes = 16 << 20
)

func (r *recentResults) add(id string, f outFrame) {
	r.frames = append(r.frames, f)
	r.ids = append(r.ids, id)
	r.bytes += f.size()
	for len(r.frames) > recentMax || r.bytes > recentMaxBytes {
		r.bytes -= r.frames[0].size()
		r.frames[0].release()
		r.frames[0], r.ids[0] = outFrame{}, ""
		r.frames, r.ids = r.frames[1:], r.ids[1:]
	}
}

// outFrame is a message to the controller: p, then body, a value kept
// apart so that it is never copied behind p; a streamed body follows p
// in chunks (quic.Conn.WriteStream).
type outFrame struct {
	p, body []byte
	stream  bool
	parts   [][]byte // a streamed body given as parts (their concatenation)
	// sealed, when set, is the streamed body in a sealed memfd, sent
	// from it each time (a result whose arrays were shared). Each list
	// that keeps the frame (recent, unsent) holds a reference.
	sealed *quic.Sealed
}

func (f outFrame) size() int {
	n := len(f.p) + len(f.body) + partsLen(f.parts)
	if f.sealed != nil {
		n += int(f.sealed.Size())
	}
	return n
}

// hold and release take and drop a reference to a sealed body.
func (f outFrame) hold() {
	if f.sealed != nil {
		f.sealed.Hold()
	}
}

func (f outFrame) release() {
	if f.sealed != nil {
		f.sealed.Release()
	}
}

func partsLen(parts [][]byte) int {
	n := 0
	for _, b := range parts {
		n += len(b)
	}
	return n
}

type queued struct {
	req      protocol.Request
	body     []byte
	pending  *pendingBody // a body still arriving in chunks
	received int64        // unix nanoseconds
}

// New makes an engine; Serve runs it.
func New(cfg Config) (*Engine, error) {
	if cfg.Connection == nil {
		return nil, errors.New("engine: no connection")
	}
	key, err := cfg.Connection.KeyBytes()
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.PID == 0 {
		cfg.PID = os.Getpid()
	}
	if cfg.Retry == 0 {
		cfg.Retry = 30 * time.Second
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = quic.DefaultMaxFrame
	}
	if cfg.MaxValue <= 0 {
		cfg.MaxValue = quic.DefaultMaxValue
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, log: log, id: cfg.ID, key: key, wake: make(chan struct{}, 1), joined: make(chan struct{}),
		live: liveness{gap: defaultGap, silence: 2 * defaultGap}}, nil
}

// Joined is closed once the engine has registered for the first time, or
// Serve has returned.
func (e *Engine) Joined() <-chan struct{} { return e.joined }

func (e *Engine) markJoined() { e.joinedOnce.Do(func() { close(e.joined) }) }

// ID returns the engine's id once registered, else the requested one.
func (e *Engine) ID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.id
}

// Serve joins the controller and serves until ctx is done, the controller
// shuts the engine down, or the controller stays unreachable for
// Config.Retry.
func (e *Engine) Serve(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer e.markJoined()
	resume := false
	for {
		c, err := e.join(ctx, resume)
		if err != nil {
			return err
		}
		e.markJoined()
		if e.interp == nil {
			e.interp = NewInterp(InterpConfig{ID: e.id, Host: e.cfg.Host, PID: e.cfg.PID, MaxSteps: e.cfg.MaxSteps,
				Limits:    protocol.Limits{MaxDepth: e.cfg.MaxDepth},
				MaxMemory: e.cfg.MaxMemory, MaxStack: e.cfg.MaxStack, MaxOutput: e.cfg.MaxOutput,
				Grant: e.cfg.Grant, Modules: e.cfg.Modules, Stream: e.sendOutput})
			go e.work(ctx)
			go e.watchGaps(ctx)
		}
		e.setConn(c, resume)
		stopClose := context.AfterFunc(ctx, func() { c.Close(uint64(protocol.CodeOK), "engine exiting") })
		err = e.read(ctx, c)
		stopClose()
		e.setConn(nil, false)
		if errors.Is(err, ErrShutdown) || ctx.Err() != nil {
			c.Close(uint64(protocol.CodeOK), "engine exiting")
			e.cancelAll()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		e.log.Warn("lost controller, reconnecting", "err", err)
		resume = true
	}
}

// join dials and registers, retrying with backoff.
func (e *Engine) join(ctx context.Context, resume bool) (link, error) {
	deadline := time.Now().Add(e.cfg.Retry)
	wait := 50 * time.Millisecond
	for {
		c, err := e.register(ctx, resume)
		if err == nil {
			return c, nil
		}
		var refused *refusedError
		if errors.As(err, &refused) && !refused.busy || errors.Is(err, quic.ErrAuth) || errors.Is(err, quic.ErrFingerprint) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("engine: controller unreachable: %w", err)
		}
		e.log.Info("controller not reachable yet", "err", err)
		pause := wait + rand.N(wait/2)
		if errors.Is(err, quic.ErrBusy) {
			// Many engines joining at once: the controller is up, try
			// again soon, spread out.
			pause = 10*time.Millisecond + rand.N(90*time.Millisecond)
		} else {
			wait = min(wait*2, 2*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

type refusedError struct {
	msg  string
	busy bool // the id is held by an engine the hub has not declared dead yet
}

func (r *refusedError) Error() string { return "engine: registration refused: " + r.msg }

func (e *Engine) register(ctx context.Context, resume bool) (link, error) {
	c, err := e.dial(ctx)
	if err != nil {
		return nil, err
	}
	reg := protocol.Register{ID: e.ID(), Host: e.cfg.Host, PID: e.cfg.PID, Version: protocol.Version, Resume: resume,
		Caps: e.cfg.Grant.Caps(), MaxFrame: e.cfg.MaxFrame, MaxValue: e.cfg.MaxValue, Process: processToken()}
	if resume {
		reg.Tasks, reg.Recent = e.held()
	}
	p, _ := protocol.Marshal(protocol.TRegister, &reg, nil)
	if err := c.WriteFrame(p); err != nil {
		c.Close(uint64(protocol.CodeBadFrame), "register failed")
		return nil, err
	}
	p, err = c.ReadFrame()
	if err != nil {
		c.Close(uint64(protocol.CodeBadFrame), "register failed")
		return nil, fmt.Errorf("register: %w", err)
	}
	var r protocol.Registered
	t, hb, _, err := protocol.Split(p)
	if err == nil && t != protocol.TRegistered {
		err = fmt.Errorf("register: unexpected %s", t)
	}
	if err == nil {
		err = protocol.UnmarshalHeader(hb, &r)
	}
	if err != nil {
		c.Close(uint64(protocol.CodeBadFrame), err.Error())
		return nil, err
	}
	if r.Error != "" {
		c.Close(uint64(protocol.CodeShutdown), "registration refused")
		return nil, &refusedError{r.Error, r.Busy}
	}
	e.mu.Lock()
	e.id = r.ID
	e.maxFrame = e.cfg.MaxFrame
	if r.MaxFrame > 0 && r.MaxFrame < e.maxFrame {
		e.maxFrame = r.MaxFrame
	}
	if e.cfg.Process != nil {
		e.maxFrame -= len(protocol.MuxHeader(e.cfg.Slot)) // every frame carries it
	}
	e.maxValue = e.cfg.MaxValue
	if r.MaxValue > 0 && r.MaxValue < e.maxValue {
		e.maxValue = r.MaxValue
	}
	if r.DeadAfterMS > 0 {
		e.live.gap = time.Duration(r.DeadAfterMS) * time.Millisecond / 4
		e.live.silence = 2 * e.live.gap
	}
	e.live.heard.Store(time.Now().UnixNano())
	e.live.ticked = time.Now()
	e.mu.Unlock()
	if len(r.Drop) > 0 {
		e.log.Warn("the controller declared this engine dead meanwhile: dropping its tasks", "tasks", len(r.Drop))
		e.drop(r.Drop)
	}
	e.log.Info("registered", "id", r.ID, "cluster", r.ClusterID)
	return c, nil
}

// dial opens the engine's connection, or attaches it to its process's.
func (e *Engine) dial(ctx context.Context) (link, error) {
	if e.cfg.Process != nil {
		return e.cfg.Process.attach(ctx, e.cfg.Slot)
	}
	return dialController(ctx, e.cfg.Connection, e.key, e.cfg.MaxFrame, e.cfg.MaxValue)
}

// held lists the tasks the engine holds (running, then queued) and those
// whose results it will send again.
func (e *Engine) held() (tasks, recent []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running != "" {
		tasks = append(tasks, e.running)
	}
	for _, q := range e.queue {
		tasks = append(tasks, q.req.MsgID)
	}
	return tasks, slices.Clone(e.recent.ids)
}

// setConn makes c the connection to write to; on a reconnection it sends
// the recent results again, then those produced while disconnected.
func (e *Engine) setConn(c link, resume bool) {
	e.releaseHeld()
	e.mu.Lock()
	e.conn = c
	if c != nil {
		e.confirmLive() // registered just now: the hub knows what we hold
	}
	again := e.unsent
	if resume && c != nil {
		// Every result is in recent, unless it was evicted while unsent.
		inRecent := make(map[*byte]bool, len(e.recent.frames))
		for _, f := range e.recent.frames {
			inRecent[&f.p[0]] = true
		}
		again = slices.Clone(e.recent.frames)
		for _, f := range e.unsent {
			if !inRecent[&f.p[0]] {
				again = append(again, f)
			}
		}
	}
	for _, f := range again {
		f.hold() // until written below
	}
	for _, f := range e.unsent {
		f.release() // the unsent list's
	}
	e.unsent = nil
	e.mu.Unlock()
	for _, f := range again {
		e.writeOut(f)
		f.release()
	}
}

// read handles the controller's messages.
func (e *Engine) read(ctx context.Context, c link) error {
	for {
		p, stream, err := c.ReadStream()
		if err != nil {
			return err
		}
		e.live.heard.Store(time.Now().UnixNano())
		t, hb, body, err := protocol.Split(p)
		if err == nil && stream != nil && t != protocol.TRequest {
			err = fmt.Errorf("unexpected streamed %s from controller", t)
		}
		if err != nil {
			if stream != nil {
				stream.Discard()
			}
			return err
		}
		switch t {
		case protocol.TPing:
			// Never behind the queue bound: a reader waiting here would stop
			// reading the hub's requests and cancels.
			var ping protocol.Ping
			protocol.UnmarshalHeader(hb, &ping)
			pong, _ := protocol.Marshal(protocol.TPong, &protocol.Pong{Seq: ping.Seq, Memory: memoryInUse()}, nil)
			c.WriteUrgent(pong)
		case protocol.TRequest:
			var r protocol.Request
			if err := protocol.UnmarshalHeader(hb, &r); err != nil {
				if stream != nil {
					stream.Discard()
				}
				return err
			}
			if stream != nil {
				e.enqueueStreamed(r, stream)
				continue
			}
			if r.Share != "" {
				putShared(r.Share, body, r.ShareN)
			}
			if e.enqueue(r, body) {
				// The worker was idle: let it start the task now (with one
				// P it takes this P at once) and read on after it, rather
				// than first read the socket empty and park.
				runtime.Gosched()
			}
		case protocol.TCancel:
			var m protocol.Cancel
			if err := protocol.UnmarshalHeader(hb, &m); err != nil {
				return err
			}
			e.cancelTasks(m.MsgIDs)
		case protocol.TProbeAck:
			var m protocol.Ping
			if err := protocol.UnmarshalHeader(hb, &m); err != nil {
				return err
			}
			e.mu.Lock()
			if m.Seq == e.live.probeSeq {
				e.confirmLive()
			}
			e.mu.Unlock()
		case protocol.TShutdown:
			return ErrShutdown
		default:
			return fmt.Errorf("unexpected %s from controller", t)
		}
	}
}

func (e *Engine) enqueue(r protocol.Request, body []byte) bool {
	return e.enqueueItem(queued{req: r, body: body, received: time.Now().UnixNano()})
}

// enqueueItem queues q for the worker and reports whether the worker was
// idle, q the only task queued.
func (e *Engine) enqueueItem(q queued) bool {
	r := q.req
	e.mu.Lock()
	if r.Prefetched && e.long {
		e.mu.Unlock()
		q.discard()
		e.giveBack([]string{r.MsgID})
		return false
	}
	e.queue = append(e.queue, q)
	lone := len(e.queue) == 1 && e.running == ""
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return lone
}

// work runs queued tasks one at a time.
func (e *Engine) work(ctx context.Context) {
	for {
		e.mu.Lock()
		if len(e.queue) == 0 {
			e.mu.Unlock()
			e.releaseHeld()
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
				continue
			}
		}
		if e.checkLive(time.Now()); e.live.suspect {
			e.mu.Unlock()
			e.releaseHeld()
			if !e.awaitLive(ctx) {
				return
			}
			continue // the queue may have been dropped meanwhile
		}
		q := e.queue[0]
		e.queue[0] = queued{}
		e.queue = e.queue[1:]
		tctx, cancel := context.WithCancelCause(ctx)
		e.running, e.cancel = q.req.MsgID, cancel
		e.mu.Unlock()
		stopTimer := func() bool { return false }
		if q.req.Timeout > 0 {
			d := time.Duration(q.req.Timeout * float64(time.Second))
			t := time.AfterFunc(d, func() {
				cancel(&CancelError{Name: "TaskTimeout",
					Message: fmt.Sprintf("task %s ran past its timeout of %gs", q.req.MsgID, q.req.Timeout)})
			})
			stopTimer = t.Stop
		}
		if q.pending != nil || q.req.SharedBody != "" {
			e.releaseHeld() // taskBody may wait
		}
		body, keep, lost := e.taskBody(tctx, &q)
		if lost != "" {
			stopTimer()
			cancel(nil)
			e.idle()
			e.reply(&q.req, protocol.Result{Status: protocol.StatusError, Received: q.received,
				Started: time.Now().UnixNano(), Completed: time.Now().UnixNano(),
				Error: &protocol.RemoteError{Name: "EngineError", Engine: e.ID(), Method: string(q.req.Kind),
					Message: lost}}, nil)
			continue
		}
		started := e.announce(q.req.MsgID)
		res, val, shared := e.interp.RunShared(tctx, &q.req, body, keep)
		started.Stop()
		stopTimer()
		cancel(nil)
		e.idle()
		res.Received = q.received
		var aborted []queued
		if q.req.Kind == protocol.KindExecute && res.Error != nil && res.Error.Name != "TaskAborted" {
			// Taken before the result leaves: an execute the client sends
			// once it has the failure is not one queued behind it.
			aborted = e.takeExecutes(q.req.Client)
		}
		e.holdForReply()
		e.replyValue(&q.req, res, val, shared)
		e.replyAborted(aborted)
		e.releaseAfterReply()
		// With one P and prefetched tasks queued the worker would not
		// block between tasks: let the reader and the transport run.
		runtime.Gosched()
	}
}

// taskBody returns q's body once it is there: a streamed body that is
// still arriving, or one sent once to this engine process. When it cannot
// arrive, lost says why.
// A mapped body is valid while keep, its *quic.Mapping, is reachable;
// keep is nil (not a nil pointer) for any other body.
func (e *Engine) taskBody(ctx context.Context, q *queued) (body []byte, keep any, lost string) {
	body = q.body
	if q.pending != nil {
		b, m, err := q.pending.wait(ctx)
		if err != nil {
			return nil, nil, "the request's body did not arrive: " + err.Error()
		}
		if body, q.pending = b, nil; m != nil {
			keep = m
		}
	}
	if key := q.req.SharedBody; key != "" {
		var ok bool
		if body, ok = takeShared(ctx, key); !ok {
			return nil, nil, "the request's body, sent once to this engine process, did not arrive"
		}
	}
	return body, keep, ""
}

// idle records that the worker runs no task.
func (e *Engine) idle() {
	e.mu.Lock()
	e.running, e.cancel, e.long = "", nil, false
	e.mu.Unlock()
}

// takeExecutes takes the queued execute requests of a client out of the
// queue, to abort them as ipyparallel's engines do after one of its
// executes failed: code meant to run after the failed code does not run
// without it.
func (e *Engine) takeExecutes(client string) []queued {
	e.mu.Lock()
	defer e.mu.Unlock()
	var aborted []queued
	kept := e.queue[:0]
	for _, q := range e.queue {
		if q.req.Kind == protocol.KindExecute && q.req.Client == client {
			aborted = append(aborted, q)
		} else {
			kept = append(kept, q)
		}
	}
	clear(e.queue[len(kept):])
	e.queue = kept
	return aborted
}

// replyAborted answers the requests takeExecutes took.
func (e *Engine) replyAborted(aborted []queued) {
	now := time.Now().UnixNano()
	for _, q := range aborted {
		e.reply(&q.req, protocol.Result{
			Status: protocol.StatusAborted, Completed: now,
			Error: &protocol.RemoteError{Name: "TaskAborted", Message: "task was aborted: an earlier execute of this client failed on this engine",
				Engine: e.ID(), Method: string(q.req.Kind)},
		}, nil)
	}
}

// memoryInUse is the memory the Go runtime holds from the system, for
// the controller's view of its engines (docs/DASHBOARD.md).
func memoryInUse() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// sendOutput sends a running task's output to the controller, which
// relays it to the task's client.
func (e *Engine) sendOutput(o protocol.Output, body []byte) {
	if p, err := protocol.Marshal(protocol.TOutput, &o, body); err == nil {
		e.write(p)
	}
}

// StartedDelay is how long a task runs before the engine tells the
// controller it started; shorter tasks only report it in their result,
// which saves two messages per task.
const StartedDelay = 2 * time.Millisecond

// announce sends a Started notice for a task that is still running after
// StartedDelay, and hands back the prefetched tasks queued behind it.
func (e *Engine) announce(id string) *time.Timer {
	at := time.Now().UnixNano()
	return time.AfterFunc(StartedDelay, func() {
		e.releaseHeld() // results of the tasks before this long one
		p, err := protocol.Marshal(protocol.TStarted, &protocol.Started{MsgID: id, Engine: e.ID(), At: at}, nil)
		if err == nil {
			e.write(p)
		}
		e.mu.Lock()
		var back []string
		if e.running == id {
			e.long = true
			kept := e.queue[:0]
			for _, q := range e.queue {
				if q.req.Prefetched {
					back = append(back, q.req.MsgID)
				} else {
					kept = append(kept, q)
				}
			}
			clear(e.queue[len(kept):])
			e.queue = kept
		}
		e.mu.Unlock()
		e.giveBack(back)
	})
}

// giveBack returns prefetched tasks, unstarted, to the hub, which places
// them again: they would otherwise wait behind a long task.
func (e *Engine) giveBack(ids []string) {
	if len(ids) == 0 {
		return
	}
	if p, err := protocol.Marshal(protocol.TReturn, &protocol.Return{MsgIDs: ids}, nil); err == nil {
		e.write(p)
	}
}

func (e *Engine) reply(req *protocol.Request, res protocol.Result, val []byte) {
	e.replyParts(req, res, [][]byte{val})
}

// replyParts is reply of a value given as parts (Interp.RunParts): a
// streamed value is written from them, a framed one joined.
func (e *Engine) replyParts(req *protocol.Request, res protocol.Result, parts [][]byte) {
	e.replyValue(req, res, parts, false)
}

// replyValue is replyParts of parts that may share arrays' memory
// (Interp.RunShared): those are copied before it returns, into a sealed
// memfd kept for resending, or else into one buffer.
func (e *Engine) replyValue(req *protocol.Request, res protocol.Result, parts [][]byte, shared bool) {
	res.MsgID, res.Engine, res.Kind = req.MsgID, e.ID(), req.Kind
	res.Submitted, res.Client, res.Label = req.Submitted, req.Client, req.Label
	if res.Error != nil && res.Error.Name == "TaskAborted" {
		res.Status = protocol.StatusAborted
	}
	limit := e.frameLimit()
	size := partsLen(parts)
	if size >= quic.StreamMin {
		f := e.streamedReply(req, res, parts, size)
		if shared && f.stream {
			f = e.own(f)
		}
		e.mu.Lock()
		f.hold()                   // until written, even if evicted at once
		e.recent.add(req.MsgID, f) // takes the sealed body's first reference
		e.mu.Unlock()
		e.writeOut(f)
		f.release()
		return
	}
	if shared { // not reached: shared parts are PartMin bytes or more
		parts = [][]byte{bytes.Join(parts, nil)}
	}
	var val []byte // none for an error
	switch len(parts) {
	case 0:
	case 1:
		val = parts[0]
	default:
		val = bytes.Join(parts, nil)
	}
	var f outFrame
	if len(val) > limit { // do not copy a value that cannot be sent
		f = outFrame{p: tooLarge(req, res, len(val), limit)}
	} else {
		head, err := protocol.Marshal(protocol.TResult, &res, nil)
		if err != nil {
			return
		}
		f = outFrame{p: head, body: val} // the value is sent as it is, not copied behind the header
		if n := f.size(); n > limit {
			f = outFrame{p: tooLarge(req, res, n, limit)}
		}
	}
	e.mu.Lock()
	e.recent.add(req.MsgID, f)
	e.mu.Unlock()
	e.writeOut(f)
}

// own makes a streamed result whose parts share arrays' memory
// independent of it: to a local controller the body goes into a sealed
// memfd, which is sent as it is and kept, unchanging, for resending;
// otherwise the parts are joined into one buffer.
func (e *Engine) own(f outFrame) outFrame {
	e.mu.Lock()
	c := e.conn
	e.mu.Unlock()
	if l, ok := c.(interface{ LocalMemfds() bool }); ok && l.LocalMemfds() {
		if s, err := quic.NewSealed(f.parts); err == nil {
			f.parts, f.sealed = nil, s
			return f
		}
	}
	f.parts = [][]byte{bytes.Join(f.parts, nil)}
	return f
}

// streamedReply is the message of a result whose value is streamed (at
// least quic.StreamMin bytes): its head and the value, or a ValueError
// when the value is over the streamed-value limit.
func (e *Engine) streamedReply(req *protocol.Request, res protocol.Result, parts [][]byte, size int) outFrame {
	e.mu.Lock()
	limit := e.maxValue
	e.mu.Unlock()
	if limit <= 0 {
		limit = e.cfg.MaxValue
	}
	if int64(size) > limit {
		te := &protocol.TooLargeError{What: "the result", Size: int64(size), Limit: limit}
		if req.Kind == protocol.KindPull {
			te.What = "the pulled value"
		}
		res.Status, res.HasValue = protocol.StatusError, false
		res.Error = &protocol.RemoteError{Name: "ValueError", Message: te.Error(), Engine: res.Engine, Method: string(req.Kind)}
		p, _ := protocol.Marshal(protocol.TResult, &res, nil)
		return outFrame{p: p}
	}
	p, err := protocol.Marshal(protocol.TResult, &res, nil)
	if err != nil || len(p) > e.frameLimit() {
		res.Stdout, res.Stderr = "", ""
		p, _ = protocol.Marshal(protocol.TResult, &res, nil)
	}
	return outFrame{p: p, parts: parts, stream: true}
}

// frameLimit returns the largest frame the engine may send.
func (e *Engine) frameLimit() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.maxFrame > 0 {
		return e.maxFrame
	}
	return e.cfg.MaxFrame
}

// tooLarge returns the frame of a result whose frame (size bytes) is over
// limit: a ValueError naming both, with the task's output when it fits.
func tooLarge(req *protocol.Request, res protocol.Result, size, limit int) []byte {
	what := "the result"
	if req.Kind == protocol.KindPull {
		what = "the pulled value"
	}
	te := &protocol.TooLargeError{What: what, Size: int64(size), Limit: int64(limit)}
	res.Status, res.HasValue = protocol.StatusError, false
	res.Error = &protocol.RemoteError{Name: "ValueError", Message: te.Error(), Engine: res.Engine, Method: string(req.Kind)}
	p, _ := protocol.Marshal(protocol.TResult, &res, nil)
	if len(p) > limit {
		res.Stdout, res.Stderr = "", ""
		p, _ = protocol.Marshal(protocol.TResult, &res, nil)
	}
	return p
}

// write sends a frame, keeping it for the next connection when there is
// none.
func (e *Engine) write(p []byte) { e.writeOut(outFrame{p: p}) }

// writeOut sends a message, keeping it for the next connection when there
// is none.
func (e *Engine) writeOut(f outFrame) {
	e.mu.Lock()
	c := e.conn
	if c == nil {
		f.hold() // the unsent list's
		e.unsent = append(e.unsent, f)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	var err error
	switch {
	case f.sealed != nil:
		err = c.WriteStream(f.p, f.sealed.Body())
	case f.stream:
		body := quic.NewBodyParts(f.parts)
		if !protocol.PartsMayHoldArray(f.parts) {
			body.Unmapped() // the client reads it
		}
		err = c.WriteStream(f.p, body)
	case len(f.body) > 0:
		err = c.WriteFrame(f.p, f.body)
	default:
		err = c.WriteFrame(f.p)
	}
	if err != nil {
		e.mu.Lock()
		f.hold() // the unsent list's
		e.unsent = append(e.unsent, f)
		e.mu.Unlock()
	}
}

// cancelTasks aborts queued tasks and cancels the running one.
func (e *Engine) cancelTasks(ids []string) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	e.mu.Lock()
	var aborted []queued
	kept := e.queue[:0]
	for _, q := range e.queue {
		if want[q.req.MsgID] {
			aborted = append(aborted, q)
			q.discard()
			if q.req.SharedBody != "" {
				releaseShared(q.req.SharedBody)
			}
		} else {
			kept = append(kept, q)
		}
	}
	e.queue = kept
	if want[e.running] && e.cancel != nil {
		e.cancel(&CancelError{Name: "TaskAborted", Message: "task was aborted while running"})
	}
	e.mu.Unlock()
	now := time.Now().UnixNano()
	for _, q := range aborted {
		e.reply(&q.req, protocol.Result{
			Status: protocol.StatusAborted, Completed: now,
			Error: &protocol.RemoteError{Name: "TaskAborted", Message: "task was aborted", Engine: e.ID(), Method: string(q.req.Kind)},
		}, nil)
	}
}

func (e *Engine) cancelAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.queue = nil
	if e.cancel != nil {
		e.cancel(&CancelError{Name: "TaskAborted", Message: "engine shutting down"})
	}
}

// defaultGap is the pause that makes an engine suspect before it knows the
// hub's DeadAfter (a quarter of it, once registered).
const defaultGap = 500 * time.Millisecond

// watchGaps notices pauses of the whole process (SIGSTOP, a frozen VM, a
// starved machine) and silences of the hub (a partition, a lost
// connection), through checkLive, every quarter of the gap. The engines
// of a Process share one ticker (Process.watch).
func (e *Engine) watchGaps(ctx context.Context) {
	if p := e.cfg.Process; p != nil {
		p.watch(ctx, e)
		return
	}
	tick := time.NewTicker(e.tickPeriod())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			e.tick()
		}
	}
}

// tickPeriod is watchGaps' period: a quarter of the gap.
func (e *Engine) tickPeriod() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.live.ticked = time.Now()
	return e.live.gap / 4
}

// tick is one tick of watchGaps.
func (e *Engine) tick() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.conn; c != nil {
		// Any packet from the hub counts, keep-alives included: an idle
		// hub sends no frames.
		if n := c.PacketsReceived(); n != e.live.packets {
			e.live.packets = n
			e.live.heard.Store(time.Now().UnixNano())
		}
	}
	e.checkLive(time.Now())
}

// checkLive makes the engine suspect, so that it confirms its
// registration before its next task, when the last tick of watchGaps is
// older than the gap (the process was paused: the tick is late), or
// nothing came from the hub for the silence bound (half the hub's
// DeadAfter). The worker calls it too, before each task, since after a
// pause it may run before the ticker does. e.mu is held.
func (e *Engine) checkLive(now time.Time) {
	pause := now.Sub(e.live.ticked)
	e.live.ticked = now
	quiet := now.Sub(time.Unix(0, e.live.heard.Load()))
	if e.live.suspect || (pause <= e.live.gap && quiet <= e.live.silence) {
		return
	}
	e.live.suspect = true
	e.live.ok = make(chan struct{})
	if pause > e.live.gap {
		e.log.Warn("engine was paused; confirming registration before the next task", "pause", pause.Round(time.Millisecond))
	}
}

// confirmLive clears suspicion; e.mu is held.
func (e *Engine) confirmLive() {
	if e.live.suspect {
		e.live.suspect = false
		close(e.live.ok)
	}
}

// awaitLive probes the hub until it confirms the engine is still
// registered, or a new registration does (after telling what to drop). It
// reports false when ctx ends.
func (e *Engine) awaitLive(ctx context.Context) bool {
	for {
		e.mu.Lock()
		if !e.live.suspect {
			e.mu.Unlock()
			return true
		}
		ok, c := e.live.ok, e.conn
		e.live.probeSeq++
		seq := e.live.probeSeq
		e.mu.Unlock()
		if c != nil {
			if p, err := protocol.Marshal(protocol.TProbe, &protocol.Ping{Seq: seq}, nil); err == nil {
				c.WriteUrgent(p)
			}
		}
		select {
		case <-ok:
			return true
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// drop forgets tasks the hub gave up on while the engine was unreachable:
// queued ones are removed without a result, a running one is aborted (the
// hub discards its result).
func (e *Engine) drop(ids []string) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := e.queue[:0]
	for _, q := range e.queue {
		if !want[q.req.MsgID] {
			kept = append(kept, q)
			continue
		}
		q.discard()
		if q.req.SharedBody != "" {
			releaseShared(q.req.SharedBody)
		}
	}
	clear(e.queue[len(kept):])
	e.queue = kept
	if want[e.running] && e.cancel != nil {
		e.cancel(&CancelError{Name: "TaskAborted", Message: "the controller declared this engine dead while the task ran"})
	}
}
