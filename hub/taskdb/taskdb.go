// Package taskdb is the hub's durable task database: one SQLite row per task
// (request, outcome, timestamps), written asynchronously in group-committed
// batches by a single writer goroutine and read back for Mongo-style
// queries, hub history, result retrieval, purging and recovery after a
// restart.
//
// It owns the SQLite schema and nothing else. It imports no pxsh package
// except protocol, and it does no networking.
package taskdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pxsh/pxsh/protocol"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Task statuses stored in Record.Status.
const (
	StatusPending = "pending"
	StatusRunning = "running"
	StatusOK      = "ok"
	StatusError   = "error"
	StatusAborted = "aborted"
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("task db closed")

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 1

// queueSize bounds the writer's queue; callers block only when it is full.
const queueSize = 1 << 16

// maxBatch bounds the operations committed in one transaction.
const maxBatch = 8192

// cullInterval is how often the writer applies the retention limits.
const cullInterval = time.Second

// Config configures a DB. The zero value is an in-memory database with
// unlimited retention.
type Config struct {
	// Path is the SQLite file; "" or ":memory:" keeps the database in
	// memory (for throwaway clusters). A new file is created with mode 0600.
	Path string
	// MaxRecords keeps at most this many finished records, culling the
	// oldest first; 0 means unlimited.
	MaxRecords int
	// MaxAge culls finished records completed longer ago than this; 0 means
	// unlimited.
	MaxAge time.Duration
	// FlushInterval is the longest a write waits for its batch to be
	// committed after the batch's first write; 0 means 10ms.
	FlushInterval time.Duration
	// Logger receives write failures and culling reports; nil is silent.
	Logger *slog.Logger
	// FailWrites, when set, is called before each write transaction; an
	// error fails it as the storage would (tests inject failures).
	FailWrites func() error

	// noBlobs keeps large results in the rows (benchmarks compare).
	noBlobs bool
}

// Record is one task. Zero times mean unset; EngineID -1 means no engine.
type Record struct {
	MsgID    string
	ClientID string
	EngineID int
	// ViewKind is "direct" or "balanced".
	ViewKind string
	Label    string
	Kind     string
	Name     string

	Submitted, Started, Completed time.Time
	// Status is one of the Status constants.
	Status string

	// Request is the request frame's body (code, or function and args).
	Request []byte
	// RequestHeader is the encoded protocol.Request header, so that a
	// restarted hub can resubmit the task.
	RequestHeader []byte
	// Result is the encoded value body; HasValue says it holds a value.
	Result   []byte
	HasValue bool
	Stdout   string
	Stderr   string
	Error    *protocol.RemoteError
	// Resubmitted is the new msg id when the task was resubmitted.
	Resubmitted string
}

// DB is the task database. It is safe for concurrent use. The write methods
// (Submitted, Started, Finished) return at once; their effects become
// visible to reads after the next commit (Flush waits for it).
type DB struct {
	sql     *sql.DB
	wconn   *sql.Conn
	log     *slog.Logger
	cfg     Config
	ops     chan op
	urgent  chan struct{} // a call waits: the writer commits without its batching sleep
	done    chan struct{} // closed when the writer has exited
	mu      sync.RWMutex  // guards closed against sends on ops
	closed  bool
	errMu   sync.Mutex
	werr    error    // first write error since the last Flush
	failing *failure // set while writes fail (health.go)
	blobDir string   // large results' files; "" in memory (blobs.go)
}

// Open opens (creating if needed) the database described by cfg and starts
// its writer.
func Open(cfg Config) (*DB, error) {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 10 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	memory := cfg.Path == "" || cfg.Path == ":memory:"
	var dsn string
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if memory {
		// The memdb VFS with a name starting with "/" is shared by every
		// connection of this process, so the writer and readers see one
		// database; the random name keeps DBs apart.
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("open task db: %w", err)
		}
		q.Add("vfs", "memdb")
		dsn = "file:/pxsh-taskdb-" + hex.EncodeToString(b[:]) + "?" + q.Encode()
	} else {
		f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
		}
		f.Close()
		if err := os.MkdirAll(BlobDir(cfg.Path), 0o700); err != nil {
			return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
		}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// SQLite reads the name as a URI: escape what would end the path.
		esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(cfg.Path)
		dsn = "file:" + esc + "?" + q.Encode()
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
	}
	if memory {
		// The in-memory database lives as long as one connection does.
		sdb.SetConnMaxIdleTime(0)
		sdb.SetConnMaxLifetime(0)
	}
	ctx := context.Background()
	wconn, err := sdb.Conn(ctx)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
	}
	// The writer gets a larger page cache and checkpoints less often, in
	// bigger steps (the WAL grows to about 40 MB between checkpoints).
	// Its statement journals (a multi-row statement's undo, multirow.go)
	// stay in memory rather than in temporary files.
	if _, err := wconn.ExecContext(ctx, "PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY"); err != nil {
		wconn.Close()
		sdb.Close()
		return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
	}
	if !memory {
		if _, err := wconn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 10000"); err != nil {
			wconn.Close()
			sdb.Close()
			return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
		}
	}
	if err := initSchema(ctx, wconn); err != nil {
		wconn.Close()
		sdb.Close()
		return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
	}
	db := &DB{
		sql: sdb, wconn: wconn, log: log, cfg: cfg, blobDir: blobDirOf(cfg.Path, memory || cfg.noBlobs),
		ops: make(chan op, queueSize), urgent: make(chan struct{}, 1), done: make(chan struct{}),
	}
	// The writer runs inside Raw for its whole life, holding the write
	// connection and using the driver directly.
	ready := make(chan error, 1)
	go func() {
		err := wconn.Raw(func(dc any) error {
			rc, err := newRawConn(dc)
			if err != nil {
				return err
			}
			w, err := newWriter(ctx, rc, cfg, log)
			if err != nil {
				return err
			}
			w.db = db
			w.blobDir = db.blobDir
			ready <- nil
			w.run()
			return nil
		})
		if err != nil {
			ready <- err
			close(db.done)
		}
	}()
	if err := <-ready; err != nil {
		wconn.Close()
		sdb.Close()
		return nil, fmt.Errorf("open task db %s: %w", cfg.Path, err)
	}
	return db, nil
}

