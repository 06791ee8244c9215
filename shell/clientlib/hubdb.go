package clientlib

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/pxsh/pxsh/client"
	"go.starlark.net/starlark"
)

// The hub's task database: get_result for any task of the cluster,
// result_status, hub_history, db_query, purge_results and resubmit.

// resolved is one job of a get_result call: a task held by this client,
// or a msg id to ask the hub for.
type resolved struct {
	task *client.Task
	id   string
}

// resolveJobs resolves msg ids, history indices, AsyncResults and lists of
// them. With hub set, msg ids this client does not hold are left for the
// hub; without it they are a KeyError and None means every outstanding
// task.
func (rc *Client) resolveJobs(jobs starlark.Value, hub bool) ([]resolved, error) {
	switch j := jobs.(type) {
	case nil, starlark.NoneType:
		if !hub {
			return heldTasks(rc.h.Outstanding()), nil
		}
	case *AsyncResult:
		return heldTasks(j.res.Tasks), nil
	case starlark.String:
		if t := rc.h.Lookup(string(j)); t != nil {
			return []resolved{{task: t}}, nil
		}
		if hub {
			return []resolved{{id: string(j)}}, nil
		}
		return nil, notHeld(string(j))
	case starlark.Int:
		id, err := rc.historyID(j)
		if err != nil {
			return nil, err
		}
		if t := rc.h.Lookup(id); t != nil {
			return []resolved{{task: t}}, nil
		}
		return nil, notHeld(id)
	case starlark.Iterable:
		var out []resolved
		it := j.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			r, err := rc.resolveJobs(x, hub)
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	}
	return nil, &namedError{"TypeError", "jobs must be a msg id, an index, an AsyncResult or a list of them, not " + jobs.Type()}
}

// historyID returns the msg id at a history index (negative: from the
// end).
func (rc *Client) historyID(j starlark.Int) (string, error) {
	ids := rc.h.IDs()
	i, _ := j.Int64()
	if i < 0 {
		i += int64(len(ids))
	}
	if i < 0 || i >= int64(len(ids)) {
		return "", &namedError{"IndexError", fmt.Sprintf("history index %s out of range (%d tasks)", j, len(ids))}
	}
	return ids[i], nil
}

// heldTasks wraps tasks as resolved jobs.
func heldTasks(ts []*client.Task) []resolved {
	out := make([]resolved, len(ts))
	for i, t := range ts {
		out[i] = resolved{task: t}
	}
	return out
}

// notHeld is the KeyError for a msg id this client does not hold.
func notHeld(id string) error {
	return &namedError{"KeyError", fmt.Sprintf("no task %q held by this client", id)}
}

// clientGetResult implements rc.get_result(indices_or_msg_ids=-1): an
// AsyncResult of this client's tasks (history indices, held msg ids,
// AsyncResults), or an AsyncHubResult when some msg id is not this
// client's: any task of the cluster, finished or running, another
// client's or a disconnected client's. An id the hub does not know fails
// with KeyError on get().
func clientGetResult(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var jobs, block starlark.Value = starlark.MakeInt(-1), starlark.None
	owner := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "indices_or_msg_ids?", &jobs, "block?", &block, "owner?", &owner); err != nil {
		return nil, err
	}
	if jobs == starlark.None {
		jobs = starlark.MakeInt(-1)
	}
	rs, err := rc.resolveJobs(jobs, true)
	if err != nil {
		return nil, fmt.Errorf("get_result: %w", err)
	}
	tasks := make([]*client.Task, len(rs))
	var ids []string
	var idx []int
	for i, r := range rs {
		if r.task != nil {
			tasks[i] = r.task
			continue
		}
		ids = append(ids, r.id)
		idx = append(idx, i)
	}
	if len(ids) > 0 {
		ts, err := rc.c.HubResults(rc.env.ctx(), ids)
		if err != nil {
			return nil, fmt.Errorf("get_result: %w", err)
		}
		for j, t := range ts {
			tasks[idx[j]] = t
		}
	}
	single := false
	switch jobs.(type) {
	case starlark.Int, starlark.String:
		single = true
	}
	name := "get_result"
	if len(tasks) > 0 && tasks[0].Name != "" {
		name = tasks[0].Name
	}
	ar := rc.NewAsyncResult(name, tasks, single)
	ar.hub = len(ids) > 0
	// owner= (whether the result leaves rc.results once collected) does
	// not apply: rc.results holds what an AsyncResult still references.
	if wait, err := boolKw(block, "block"); err != nil {
		return nil, err
	} else if wait {
		return ar.value(thread, -1, false)
	}
	return ar, nil
}

