package clientlib

// This file holds the client's job bookkeeping: rc.history, outstanding,
// results and metadata, and the methods that act on jobs (wait, abort,
// queue_status, clear, shutdown) for the client and its views.

import (
	"context"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/protocol"
	"go.starlark.net/starlark"
)

// moreClientMethods holds the client's job methods.
var moreClientMethods = map[string]builtinFunc{
	"wait":         clientWait,
	"abort":        clientAbort,
	"queue_status": clientQueueStatus,
	"engine_info":  clientEngineInfo, // engineinfo.go
	"clear":        clientClear,
	"shutdown":     clientShutdown,
	"get_result":   clientGetResult,
	// hubdb.go (the hub's task database)
	"result_status": clientResultStatus,
	"hub_history":   clientHubHistory,
	"db_query":      clientDBQuery,
	// purge.go
	"purge_results":       clientPurgeResults,
	"purge_local_results": clientPurgeLocalResults,
	"purge_hub_results":   clientPurgeHubResults,
	"purge_everything":    clientPurgeEverything,
	"resubmit":            clientResubmit,
	// lbview.go, executor.go
	"load_balanced_view": clientLoadBalancedView,
	"executor":           clientExecutor,
	// progress.go (the shell's progress bar)
	"wait_interactive": clientWaitInteractive,

	// ipyparallel's BroadcastView (docs/SCALE.md)
	"broadcast_view": clientBroadcastView,
}

// clientExtraAttrs names attributes served by extraAttr.
var clientExtraAttrs = []string{"history", "outstanding", "results", "metadata"}

func (rc *Client) extraAttr(name string) (starlark.Value, error) {
	switch name {
	case "history":
		ids := rc.h.IDs()
		vals := make([]starlark.Value, len(ids))
		for i, id := range ids {
			vals[i] = starlark.String(id)
		}
		return starlark.NewList(vals), nil
	case "outstanding":
		s := starlark.NewSet(0)
		for _, t := range rc.h.Outstanding() {
			s.Insert(starlark.String(t.MsgID))
		}
		return s, nil
	case "results", "metadata":
		d := starlark.NewDict(0)
		for _, t := range rc.h.Held() {
			if !t.Ready() {
				continue
			}
			ar := rc.NewAsyncResult(string(t.Kind), []*client.Task{t}, true)
			if name == "metadata" {
				d.SetKey(starlark.String(t.MsgID), ar.taskMetadata(t))
				continue
			}
			v, err := ar.value(nil, -1, true)
			if err != nil {
				return nil, err
			}
			d.SetKey(starlark.String(t.MsgID), v)
		}
		return d, nil
	}
	return nil, nil
}

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// asyncExtraAttrs are the future methods (executor.go) and the streaming
// ones (stream.go).
var asyncExtraAttrs = append(attrNames(nil, futureMethods, streamMethods), "data")

func (ar *AsyncResult) extraAttr(name string) (starlark.Value, error) {
	if m, ok := futureMethods[name]; ok {
		return method(ar, name, m), nil
	}
	if m, ok := streamMethods[name]; ok {
		return method(ar, name, m), nil
	}
	if name == "data" {
		return ar.dataValue()
	}
	return nil, nil
}

// jobTasks resolves jobs (None: every outstanding task; a msg id, a
// history index, an AsyncResult, or a list of these) to tasks this client
// holds.
func (rc *Client) jobTasks(jobs starlark.Value) ([]*client.Task, error) {
	rs, err := rc.resolveJobs(jobs, false)
	if err != nil {
		return nil, err
	}
	out := make([]*client.Task, len(rs))
	for i, r := range rs {
		out[i] = r.task
	}
	return out, nil
}

// clientWait implements rc.wait(jobs=None, timeout=-1): it waits for the
// jobs (all outstanding ones by default) and returns whether they all
// finished in time.
func clientWait(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var jobs starlark.Value = starlark.None
	var timeout starlark.Value = starlark.MakeInt(-1)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return rc.waitJobs(jobs, timeout, nil)
}

func (rc *Client) waitJobs(jobs, timeout starlark.Value, targets []int) (starlark.Value, error) {
	tasks, err := rc.jobTasks(jobs)
	if err != nil {
		return nil, err
	}
	tasks = onTargets(tasks, targets)
	d, err := timeoutArg(timeout)
	if err != nil {
		return nil, err
	}
	ar := rc.wrap(&client.AsyncResult{Tasks: tasks})
	ok, err := ar.wait(d)
	return starlark.Bool(ok), err
}

// onTargets keeps the tasks on the given engines (nil: all).
func onTargets(tasks []*client.Task, targets []int) []*client.Task {
	if targets == nil {
		return tasks
	}
	keep := map[int]bool{}
	for _, id := range targets {
		keep[id] = true
	}
	var out []*client.Task
	for _, t := range tasks {
		if keep[engineOf(t)] {
			out = append(out, t)
		}
	}
	return out
}

// clientAbort implements rc.abort(jobs=None, targets=None): queued tasks
// fail with TaskAborted, running ones are cancelled.
func clientAbort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var jobs, targets starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs, "targets?", &targets); err != nil {
		return nil, err
	}
	var ts []int
	if targets != starlark.None {
		v, err := rc.viewFor(targets)
		if err != nil {
			return nil, fmt.Errorf("abort: %w", err)
		}
		ts = v.Targets()
	}
	return starlark.None, rc.abortJobs(jobs, ts)
}