// blobDirOf is the directory of large results, "" for a memory database.
func blobDirOf(path string, memory bool) string {
	if memory {
		return ""
	}
	return BlobDir(path)
}

const schema = `
CREATE TABLE IF NOT EXISTS tasks (
	seq            INTEGER PRIMARY KEY,
	msg_id         TEXT NOT NULL UNIQUE,
	client_id      TEXT NOT NULL DEFAULT '',
	engine_id      INTEGER,
	view_kind      TEXT NOT NULL DEFAULT '',
	label          TEXT NOT NULL DEFAULT '',
	kind           TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL DEFAULT '',
	submitted      INTEGER,
	started        INTEGER,
	completed      INTEGER,
	status         TEXT NOT NULL,
	request        BLOB,
	request_header BLOB,
	result         BLOB,
	has_value      INTEGER NOT NULL DEFAULT 0,
	stdout         TEXT NOT NULL DEFAULT '',
	stderr         TEXT NOT NULL DEFAULT '',
	err_name       TEXT,
	err_message    TEXT,
	err_traceback  TEXT,
	err_engine     INTEGER,
	err_method     TEXT,
	resubmitted    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_completed ON tasks(completed) WHERE completed IS NOT NULL;
`

func initSchema(ctx context.Context, c *sql.Conn) error {
	var v int
	if err := c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than %d", v, schemaVersion)
	}
	if _, err := c.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	return nil
}

// Close commits everything queued, stops the writer and closes the
// database. Writes made after Close are dropped.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.ops)
	db.mu.Unlock()
	<-db.done
	werr := errors.Join(db.takeErr(), db.Health())
	err := errors.Join(werr, db.wconn.Close(), db.sql.Close())
	if err != nil {
		return fmt.Errorf("close task db: %w", err)
	}
	return nil
}

// send queues o for the writer; it reports false after Close.
func (db *DB) send(o op) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return false
	}
	db.ops <- o
	return true
}

// Submitted queues the insertion of a new task. The DB keeps its own copy of
// r but shares r's byte slices, which the caller must not modify afterwards.
func (db *DB) Submitted(r *Record) {
	c := *r
	if c.Status == "" {
		c.Status = StatusPending
	}
	if !db.send(op{kind: opSubmit, rec: &c}) {
		db.log.Warn("taskdb: write after close dropped", "msg_id", r.MsgID)
	}
}

// Started queues marking a task as running on engine at time at.
func (db *DB) Started(msgID string, engine int, at time.Time) {
	if !db.send(op{kind: opStart, rec: &Record{MsgID: msgID, EngineID: engine, Started: at}}) {
		db.log.Warn("taskdb: write after close dropped", "msg_id", msgID)
	}
}

// Finished queues recording a task's outcome: engine, started (when set),
// completed (now when unset), status, result, output, error and
// resubmission. A task never submitted is inserted whole. The same
// ownership rule as Submitted applies to r.
func (db *DB) Finished(r *Record) {
	c := *r
	if c.Completed.IsZero() {
		c.Completed = time.Now()
	}
	if c.Status == "" || c.Status == StatusPending || c.Status == StatusRunning {
		c.Status = StatusOK
		if c.Error != nil {
			c.Status = StatusError
		}
	}
	if !db.send(op{kind: opFinish, rec: &c}) {
		db.log.Warn("taskdb: write after close dropped", "msg_id", r.MsgID)
	}
}

// Flush waits until every write queued before it is committed (or held,
// while the storage fails), and returns the first write error since the
// previous Flush, or the storage failure (ErrFailing).
func (db *DB) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := db.call(ctx, op{kind: opBarrier, reply: ch}); err != nil {
		return fmt.Errorf("flush task db: %w", err)
	}
	if err := db.takeErr(); err != nil {
		return fmt.Errorf("flush task db: %w", err)
	}
	return db.Health()
}

// call sends o to the writer and waits for its reply.
func (db *DB) call(ctx context.Context, o op) error {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.ops <- o:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	select { // cut the writer's batching sleep short
	case db.urgent <- struct{}{}:
	default:
	}
	select {
	case err := <-o.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) setErr(err error) {
	db.errMu.Lock()
	if db.werr == nil {
		db.werr = err
	}
	db.errMu.Unlock()
}

func (db *DB) takeErr() error {
	db.errMu.Lock()
	defer db.errMu.Unlock()
	err := db.werr
	db.werr = nil
	return err
}

// Purge deletes the finished records among msgIDs (unfinished ones are
// kept); nil or empty msgIDs deletes every finished record.
func (db *DB) Purge(ctx context.Context, msgIDs []string) error {
	ch := make(chan error, 1)
	if err := db.call(ctx, op{kind: opPurge, ids: msgIDs, all: len(msgIDs) == 0, reply: ch}); err != nil {
		return fmt.Errorf("purge task db: %w", err)
	}
	return nil
}
