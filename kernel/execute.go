package kernel

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pxsh/pxsh/shell"
	"go.starlark.net/starlark"
)

// execute is the executor: it connects the session to its cluster, then
// runs the queued shell requests one at a time until ctx ends or the
// queue closes.
func (k *Kernel) execute(ctx context.Context) {
	k.start(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-k.queue:
			if !ok {
				return
			}
			k.busy(m, func() { k.handleShell(ctx, m) })
		}
	}
}

// start connects the session (a private cluster, or the profile's) and
// binds rc; after a failure each execute_request tries again and warns.
func (k *Kernel) start(ctx context.Context) error {
	if k.started {
		return nil
	}
	if err := k.sh.Start(ctx); err != nil {
		return err
	}
	k.started = true
	return nil
}

func (k *Kernel) handleShell(ctx context.Context, m *Message) {
	switch m.Header.MsgType {
	case "execute_request":
		if !k.executeRequest(ctx, m) {
			k.abortQueued()
		}
	case "complete_request":
		k.reply(k.shellSock, &k.shellMu, m, "complete_reply", k.complete(m))
	case "inspect_request":
		k.reply(k.shellSock, &k.shellMu, m, "inspect_reply", k.inspect(m))
	case "is_complete_request":
		var req struct {
			Code string `json:"code"`
		}
		json.Unmarshal(m.Content, &req)
		status, indent := shell.IsComplete(req.Code)
		content := map[string]any{"status": status}
		if status == "incomplete" {
			content["indent"] = indent
		}
		k.reply(k.shellSock, &k.shellMu, m, "is_complete_reply", content)
	case "comm_info_request":
		k.reply(k.shellSock, &k.shellMu, m, "comm_info_reply", map[string]any{"status": "ok", "comms": map[string]any{}})
	case "history_request":
		k.reply(k.shellSock, &k.shellMu, m, "history_reply", map[string]any{"status": "ok", "history": []any{}})
	case "shutdown_request":
		k.shutdown(k.shellSock, &k.shellMu, m)
	default:
		fmt.Fprintf(k.log, "pxsh kernel: shell: ignored %s\n", m.Header.MsgType)
	}
}

// executeRequest runs one cell and reports whether it succeeded (or the
// request did not ask to stop on errors).
func (k *Kernel) executeRequest(ctx context.Context, m *Message) bool {
	req := struct {
		Code         string `json:"code"`
		Silent       bool   `json:"silent"`
		StoreHistory *bool  `json:"store_history"`
		StopOnError  *bool  `json:"stop_on_error"`
	}{}
	if err := json.Unmarshal(m.Content, &req); err != nil {
		k.replyError(m, fmt.Errorf("execute_request: %w", err), false)
		return true
	}
	if !req.Silent && (req.StoreHistory == nil || *req.StoreHistory) {
		k.count++
	}
	if !req.Silent {
		k.publish(m, "execute_input", map[string]any{"code": req.Code, "execution_count": k.count})
	}
	k.streams.setParent(m.RawHeader)
	defer k.streams.setParent(nil)
	cctx, cancel := context.WithCancel(ctx)
	k.mu.Lock()
	k.cancel = cancel
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.cancel = nil
		k.mu.Unlock()
		cancel()
	}()
	if err := k.start(cctx); err != nil && cctx.Err() == nil {
		// The cell still runs (rc unbound); the next cell tries again.
		fmt.Fprintf(k.streams.writer("stderr"), "pxsh: no cluster, rc is not bound: %v\n", err)
	}
	v, err := k.sh.RunCell(cctx, fmt.Sprintf("<cell %d>", k.count), req.Code)
	k.streams.flush()
	if err != nil {
		if cctx.Err() != nil {
			err = context.Canceled
		}
		k.replyError(m, err, !req.Silent)
		return req.StopOnError != nil && !*req.StopOnError
	}
	if v != nil && v != starlark.None && !req.Silent {
		k.publish(m, "execute_result", map[string]any{"execution_count": k.count, "data": mimeBundle(v), "metadata": map[string]any{}})
	}
	k.reply(k.shellSock, &k.shellMu, m, "execute_reply", map[string]any{
		"status": "ok", "execution_count": k.count, "user_expressions": map[string]any{}, "payload": []any{},
	})
	return true
}

// replyError publishes an error (when show) and sends the error reply.
func (k *Kernel) replyError(m *Message, err error, show bool) {
	ename, evalue, tb := shell.ErrorParts(err)
	content := map[string]any{"ename": ename, "evalue": evalue, "traceback": tb}
	if show {
		k.publish(m, "error", content)
	}
	content["status"] = "error"
	content["execution_count"] = k.count
	content["user_expressions"] = map[string]any{}
	content["payload"] = []any{}
	k.reply(k.shellSock, &k.shellMu, m, "execute_reply", content)
}

// abortQueued answers the execute requests already queued after a failed
// cell with status "aborted", as IPython does; other requests are served.
func (k *Kernel) abortQueued() {
	for {
		select {
		case m, ok := <-k.queue:
			if !ok {
				return
			}
			k.busy(m, func() {
				if m.Header.MsgType != "execute_request" {
					k.handleShell(context.Background(), m)
					return
				}
				k.reply(k.shellSock, &k.shellMu, m, "execute_reply", map[string]any{"status": "aborted", "execution_count": k.count})
			})
		default:
			return
		}
	}
}