func (rc *Client) abortJobs(jobs starlark.Value, targets []int) error {
	tasks, err := rc.jobTasks(jobs)
	if err != nil {
		return err
	}
	var ids []string
	for _, t := range onTargets(tasks, targets) {
		if !t.Ready() {
			ids = append(ids, t.MsgID)
		}
	}
	if err := rc.c.Cancel(ids); err != nil {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}

// clientQueueStatus implements rc.queue_status(targets='all',
// verbose=False): {engine_id: {'queue': n, 'completed': n, 'tasks': n},
// 'unassigned': n}; an int target gives only that engine's dict.
func clientQueueStatus(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.String("all")
	var verbose bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets, "verbose?", &verbose); err != nil {
		return nil, err
	}
	v, err := rc.viewFor(targets)
	if err != nil {
		return nil, fmt.Errorf("queue_status: %w", err)
	}
	return rc.queueStatus(v, verbose)
}

func (rc *Client) queueStatus(v *DirectView, verbose bool) (starlark.Value, error) {
	st, err := rc.c.QueueStatus(rc.env.ctx(), verbose)
	if err != nil {
		return nil, err
	}
	entry := func(e client.EngineQueue) *starlark.Dict {
		d := starlark.NewDict(3)
		if verbose {
			d.SetKey(starlark.String("queue"), stringList(e.QueueIDs))
		} else {
			d.SetKey(starlark.String("queue"), starlark.MakeInt(e.Queue))
		}
		d.SetKey(starlark.String("completed"), starlark.MakeInt(e.Completed))
		d.SetKey(starlark.String("tasks"), starlark.MakeInt(e.Tasks))
		return d
	}
	targets := v.Targets()
	if v.single {
		return entry(st.Engines[targets[0]]), nil
	}
	out := starlark.NewDict(len(targets) + 1)
	for _, id := range targets {
		out.SetKey(starlark.MakeInt(id), entry(st.Engines[id]))
	}
	out.SetKey(starlark.String("unassigned"), starlark.MakeInt(st.Unassigned))
	return out, nil
}

func stringList(ss []string) *starlark.List {
	vals := make([]starlark.Value, len(ss))
	for i, s := range ss {
		vals[i] = starlark.String(s)
	}
	return starlark.NewList(vals)
}

// clientClear implements rc.clear(targets=None, block=True): resets the
// engines' namespaces.
func clientClear(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.None
	block := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets, "block?", &block); err != nil {
		return nil, err
	}
	v, err := rc.viewFor(targets)
	if err != nil {
		return nil, fmt.Errorf("clear: %w", err)
	}
	ar, err := rc.submit(protocol.Request{Kind: protocol.KindClear}, nil, v.Targets(), v.single)
	if err != nil {
		return nil, fmt.Errorf("clear: %w", err)
	}
	ar.res.Combine = client.CombineNone
	return result(thread, ar, block)
}

// clientShutdown implements rc.shutdown(targets='all', restart=False,
// hub=False, block=None): the engines (and the controller with hub=True)
// exit; with block=True it returns once they have left.
func clientShutdown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets, block starlark.Value = starlark.String("all"), starlark.None
	var restart, hub bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets, "restart?", &restart, "hub?", &hub, "block?", &block); err != nil {
		return nil, err
	}
	if restart {
		return nil, &namedError{"NotImplementedError", "Engine restart is not yet implemented"}
	}
	wait, err := boolKw(block, "block")
	if err != nil {
		return nil, err
	}
	var ids []int
	if s, ok := targets.(starlark.String); !ok || s != "all" {
		v, err := rc.viewFor(targets)
		if err != nil {
			return nil, fmt.Errorf("shutdown: %w", err)
		}
		ids = v.Targets()
	}
	if err := rc.c.Shutdown(rc.env.ctx(), ids, hub); err != nil {
		return nil, err
	}
	if wait && !hub {
		if err := rc.c.WaitForExit(rc.env.ctx(), ids); err != nil {
			return nil, fmt.Errorf("shutdown: %w", err)
		}
	}
	return starlark.None, nil
}

// view-level methods that scope the client's to the view's targets.

func viewWait(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	var jobs starlark.Value = starlark.None
	var timeout starlark.Value = starlark.MakeInt(-1)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return v.rc.waitJobs(jobs, timeout, v.Targets())
}

func viewAbort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	var jobs starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs); err != nil {
		return nil, err
	}
	return starlark.None, v.rc.abortJobs(jobs, v.Targets())
}

func viewQueueStatus(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v := recvView(b)
	var verbose bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "verbose?", &verbose); err != nil {
		return nil, err
	}
	return v.rc.queueStatus(v, verbose)
}

// clientBroadcastView implements rc.broadcast_view(targets='all'),
// ipyparallel's BroadcastView: the controller fans each request out (its
// body sent once) and results come in engine order, as for a DirectView,
// which in pxsh travels the same way (client.Client.BroadcastView).
func clientBroadcastView(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return clientDirectView(thread, b, args, kwargs)
}