// viewGetResult makes view.get_result(indices_or_msg_ids=None,
// block=None, owner=False): rc.get_result with the view's block flag.
func viewGetResult(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var rc *Client
	var block bool
	switch v := b.Receiver().(type) {
	case *DirectView:
		rc, block = v.rc, v.block
	case *LoadBalancedView:
		rc, block = v.rc, v.flags.block
	}
	var jobs, bv starlark.Value = starlark.None, starlark.None
	owner := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "indices_or_msg_ids?", &jobs, "block?", &bv, "owner?", &owner); err != nil {
		return nil, err
	}
	if bv != starlark.None {
		var err error
		if block, err = boolKw(bv, "block"); err != nil {
			return nil, err
		}
	}
	return starlark.Call(thread, method(rc, "get_result", clientGetResult), starlark.Tuple{jobs},
		[]starlark.Tuple{{starlark.String("block"), starlark.Bool(block)}, {starlark.String("owner"), starlark.Bool(owner)}})
}

// msgIDs collects msg ids from a msg id, an AsyncResult, a history index
// or a list of these.
func (rc *Client) msgIDs(jobs starlark.Value) ([]string, error) {
	switch j := jobs.(type) {
	case starlark.String:
		return []string{string(j)}, nil
	case *AsyncResult:
		out := make([]string, len(j.res.Tasks))
		for i, t := range j.res.Tasks {
			out[i] = t.MsgID
		}
		return out, nil
	case starlark.Int:
		id, err := rc.historyID(j)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	case starlark.Iterable:
		out := []string{}
		it := j.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			ids, err := rc.msgIDs(x)
			if err != nil {
				return nil, err
			}
			out = append(out, ids...)
		}
		return out, nil
	}
	return nil, &namedError{"TypeError", "want a msg id, an index, an AsyncResult or a list of them, not " + jobs.Type()}
}

// clientResultStatus implements rc.result_status(msg_ids,
// status_only=True): {'pending': [...], 'completed': [...]}; with
// status_only=False each completed msg id also maps to its result (a
// RemoteError value for a failure). An unknown id is a KeyError.
func clientResultStatus(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var jobs starlark.Value
	statusOnly := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "msg_ids", &jobs, "status_only?", &statusOnly); err != nil {
		return nil, err
	}
	ids, err := rc.msgIDs(jobs)
	if err != nil {
		return nil, fmt.Errorf("result_status: %w", err)
	}
	st, err := rc.c.ResultStatus(rc.env.ctx(), ids)
	if err != nil {
		return nil, err
	}
	if len(st.Unknown) > 0 {
		return nil, &namedError{"KeyError", fmt.Sprintf("result_status: no task %q in the hub's database", st.Unknown[0])}
	}
	out := starlark.NewDict(2)
	out.SetKey(starlark.String("pending"), stringList(st.Pending))
	out.SetKey(starlark.String("completed"), stringList(st.Completed))
	if !statusOnly && len(st.Completed) > 0 {
		ts, err := rc.c.HubResults(rc.env.ctx(), st.Completed)
		if err != nil {
			return nil, err
		}
		ar := rc.NewAsyncResult("result_status", ts, false)
		if _, err := ar.wait(-1); err != nil {
			return nil, err
		}
		vals, err := ar.results(thread, true)
		if err != nil {
			return nil, err
		}
		for i, id := range st.Completed {
			out.SetKey(starlark.String(id), vals[i])
		}
	}
	return out, nil
}

// clientHubHistory implements rc.hub_history(): every msg id the hub has
// recorded, of every client, in submission order.
func clientHubHistory(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	ids, err := rc.c.HubHistory(rc.env.ctx())
	if err != nil {
		return nil, err
	}
	return stringList(ids), nil
}

// clientDBQuery implements rc.db_query(query, keys=None): the task records
// matching a Mongo-style query, as a list of dicts (times as unix seconds;
// msg_id always present).
func clientDBQuery(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var query *starlark.Dict
	var keys starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "query", &query, "keys?", &keys); err != nil {
		return nil, err
	}
	q, err := toGo(query)
	if err != nil {
		return nil, fmt.Errorf("db_query: query: %w", err)
	}
	var ks []string
	if keys != starlark.None {
		if s, ok := keys.(starlark.String); ok {
			ks = []string{string(s)}
		} else {
			it, ok := keys.(starlark.Iterable)
			if !ok {
				return nil, &namedError{"TypeError", "db_query: keys must be a list of strings, not " + keys.Type()}
			}
			iter := it.Iterate()
			var x starlark.Value
			for iter.Next(&x) {
				s, ok := x.(starlark.String)
				if !ok {
					iter.Done()
					return nil, &namedError{"TypeError", "db_query: keys must be strings, not " + x.Type()}
				}
				ks = append(ks, string(s))
			}
			iter.Done()
		}
	}
	rows, err := rc.c.DBQuery(rc.env.ctx(), q.(map[string]any), ks)
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(rows))
	for i, row := range rows {
		d, err := fromGo(row)
		if err != nil {
			return nil, fmt.Errorf("db_query: %w", err)
		}
		out[i] = d
	}
	return starlark.NewList(out), nil
}

