package hub

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pxsh/pxsh/hub/taskdb"
	"github.com/pxsh/pxsh/protocol"
	"github.com/pxsh/pxsh/quic"
)

// Streamed values (docs/ARCHITECTURE.md, "Message sizes"): a request or
// result whose body is quic.StreamMin bytes or more reaches the hub as a
// head and a body that arrives in chunks. The hub forwards the head at
// once and the chunks as they arrive (quic.Body.Tee for several
// receivers), never holding the whole body: per transfer it holds at
// most the chunks queued in the incoming body and in each branch.

// clientStream handles a client's streamed frame: a request whose body
// passes through to its engine(s) in chunks.
func (h *Hub) clientStream(cl *client, p []byte, body *quic.Body) error {
	t, hb, rest, err := protocol.Split(p)
	if err == nil && (t != protocol.TRequest || len(rest) != 0) {
		err = fmt.Errorf("unexpected streamed %s from client", t)
	}
	var r protocol.Request
	if err == nil {
		err = protocol.UnmarshalHeader(hb, &r)
	}
	if err != nil {
		body.Discard()
		return err
	}
	if len(r.Fan) == 0 && r.Engine < 0 {
		go h.balancedStream(cl, &r, body)
		return nil
	}
	return h.streamRequest(cl, &r, body)
}

// balancedStream assembles the body of a load-balanced request (the
// scheduler may hold it and send it again): such a body is bounded by
// the frame limit.
func (h *Hub) balancedStream(cl *client, r *protocol.Request, body *quic.Body) {
	var b []byte
	err := error(&protocol.TooLargeError{What: "the body of a load-balanced request", Size: body.Size(), Limit: int64(h.cfg.MaxFrame)})
	if body.Size() <= int64(h.cfg.MaxFrame) {
		b, err = body.Bytes()
	} else {
		body.Discard()
	}
	if err == nil {
		h.request(cl, r, b)
		return
	}
	t := &task{req: *r, client: cl.id, engine: -1, balanced: true, streamed: body.Size()}
	t.req.Client = cl.id
	h.fail(t, -1, &protocol.RemoteError{Name: "ValueError", Message: err.Error(), Engine: -1, Method: string(r.Kind)})
}

// carrier is an engine that gets a streamed body.
type carrier struct {
	e   *engine
	t   *task
	hdr []byte
}

// streamRequest forwards a direct or fanned-out request whose body is
// streamed: the head to every target at once, the body's chunks to one
// engine per engine process as they arrive.
func (h *Hub) streamRequest(cl *client, r *protocol.Request, body *quic.Body) error {
	fan := r.Fan
	r.Fan = nil
	if len(fan) == 0 {
		fan = []protocol.FanTarget{{MsgID: r.MsgID, Engine: r.Engine}}
	}
	for _, ft := range fan {
		if ft.MsgID == "" || ft.Engine < 0 {
			body.Discard()
			return fmt.Errorf("streamed request with a bad target (msg id %q, engine %d)", ft.MsgID, ft.Engine)
		}
	}
	shares := h.shares(cl, fan, int(min(body.Size(), 1<<40)))
	var carriers []carrier
	for i, ft := range fan {
		one := *r
		one.MsgID, one.Engine = ft.MsgID, ft.Engine
		c, ok := h.streamTask(cl, &one, body.Size(), shares[i])
		if !ok {
			continue
		}
		if sh := shares[i]; sh.key != "" && !sh.carrier {
			if err := c.e.conn.WriteFrame(c.hdr); err != nil {
				h.engineRefused(c.e, c.t, err)
			}
			continue
		}
		carriers = append(carriers, c)
	}
	if len(carriers) == 0 {
		body.Discard()
		return nil
	}
	branches := []*quic.Body{body}
	if len(carriers) > 1 {
		branches = body.Tee(len(carriers))
	}
	for i, c := range carriers {
		if err := c.e.conn.WriteStream(c.hdr, branches[i]); err != nil {
			h.engineRefused(c.e, c.t, err)
		}
	}
	return nil
}

