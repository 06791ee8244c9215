// Package hub is pxsh's controller: it accepts engines and clients on one
// QUIC port, registers engines with ids that are never reused, watches them
// with heartbeats, routes requests to engines (directly, or through the
// load-balancing scheduler) and results back to the client that asked, and
// answers clients' queries.
//
// It imports quic, protocol, profile and scheduler; never engine, client or
// shell.
package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pxsh/pxsh/hub/taskdb"
	"github.com/pxsh/pxsh/keepawake"
	"github.com/pxsh/pxsh/procs"
	"github.com/pxsh/pxsh/profile"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
	"github.com/pxsh/pxsh/scheduler"
)

// Config configures a Hub. The zero value serves on a random loopback port
// with a fresh identity and key and writes no files.
type Config struct {
	// ProfileDir, when set, keeps the identity and cluster key in its
	// security directory and receives the connection files.
	ProfileDir string
	// Addr is the UDP address to listen on; "" means 127.0.0.1:0.
	Addr string
	// Location is the host written into connection files; "" means the
	// listening address's host (or this host's name when listening on
	// all interfaces).
	Location string
	// Identity and Key override the profile's; tests set them.
	Identity *quic.Identity
	Key      []byte
	// Heartbeat is how often engines are pinged; 0 means 500 ms.
	Heartbeat time.Duration
	// DeadAfter declares an engine dead when nothing was heard from it for
	// this long; 0 means 2.5 s.
	DeadAfter time.Duration
	// MaxFrame bounds frames; 0 means quic.DefaultMaxFrame.
	MaxFrame int
	// MaxValue bounds a streamed value (a body of quic.StreamMin bytes or
	// more, which travels in chunks); 0 means quic.DefaultMaxValue.
	MaxValue int64
	// ClientQueue bounds the bytes waiting to be sent to one client
	// (beyond the frames being written); a client that lets more pile up
	// is disconnected as a slow consumer. 0 means DefaultClientQueue.
	ClientQueue int
	// EngineQueue is the same bound for an engine; 0 means
	// DefaultEngineQueue.
	EngineQueue int
	// HelloTimeout bounds the wait for a connection's first message; 0
	// means DefaultHelloTimeout.
	HelloTimeout time.Duration
	// IdleTimeout is the listener's QUIC idle timeout (a connection uses
	// the smaller of both ends'); 0 means quic's default, 30 s. Tests that
	// stop an engine process on purpose raise it.
	IdleTimeout time.Duration
	// Scheme is the load-balancing policy; "" means leastload.
	Scheme string
	// HWM is how many load-balanced tasks an engine may hold at once; 0
	// means 1, a negative value means no limit.
	HWM int
	// Prefetch is how many load-balanced tasks an engine may hold while
	// its tasks run shorter than a round trip (adaptive prefetch, see
	// docs/SCHEDULER.md); 0 means DefaultPrefetch, a value not above HWM
	// turns it off.
	Prefetch int
	// Database is the task database file; "" means the profile's
	// tasks.db, or memory without a profile.
	Database string
	// MemoryDB keeps the task database in memory (throwaway clusters).
	MemoryDB bool
	// MaxRecords and MaxAge bound the finished records kept; 0 means no
	// limit.
	MaxRecords int
	MaxAge     time.Duration
	// Restore starts from the profile's previous controller: same port,
	// identity, key and cluster id, and the tasks it had in flight.
	Restore bool
	// RestoreGrace is how long engines have to reconnect and reclaim their
	// tasks after a restore; 0 means 10 s.
	RestoreGrace time.Duration
	// Logger receives the hub's events; nil means silent.
	Logger *slog.Logger
	// KeepAwake is the command of a spinner process (keepawake.Start):
	// while client requests are in flight it keeps one processor from
	// halting, so round trips do not wait for idle processors to wake.
	// Empty: none. Not started where keepawake.Pointless says why.
	KeepAwake []string
	// GovernProcs lets Serve govern the process's processor count
	// (package procs: one P while it passes small messages, every core
	// when busy). The pxsh binary sets it; a program that embeds the hub
	// decides for its own process. An explicit GOMAXPROCS turns it off.
	GovernProcs bool
}

// Hub is a running controller. It is safe for concurrent use.
type Hub struct {
	cfg       Config
	log       *slog.Logger
	ln        *quic.Listener
	conn      *profile.Connection
	clusterID string
	ready     chan struct{}
	stop      context.CancelFunc
	done      chan struct{}
	awake     *keepawake.Waker // set before the first connection; nil: none

	mu      sync.Mutex
	engines map[int]*engine
	clients map[string]*client
	tasks   map[string]*task
	// recording holds the streamed results forwarded and not recorded
	// yet (stream.go): closed once recorded.
	recording map[string]chan struct{}
	nextID    int
	used      map[int]bool
	sched     *scheduler.Scheduler
	db        *taskdb.DB
	lastID    int
	// restoring is set while restored tasks wait for their engines.
	restoring bool
	// settled is closed when the restore settles (restore.go).
	settled chan struct{}
	// resumed holds, while restoring, the tasks each resumed client said
	// it waits for: the only results of unknown tasks worth sending it.
	resumed map[string]map[string]bool
	tick    chan struct{}
	// stats are updated with atomics only (stats.go).
	stats stats
}

