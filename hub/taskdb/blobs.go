package taskdb

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/pxsh/pxsh/protocol"
)

// LargeResult is the size above which an on-disk database keeps a result
// in a file of its own, in the directory BlobDir names, instead of in the
// SQLite row: one write of the bytes instead of SQLite's pages, its
// write-ahead log and the checkpoint (pushing and pulling 10 MB on 2
// engines spent a third of its time storing the two results in SQLite).
// The row holds a small marker; Get and Query read the file back, so
// get_result and db_query return such results whole. In-memory databases
// keep every result in SQLite. 256 KiB: a file costs a quarter of the
// CPU of a row already for a 512 KiB result (a map chunk's;
// BenchmarkLargeResult).
const LargeResult = 256 << 10

// tagBlob marks, in the result column, a result kept in a file; its
// content is the result's size.
const tagBlob = 40391

// blobMarkerPrefix is how tagBlob starts in CBOR (0xd9, then the tag
// number as two bytes).
var blobMarkerPrefix = []byte{0xd9, tagBlob >> 8, tagBlob & 0xff}

// BlobDir is the directory of the result files of the database at path.
func BlobDir(path string) string { return path + "-results" }

// blobName is the file of a task's result (its msg id in hex, or "" when
// the id is too long for a file name).
func (w *writer) blobName(msgID string) string {
	if w.blobDir == "" || len(msgID) > 100 {
		return ""
	}
	return filepath.Join(w.blobDir, hex.EncodeToString([]byte(msgID)))
}

// externalize moves a large result of r into its file and leaves the
// marker in r.Result; when the file cannot be written the result stays
// in the row.
func (w *writer) externalize(r *Record) {
	if len(r.Result) <= LargeResult {
		return
	}
	name := w.blobName(r.MsgID)
	if name == "" {
		return
	}
	if err := os.WriteFile(name, r.Result, 0o600); err != nil {
		w.log.Warn("taskdb: result kept in the database", "msg_id", r.MsgID, "err", err)
		return
	}
	r.Result = blobMarker(int64(len(r.Result)))
}

// isBlobMarker reports whether a stored result is a marker.
func isBlobMarker(b []byte) bool {
	return len(b) <= 16 && bytes.HasPrefix(b, blobMarkerPrefix)
}

// readBlob returns the result a marker stands for.
func (db *DB) readBlob(msgID string, stored []byte) ([]byte, error) {
	if !isBlobMarker(stored) || db.blobDir == "" {
		return stored, nil
	}
	b, err := os.ReadFile(filepath.Join(db.blobDir, hex.EncodeToString([]byte(msgID))))
	if err != nil {
		return nil, fmt.Errorf("result of %s: %w", msgID, err)
	}
	return b, nil
}

// collectBlobs removes the result files whose records are gone; it runs
// after purges and culls that deleted records.
func (w *writer) collectBlobs(ctx context.Context) {
	if w.blobDir == "" {
		return
	}
	ents, err := os.ReadDir(w.blobDir)
	if err != nil || len(ents) == 0 {
		return
	}
	for _, e := range ents {
		id, err := hex.DecodeString(e.Name())
		if err != nil || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, err := w.conn.queryInt(ctx, `SELECT count(*) FROM tasks WHERE msg_id = ?`, string(id))
		if err == nil && n == 0 {
			os.Remove(filepath.Join(w.blobDir, e.Name()))
		}
	}
}

// StoreLargeFrom writes a large result of size bytes, which src writes
// as it arrives (a memfd body copies itself into the file in the
// kernel), into its file, and returns what to record as the result: the
// marker of the file. The file appears under its name only once
// complete. An in-memory database keeps the result itself.
func (db *DB) StoreLargeFrom(msgID string, size int64, src io.WriterTo) ([]byte, error) {
	if db.blobDir == "" || len(msgID) > 100 {
		var buf bytes.Buffer
		buf.Grow(int(size))
		if _, err := src.WriteTo(&buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	name := filepath.Join(db.blobDir, hex.EncodeToString([]byte(msgID)))
	f, err := os.CreateTemp(db.blobDir, ".partial-*")
	if err != nil {
		return nil, fmt.Errorf("store result of %s: %w", msgID, err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if n, err := src.WriteTo(f); err != nil || n != size {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%d bytes of %d", n, size)
		}
		return nil, fmt.Errorf("store result of %s: %w", msgID, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store result of %s: %w", msgID, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return nil, fmt.Errorf("store result of %s: %w", msgID, err)
	}
	return blobMarker(size), nil
}

// blobMarker is the marker of a result of size bytes kept in a file.
func blobMarker(size int64) []byte {
	marker, _ := protocol.MarshalValue(cbor.Tag{Number: tagBlob, Content: uint64(size)})
	return marker
}

// LargeSize reports the size of a result kept in a file, from what a
// record holds (see GetLazy), or false for a result held in the record.
func LargeSize(stored []byte) (int64, bool) {
	if !isBlobMarker(stored) {
		return 0, false
	}
	var tag cbor.Tag
	if err := protocol.UnmarshalValue(stored, &tag); err != nil || tag.Number != tagBlob {
		return 0, false
	}
	n, ok := tag.Content.(uint64)
	return int64(n), ok
}

// OpenLarge opens the file of a result kept in a file.
func (db *DB) OpenLarge(msgID string) (*os.File, error) {
	if db.blobDir == "" {
		return nil, fmt.Errorf("result of %s: no result files in memory", msgID)
	}
	f, err := os.Open(filepath.Join(db.blobDir, hex.EncodeToString([]byte(msgID))))
	if err != nil {
		return nil, fmt.Errorf("result of %s: %w", msgID, err)
	}
	return f, nil
}