// streamTask registers and records one task of a streamed request and
// returns its engine and the head to send; ok is false when the task
// failed at once (its engine is not registered).
func (h *Hub) streamTask(cl *client, r *protocol.Request, size int64, sh share) (c carrier, ok bool) {
	r.Client = cl.id
	if r.Submitted == 0 {
		r.Submitted = time.Now().UnixNano()
	}
	t := &task{req: *r, client: cl.id, engine: r.Engine, streamed: size}
	w := *r
	if sh.key != "" {
		if sh.carrier {
			w.Share, w.ShareN = sh.key, sh.n
		} else {
			t.req.BodyOf = sh.from // recorded once, with the carrier's task
			w.SharedBody = sh.key
		}
	}
	hdr, herr := protocol.Marshal(protocol.TRequest, &w, nil)
	h.mu.Lock()
	e := h.engines[r.Engine]
	if e != nil {
		h.tasks[r.MsgID] = t
		e.tasks[r.MsgID] = t
		if herr == nil && e.maxValue > 0 && size > e.maxValue && !(sh.key != "" && !sh.carrier) {
			herr = &protocol.TooLargeError{What: "the " + string(r.Kind) + " request for engine " + fmt.Sprint(e.info.ID), Size: size, Limit: e.maxValue}
		}
	}
	h.recordSubmitted(t)
	h.mu.Unlock()
	if e == nil {
		h.failUnregistered(t)
		return c, false
	}
	if herr != nil {
		h.engineRefused(e, t, herr)
		return c, false
	}
	return carrier{e: e, t: t, hdr: hdr}, true
}

// engineStream handles an engine's streamed frame: a result whose value
// passes through to its client(s) and into the task database.
func (h *Hub) engineStream(e *engine, p []byte, body *quic.Body) error {
	t, hb, rest, err := protocol.Split(p)
	if err == nil && (t != protocol.TResult || len(rest) != 0) {
		err = fmt.Errorf("unexpected streamed %s from engine", t)
	}
	var r protocol.Result
	if err == nil {
		err = protocol.UnmarshalHeader(hb, &r)
	}
	if err != nil {
		body.Discard()
		return err
	}
	h.mu.Lock()
	e.lastSeen = time.Now()
	h.mu.Unlock()
	h.streamResult(e, &r, p, body)
	return nil
}

// streamResult routes a streamed result like engineResult: the head to
// the task's client and watchers, the value's chunks to them and into
// the result's file in the task database as they arrive.
func (h *Hub) streamResult(e *engine, r *protocol.Result, head []byte, body *quic.Body) {
	var out outbox
	var to []*quic.Conn
	record := false
	deliver := func(t *task) {
		if cl := h.clients[t.client]; cl != nil {
			to = append(to, cl.conn)
		}
		for _, w := range t.watchers {
			if cl := h.clients[w]; cl != nil {
				to = append(to, cl.conn)
			}
		}
	}
	h.mu.Lock()
	t := h.tasks[r.MsgID]
	switch {
	case t != nil && t.restored:
		delete(h.tasks, r.MsgID)
		delete(e.tasks, r.MsgID)
		record = true
		deliver(t)
	case t != nil && t.engine == e.info.ID:
		delete(h.tasks, r.MsgID)
		delete(e.tasks, r.MsgID)
		e.completed++
		if !t.balanced || h.balancedResult(t, e, r, &out) {
			record = true
			deliver(t)
		}
	case t == nil && h.restoring:
		// As engineResult: its client gets it only if it waits for it.
		record = true
		if cl := h.clients[r.Client]; cl != nil && h.resumed[r.Client][r.MsgID] {
			to = append(to, cl.conn)
		}
	}
	var recorded chan struct{}
	if record {
		// Until it is recorded, get_result waits for it (the value's
		// copy into its file may end after the client has it).
		recorded = make(chan struct{})
		h.recording[r.MsgID] = recorded
	}
	h.mu.Unlock()
	// Messages for other tasks (dependents dispatched, retries) leave
	// after this result's head: a dependent's result cannot overtake it.
	defer out.flush()
	n := len(to)
	if record {
		n++
	}
	if n == 0 {
		body.Discard()
		return
	}
	branches := []*quic.Body{body}
	if n > 1 {
		branches = body.Tee(n)
	}
	for i, c := range to {
		c.WriteStream(head, branches[i]) // a failed write discards its branch
	}
	if record {
		go h.recordStreamedResult(*r, branches[n-1], recorded)
	}
}