// Slow-consumer bounds: the bytes that may wait in the hub for one peer
// that does not read, beyond the frames being written to it.
const (
	DefaultClientQueue = 64 << 20
	DefaultEngineQueue = 256 << 20
)

// DefaultHelloTimeout is how long an authenticated connection has to send
// its register or hello message before the hub closes it.
const DefaultHelloTimeout = 5 * time.Second

// ErrClosed is returned by Serve after Shutdown.
var ErrClosed = errors.New("hub closed")

// New creates a hub and binds its port; Serve runs it.
func New(cfg Config) (*Hub, error) {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 500 * time.Millisecond
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = 2500 * time.Millisecond
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = quic.DefaultMaxFrame
	}
	if cfg.MaxValue <= 0 {
		cfg.MaxValue = quic.DefaultMaxValue
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = DefaultHelloTimeout
	}
	if cfg.ClientQueue <= 0 {
		cfg.ClientQueue = DefaultClientQueue
	}
	if cfg.EngineQueue <= 0 {
		cfg.EngineQueue = DefaultEngineQueue
	}
	if cfg.RestoreGrace == 0 {
		cfg.RestoreGrace = 10 * time.Second
	}
	if cfg.Restore && cfg.ProfileDir != "" {
		cfg.Addr = restoreAddr(cfg.ProfileDir, cfg.Addr)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	id, key, err := identity(cfg)
	if err != nil {
		return nil, err
	}
	// A PING after a third of DeadAfter of silence makes every live
	// engine's transport answer, even when its stream is blocked (see
	// heartbeats).
	ln, err := quic.Listen(cfg.Addr, id, quic.Config{Key: key, MaxFrame: cfg.MaxFrame, MaxValue: cfg.MaxValue, Logger: cfg.Logger,
		KeepAlive: max(cfg.Heartbeat, cfg.DeadAfter/3), IdleTimeout: cfg.IdleTimeout})
	if err != nil {
		return nil, fmt.Errorf("start controller: %w", err)
	}
	pol := scheduler.Policy(cfg.Scheme)
	if cfg.Scheme != "" {
		if pol, err = scheduler.ParsePolicy(cfg.Scheme); err != nil {
			return nil, fmt.Errorf("start controller: %w", err)
		}
	}
	hwm := cfg.HWM
	switch {
	case hwm == 0:
		hwm = scheduler.DefaultHWM
	case hwm < 0:
		hwm = 0
	}
	prefetch := cfg.Prefetch
	if prefetch == 0 {
		prefetch = DefaultPrefetch
	}
	h := &Hub{
		cfg: cfg, log: log, ln: ln, ready: make(chan struct{}), done: make(chan struct{}),
		engines: map[int]*engine{}, clients: map[string]*client{}, tasks: map[string]*task{},
		recording: map[string]chan struct{}{},
		used:      map[int]bool{}, tick: make(chan struct{}, 1),
		sched: scheduler.New(scheduler.Config{Policy: pol, HWM: hwm, Prefetch: prefetch, Rand: mrand.IntN}), // randomly seeded
	}
	if h.db, err = openDB(cfg); err != nil {
		ln.Close()
		return nil, err
	}
	h.lastID = -1
	if cfg.Restore {
		h.lastID = readLastID(cfg.ProfileDir)
		h.nextID = h.lastID + 1
		if err := h.reload(); err != nil {
			ln.Close()
			h.db.Close()
			return nil, err
		}
	}
	h.clusterID = clusterID(cfg.ProfileDir)
	h.conn = &profile.Connection{
		Addresses:   []string{location(cfg.Location, ln.Addr())},
		Fingerprint: id.Fingerprint,
		Key:         hex.EncodeToString(key),
		ClusterID:   h.clusterID,
		Version:     protocol.Version,
		Profile:     cfg.ProfileDir,
		PID:         os.Getpid(),
	}
	if cfg.ProfileDir != "" {
		for _, eng := range []bool{true, false} {
			if err := profile.Write(profile.ConnectionPath(cfg.ProfileDir, eng), h.conn); err != nil {
				ln.Close()
				h.db.Close()
				return nil, err
			}
		}
	}
	return h, nil
}

func identity(cfg Config) (*quic.Identity, []byte, error) {
	id, key := cfg.Identity, cfg.Key
	var err error
	if id == nil {
		if cfg.ProfileDir != "" {
			id, err = quic.LoadOrCreateIdentity(profile.SecurityDir(cfg.ProfileDir))
		} else {
			id, err = quic.NewIdentity()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("controller identity: %w", err)
		}
	}
	if key == nil {
		key, err = clusterKey(cfg.ProfileDir)
		if err != nil {
			return nil, nil, err
		}
	}
	return id, key, nil
}