// toGo converts a Starlark query value to Go: None, bools, ints, floats,
// strings, lists and tuples, dicts with string keys.
func toGo(v starlark.Value) (any, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(x), nil
	case starlark.Int:
		if n, ok := x.Int64(); ok {
			return n, nil
		}
		return x.BigInt(), nil
	case starlark.Float:
		return float64(x), nil
	case starlark.String:
		return string(x), nil
	case *starlark.List, starlark.Tuple, *starlark.Set:
		out := []any{}
		it := x.(starlark.Iterable).Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			g, err := toGo(e)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	case *starlark.Dict:
		out := make(map[string]any, x.Len())
		for _, kv := range x.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, &namedError{"TypeError", "dict keys must be strings, not " + kv[0].Type()}
			}
			g, err := toGo(kv[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", string(k), err)
			}
			out[string(k)] = g
		}
		return out, nil
	}
	return nil, &namedError{"TypeError", "cannot use " + v.Type() + " in a query"}
}

// fromGo converts a decoded answer to Starlark; map keys come out sorted,
// msg_id first.
func fromGo(v any) (starlark.Value, error) {
	switch x := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(x), nil
	case int:
		return starlark.MakeInt(x), nil
	case int64:
		return starlark.MakeInt64(x), nil
	case uint64:
		return starlark.MakeUint64(x), nil
	case *big.Int:
		return starlark.MakeBigInt(x), nil
	case big.Int:
		return starlark.MakeBigInt(&x), nil
	case float32:
		return starlark.Float(x), nil
	case float64:
		return starlark.Float(x), nil
	case string:
		return starlark.String(x), nil
	case []byte:
		return starlark.Bytes(x), nil
	case []any:
		out := make([]starlark.Value, len(x))
		for i, e := range x {
			s, err := fromGo(e)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return starlark.NewList(out), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		return dictFromKeys(keys, func(k string) any { return x[k] })
	case map[any]any:
		keys := make([]string, 0, len(x))
		byKey := make(map[string]any, len(x))
		for k, e := range x {
			ks := fmt.Sprint(k)
			keys = append(keys, ks)
			byKey[ks] = e
		}
		return dictFromKeys(keys, func(k string) any { return byKey[k] })
	}
	return starlark.String(fmt.Sprint(v)), nil
}

func dictFromKeys(keys []string, get func(string) any) (starlark.Value, error) {
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "msg_id") != (keys[j] == "msg_id") {
			return keys[i] == "msg_id"
		}
		return keys[i] < keys[j]
	})
	d := starlark.NewDict(len(keys))
	for _, k := range keys {
		s, err := fromGo(get(k))
		if err != nil {
			return nil, err
		}
		d.SetKey(starlark.String(k), s)
	}
	return d, nil
}

// clientResubmit implements rc.resubmit(indices_or_msg_ids): runs the
// tasks again, each under a new msg id, and returns an AsyncHubResult of
// the new tasks (one value for a single msg id or index).
func clientResubmit(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var jobs starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "indices_or_msg_ids", &jobs); err != nil {
		return nil, err
	}
	ids, err := rc.msgIDs(jobs)
	if err != nil {
		return nil, fmt.Errorf("resubmit: %w", err)
	}
	if len(ids) == 0 {
		return nil, &namedError{"ValueError", "resubmit: no msg ids"}
	}
	ts, err := rc.c.Resubmit(rc.env.ctx(), ids)
	if err != nil {
		if strings.Contains(err.Error(), "no task") {
			return nil, &namedError{"KeyError", err.Error()}
		}
		return nil, err
	}
	rc.h.Record(ts)
	single := false
	switch jobs.(type) {
	case starlark.Int, starlark.String:
		single = true
	}
	ar := rc.NewAsyncResult("resubmit", ts, single)
	ar.hub = true
	return ar, nil
}