// recordStreamedResult writes a streamed result's value into its file in
// the task database as it arrives, then records the result. A value
// that does not arrive whole is recorded as the task's error.
func (h *Hub) recordStreamedResult(r protocol.Result, body *quic.Body, recorded chan struct{}) {
	defer func() {
		h.mu.Lock()
		if h.recording[r.MsgID] == recorded {
			delete(h.recording, r.MsgID)
		}
		h.mu.Unlock()
		close(recorded)
	}()
	// A memfd value is copied into its file by sendfile; the client has
	// it already.
	marker, err := h.db.StoreLargeFrom(r.MsgID, body.Size(), body)
	if err != nil {
		body.Discard()
		h.log.Warn("large result not stored", "msg_id", r.MsgID, "size", body.Size(), "err", err)
		r.Status, r.HasValue = protocol.StatusError, false
		r.Error = &protocol.RemoteError{Name: "EngineError", Engine: r.Engine, Method: string(r.Kind),
			Message: fmt.Sprintf("the result (%s) was not stored: %v", protocol.FormatSize(body.Size()), err)}
	}
	h.stats.bytesOut.Add(uint64(body.Size()))
	h.recordResult(&r, marker)
}

// streamedReply is a get_result answer holding results kept in files:
// it is sent streamed, each such result read from its file as it goes.
type streamedReply struct {
	recs  []protocol.ResultRecord
	files map[int]int64 // record index → size of its result's file
}

// resultReply returns the get_result answer for recs, whose results kept
// in files are still markers: small ones are read in, large ones make a
// streamed reply.
func (h *Hub) resultReply(recs []protocol.ResultRecord) (any, error) {
	files := map[int]int64{}
	for i := range recs {
		n, ok := taskdb.LargeSize(recs[i].Body)
		if !ok {
			continue
		}
		if n >= quic.StreamMin {
			files[i] = n
			continue
		}
		f, err := h.db.OpenLarge(recs[i].MsgID)
		if err != nil {
			return nil, fmt.Errorf("get_result: %w", err)
		}
		recs[i].Body, err = io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("get_result: %w", err)
		}
	}
	if len(files) == 0 {
		return recs, nil
	}
	return &streamedReply{recs: recs, files: files}, nil
}

// sendStreamed sends a streamed get_result answer. The answer is encoded
// with a unique placeholder for each result kept in a file; the body is
// the encoding with each placeholder replaced by the byte string's header
// and the file's content.
func (h *Hub) sendStreamed(cl *client, rep *protocol.ControlReply, sr *streamedReply) error {
	marks := map[int][]byte{}
	for i := range sr.files {
		m := make([]byte, 24)
		rand.Read(m)
		marks[i] = m
		sr.recs[i].Body = m
	}
	enc, err := protocol.MarshalValue(sr.recs)
	if err != nil {
		return fmt.Errorf("get_result: %w", err)
	}
	var parts []*quic.Body
	var total int64
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for i := range sr.recs {
		size, ok := sr.files[i]
		if !ok {
			continue
		}
		mark := append([]byte{0x58, 24}, marks[i]...) // the placeholder as CBOR: a 24-byte string
		at := bytes.Index(enc, mark)
		if at < 0 {
			closeAll()
			return errors.New("get_result: placeholder not found")
		}
		f, err := h.db.OpenLarge(sr.recs[i].MsgID)
		if err != nil {
			closeAll()
			return fmt.Errorf("get_result: %w", err)
		}
		files = append(files, f)
		before := append(enc[:at:at], cborBytesHeader(size)...)
		parts = append(parts, quic.NewBody(before), quic.NewBodyReader(f, size, func() { f.Close() }))
		total += int64(len(before)) + size
		enc = enc[at+len(mark):]
	}
	parts = append(parts, quic.NewBody(enc))
	total += int64(len(enc))
	if total > h.cfg.MaxValue {
		closeAll()
		return fmt.Errorf("get_result: %w", &protocol.TooLargeError{What: "the reply", Size: total, Limit: h.cfg.MaxValue})
	}
	head, err := protocol.Marshal(protocol.TControlReply, rep, nil)
	if err != nil {
		closeAll()
		return err
	}
	return cl.conn.WriteStream(head, quic.JoinBodies(parts...))
}

// cborBytesHeader is the head of a CBOR byte string of n bytes.
func cborBytesHeader(n int64) []byte {
	switch {
	case n < 24:
		return []byte{0x40 | byte(n)}
	case n < 1<<8:
		return []byte{0x58, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{0x59}, uint16(n))
	case n < 1<<32:
		return binary.BigEndian.AppendUint32([]byte{0x5a}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{0x5b}, uint64(n))
}
