package clientlib

// This file holds the purge methods: purge_local_results (rc.results and
// rc.metadata), purge_hub_results (the hub's task database), purge_results
// (both) and purge_everything, with ipyparallel's arguments and errors.

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pxsh/pxsh/client"
	"go.starlark.net/starlark"
)

// purgeArgs unpacks (jobs=[], targets=[]): all is jobs == 'all'; ids are
// the msg ids of the jobs; engines the target ids (nil: none given).
func (rc *Client) purgeArgs(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (all bool, ids []string, engines []int, err error) {
	var jobs, targets starlark.Value = starlark.NewList(nil), starlark.NewList(nil)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "jobs?", &jobs, "targets?", &targets); err != nil {
		return false, nil, nil, err
	}
	if s, ok := jobs.(starlark.String); ok && s == "all" {
		all = true
	} else if ids, err = rc.msgIDs(jobs); err != nil {
		return false, nil, nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if l, ok := targets.(*starlark.List); !ok || l.Len() > 0 {
		if targets != starlark.None {
			v, err := rc.viewFor(targets)
			if err != nil {
				return false, nil, nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			engines = v.Targets()
		}
	}
	if !all && len(ids) == 0 && engines == nil {
		return false, nil, nil, &namedError{"ValueError", "Must specify at least one of `targets` and `jobs`"}
	}
	return all, ids, engines, nil
}

// clientPurgeLocalResults implements rc.purge_local_results(jobs=[],
// targets=[]): the jobs' (or the targets' tasks') results and metadata
// leave rc.results and rc.metadata. An outstanding task raises
// RuntimeError and nothing is purged.
func clientPurgeLocalResults(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	all, ids, engines, err := rc.purgeArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.None, rc.purgeLocal(all, ids, engines)
}

func (rc *Client) purgeLocal(all bool, ids []string, engines []int) error {
	if all {
		ids = nil
		for _, t := range rc.h.Held() {
			ids = append(ids, t.MsgID)
		}
	}
	for _, t := range rc.h.Held() {
		if engines != nil && slices.Contains(engines, engineOf(t)) {
			ids = append(ids, t.MsgID)
		}
	}
	var pending []string
	for _, id := range ids {
		if t := rc.h.Lookup(id); t != nil && !t.Ready() {
			pending = append(pending, id)
		}
	}
	if len(pending) > 0 {
		return &namedError{"RuntimeError", "Can't purge outstanding tasks: " + strings.Join(pending, ", ")}
	}
	rc.h.Forget(ids)
	return nil
}

// clientPurgeHubResults implements rc.purge_hub_results(jobs=[],
// targets=[]): the records leave the hub's database ('all': every
// finished one). A pending task raises IndexError and nothing is purged.
func clientPurgeHubResults(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	all, ids, engines, err := rc.purgeArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.None, rc.purgeHub(all, ids, engines)
}

func (rc *Client) purgeHub(all bool, ids []string, engines []int) error {
	if engines != nil {
		in := make([]any, len(engines))
		for i, e := range engines {
			in[i] = e
		}
		rows, err := rc.c.DBQuery(rc.env.ctx(), map[string]any{"engine_id": map[string]any{"$in": in}, "completed": map[string]any{"$ne": nil}}, []string{"msg_id"})
		if err != nil {
			return fmt.Errorf("purge_hub_results: %w", err)
		}
		for _, r := range rows {
			if id, ok := r["msg_id"].(string); ok {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 && !all {
			return nil
		}
	}
	if all {
		ids = nil
	}
	err := rc.c.PurgeResults(rc.env.ctx(), ids)
	if errors.Is(err, client.ErrPending) {
		return &namedError{"IndexError", strings.TrimPrefix(err.Error(), "purge_results: IndexError: ")}
	}
	return err
}

// clientPurgeResults implements rc.purge_results(jobs=[], targets=[]):
// purge_local_results, then purge_hub_results.
func clientPurgeResults(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	all, ids, engines, err := rc.purgeArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if err := rc.purgeLocal(all, ids, engines); err != nil {
		return nil, err
	}
	return starlark.None, rc.purgeHub(all, ids, engines)
}

// clientPurgeEverything implements rc.purge_everything():
// purge_results('all') and an empty rc.history.
func clientPurgeEverything(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if err := rc.purgeLocal(true, nil, nil); err != nil {
		return nil, err
	}
	if err := rc.purgeHub(true, nil, nil); err != nil {
		return nil, err
	}
	rc.h.ClearOrder()
	return starlark.None, nil
}