// clusterKey loads the profile's key, or makes a new one (kept in the
// profile when there is one).
func clusterKey(dir string) ([]byte, error) {
	if dir != "" {
		if c, err := profile.Read(profile.ConnectionPath(dir, false)); err == nil {
			if k, err := c.KeyBytes(); err == nil {
				return k, nil
			}
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	return key, nil
}

func clusterID(dir string) string {
	if dir != "" {
		if c, err := profile.Read(profile.ConnectionPath(dir, false)); err == nil && c.ClusterID != "" {
			return c.ClusterID
		}
	}
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func location(loc string, addr net.Addr) string {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return addr.String()
	}
	port := fmt.Sprint(ua.Port)
	if loc != "" {
		return net.JoinHostPort(loc, port)
	}
	if ua.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			return net.JoinHostPort(h, port)
		}
	}
	return net.JoinHostPort(ua.IP.String(), port)
}

// Connection returns what the connection files hold.
func (h *Hub) Connection() *profile.Connection { c := *h.conn; return &c }

// Addr returns the bound UDP address.
func (h *Hub) Addr() net.Addr { return h.ln.Addr() }

// Ready is closed once the hub accepts connections.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Serve accepts connections until ctx is done or Shutdown is called.
func (h *Hub) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	h.mu.Lock()
	h.stop = cancel
	h.mu.Unlock()
	defer close(h.done)
	defer cancel()
	if h.cfg.GovernProcs {
		defer procs.Hold()()
	}
	if c := h.cfg.KeepAwake; len(c) > 0 {
		if why := keepawake.Pointless(); why != "" {
			h.log.Info("no spinner: " + why)
		} else if w, err := keepawake.Start(c[0], c[1:]...); err != nil {
			h.log.Warn("no spinner: round trips may wait for idle processors to wake", "err", err)
		} else {
			h.awake = w
			defer w.Close()
		}
	}
	go h.heartbeats(ctx)
	go h.deadlines(ctx)
	if h.restoring {
		t := time.AfterFunc(h.cfg.RestoreGrace, h.settle)
		defer t.Stop()
	}
	close(h.ready)
	h.log.Info("controller listening", "addr", h.conn.Addresses[0], "cluster", h.clusterID)
	for {
		c, err := h.ln.Accept(ctx)
		if err != nil {
			h.closeAll()
			if ctx.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("controller accept: %w", err)
		}
		go h.serveConn(ctx, c)
	}
}

// Shutdown stops the hub, closing every connection.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	stop := h.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
		<-h.done
	}
	h.ln.Close()
}

func (h *Hub) closeAll() {
	h.ln.Close()
	defer h.db.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.engines {
		e.conn.c.Close(uint64(protocol.CodeShutdown), "controller shutting down")
	}
	for _, c := range h.clients {
		c.conn.Close(uint64(protocol.CodeShutdown), "controller shutting down")
	}
}

// serveConn reads a connection's first message to learn its role.
func (h *Hub) serveConn(ctx context.Context, c *quic.Conn) {
	quiet := time.AfterFunc(h.cfg.HelloTimeout, func() {
		why := "no register or hello within " + h.cfg.HelloTimeout.String()
		h.log.Warn("closing connection", "peer", c.RemoteAddr(), "err", why)
		c.Close(uint64(protocol.CodeBadFrame), why)
	})
	p, err := c.ReadFrame()
	if !quiet.Stop() || err != nil {
		return
	}
	t, hb, _, err := protocol.Split(p)
	if err != nil {
		h.refuse(c, protocol.CodeBadFrame, err)
		return
	}
	switch t {
	case protocol.TRegister:
		var r protocol.Register
		if err := protocol.UnmarshalHeader(hb, &r); err != nil {
			h.refuse(c, protocol.CodeBadFrame, err)
			return
		}
		h.serveEngine(ctx, c, &r)
	case protocol.TMux:
		h.serveProcess(ctx, c, p)
	case protocol.THello:
		var m protocol.Hello
		if err := protocol.UnmarshalHeader(hb, &m); err != nil {
			h.refuse(c, protocol.CodeBadFrame, err)
			return
		}
		h.serveClient(ctx, c, &m)
	default:
		h.refuse(c, protocol.CodeUnknownType, fmt.Errorf("first message %s, want register or hello", t))
	}
}

// refuse closes a connection, after sending what was queued for it (a
// refusal's reply) for at most refuseFlush.
func (h *Hub) refuse(c *quic.Conn, code protocol.Code, err error) {
	h.log.Warn("closing connection", "peer", c.RemoteAddr(), "code", code.String(), "err", err)
	c.Flush(refuseFlush)
	c.Close(uint64(code), fmt.Sprintf("%s: %v", code, err))
}

const refuseFlush = time.Second

func send(c frameWriter, t protocol.Type, hdr any, body []byte) error {
	p, err := protocol.Marshal(t, hdr, nil)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return c.WriteFrame(p)
	}
	return c.WriteFrame(p, body)
}

func dbPath(dir string) string { return filepath.Join(dir, profile.DatabaseFile) }
