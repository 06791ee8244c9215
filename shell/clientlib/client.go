package clientlib

import (
	"errors"
	"fmt"
	"time"

	"github.com/pxsh/pxsh/client"
	"go.starlark.net/starlark"
)

// Client is the Starlark value of Client(): rc.
type Client struct {
	env *Env
	c   *client.Client
	h   *client.History
}

var (
	_ starlark.HasAttrs  = (*Client)(nil)
	_ starlark.Mapping   = (*Client)(nil)
	_ starlark.Sliceable = (*Client)(nil)
	_ starlark.Iterable  = (*Client)(nil)
)

// NewClient wraps a connected client for Starlark.
func NewClient(env *Env, c *client.Client) *Client {
	c.MapResults(true) // decoded with the task's Keep (taskValue)
	return &Client{env: env, c: c, h: client.NewHistory()}
}

// Go returns the underlying Go client.
func (rc *Client) Go() *client.Client { return rc.c }

func (env *Env) newClient(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var prof, file string
	var timeout starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "profile?", &prof, "file?", &file, "timeout?", &timeout); err != nil {
		return nil, err
	}
	d, ok, err := seconds(timeout)
	if err != nil {
		return nil, err
	}
	if !ok {
		d = 10 * time.Second
	}
	if env.Connect == nil {
		return nil, errors.New("no cluster available")
	}
	c, err := env.Connect(env.ctx(), prof, file, d)
	if err != nil {
		return nil, err
	}
	return NewClient(env, c), nil
}

func (rc *Client) String() string {
	return fmt.Sprintf("<Client with %d engines, cluster %s>", len(rc.c.Ids()), rc.c.ClusterID())
}
func (rc *Client) Type() string          { return "Client" }
func (rc *Client) Freeze()               {}
func (rc *Client) Truth() starlark.Bool  { return true }
func (rc *Client) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: Client") }
func (rc *Client) Len() int              { return len(rc.c.Ids()) }

// Index returns a single-engine view of the i-th engine of rc.ids (Get
// serves rc[i], by engine id).
func (rc *Client) Index(i int) starlark.Value {
	ids := rc.c.Ids()
	return rc.view([]int{ids[i]}, true)
}

// engineAt resolves rc[i]: the engine whose id is i, negative i counting
// from the end of rc.ids; IndexError "No such engine" otherwise.
func (rc *Client) engineAt(k starlark.Int) (int, error) {
	i, err := starlark.AsInt32(k)
	if err == nil {
		var id int
		if id, err = rc.c.EngineAt(i); err == nil {
			return id, nil
		}
	}
	return 0, &namedError{"IndexError", "No such engine: " + k.String()}
}

// Slice returns a view of a slice of the engine ids.
func (rc *Client) Slice(start, end, step int) starlark.Value {
	return rc.view(sliceInts(rc.c.Ids(), start, end, step), false)
}

// Get implements rc[i], rc[-1] and rc[[0, 2]].
func (rc *Client) Get(k starlark.Value) (starlark.Value, bool, error) {
	ids := rc.c.Ids()
	switch k := k.(type) {
	case starlark.Int:
		id, err := rc.engineAt(k)
		if err != nil {
			return nil, false, err
		}
		return rc.view([]int{id}, true), true, nil
	case *starlark.List, starlark.Tuple:
		t, err := targetList(k.(starlark.Iterable), ids)
		if err != nil {
			return nil, false, err
		}
		return rc.view(t, false), true, nil
	}
	return nil, false, fmt.Errorf("engine index must be int, slice or list, not %s", k.Type())
}

func (rc *Client) view(targets []int, single bool) *DirectView {
	return &DirectView{rc: rc, targets: targets, single: single}
}

// targetList checks a list of engine ids.
func targetList(it starlark.Iterable, ids []int) ([]int, error) {
	known := map[int]bool{}
	for _, id := range ids {
		known[id] = true
	}
	var out []int
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		n, err := starlark.AsInt32(x)
		if err != nil {
			return nil, fmt.Errorf("engine ids must be ints, got %s", x.Type())
		}
		if !known[n] {
			return nil, fmt.Errorf("engine %d is not registered (ids: %v)", n, ids)
		}
		out = append(out, n)
	}
	return out, nil
}

func sliceInts(ids []int, start, end, step int) []int {
	var out []int
	if step > 0 {
		for i := start; i < end; i += step {
			out = append(out, ids[i])
		}
	} else {
		for i := start; i > end; i += step {
			out = append(out, ids[i])
		}
	}
	return out
}

// Attr implements rc.ids and the client's methods.
func (rc *Client) Attr(name string) (starlark.Value, error) {
	switch name {
	case "ids":
		return intList(rc.c.Ids()), nil
	case "id":
		return starlark.String(rc.c.ID()), nil
	case "cluster_id":
		return starlark.String(rc.c.ClusterID()), nil
	case "engines":
		return rc.enginesValue(), nil
	}
	if m, ok := clientMethods[name]; ok {
		return method(rc, name, m), nil
	}
	if m, ok := moreClientMethods[name]; ok {
		return method(rc, name, m), nil
	}
	return rc.extraAttr(name)
}

// AttrNames lists rc's attributes.
func (rc *Client) AttrNames() []string {
	names := append([]string{"ids", "id", "cluster_id", "engines"}, clientExtraAttrs...)
	return attrNames(names, clientMethods, moreClientMethods)
}

type builtinFunc = func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

// clientMethods are rc's methods; moreClientMethods (jobs.go) adds the
// rest of ipyparallel's client API.
var clientMethods = map[string]builtinFunc{
	"direct_view":      clientDirectView,
	"wait_for_engines": clientWaitForEngines,
	"close":            clientClose,
	"activate":         clientActivate,
}

func recvClient(b *starlark.Builtin) *Client { return b.Receiver().(*Client) }

func clientDirectView(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.String("all")
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets); err != nil {
		return nil, err
	}
	return rc.viewFor(targets)
}

// viewFor makes a view from a targets value: 'all' or None (lazy), an int,
// a list of ints.
func (rc *Client) viewFor(targets starlark.Value) (*DirectView, error) {
	switch t := targets.(type) {
	case starlark.NoneType:
		return &DirectView{rc: rc}, nil
	case starlark.String:
		if t == "all" {
			return &DirectView{rc: rc}, nil
		}
	case starlark.Int:
		v, _, err := rc.Get(t)
		if err != nil {
			return nil, err
		}
		return v.(*DirectView), nil
	case starlark.Iterable:
		ts, err := targetList(t, rc.c.Ids())
		if err != nil {
			return nil, err
		}
		return rc.view(ts, false), nil
	}
	return nil, fmt.Errorf("targets must be 'all', None, an int or a list of ints, not %s", targets.Type())
}

// clientWaitForEngines implements rc.wait_for_engines(n=None,
// timeout=-1, block=True): it returns when at least n engines are
// registered (n None: those registered now), TimeoutError after timeout
// seconds (None or negative: no limit). With block=False it returns a
// Future at once.
func clientWaitForEngines(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var nv, timeout starlark.Value = starlark.None, starlark.None
	block := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n?", &nv, "timeout?", &timeout, "block?", &block); err != nil {
		return nil, err
	}
	n := len(rc.c.Ids())
	if nv != starlark.None {
		var err error
		if n, err = starlark.AsInt32(nv); err != nil {
			return nil, &namedError{"TypeError", "wait_for_engines: n must be an int or None, not " + nv.Type()}
		}
	}
	d, limited, err := seconds(timeout)
	if err != nil {
		return nil, err
	}
	wait := func() error {
		ctx := rc.env.ctx()
		if limited && d >= 0 {
			var cancel func()
			ctx, cancel = contextWithTimeout(ctx, d)
			defer cancel()
		}
		if err := rc.c.WaitForEngines(ctx, n); err != nil {
			return &namedError{"TimeoutError", err.Error()}
		}
		return nil
	}
	if !block {
		if len(rc.c.Ids()) >= n {
			return rc.doneFuture("wait_for_engines"), nil
		}
		return rc.newFuture("wait_for_engines", wait), nil
	}
	return starlark.None, wait()
}

// clientActivate implements rc.activate(targets='all', suffix=”): %px
// on a direct view of the targets, which it returns.
func clientActivate(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.String("all")
	suffix := ""
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets, "suffix?", &suffix); err != nil {
		return nil, err
	}
	v, err := rc.viewFor(targets)
	if err != nil {
		return nil, fmt.Errorf("activate: %w", err)
	}
	if _, err := starlark.Call(thread, method(v, "activate", viewActivate), starlark.Tuple{starlark.String(suffix)}, nil); err != nil {
		return nil, err
	}
	return v, nil
}

// Iterate yields a single-engine view of each engine, in id order
// (ipyparallel's iter(rc)).
func (rc *Client) Iterate() starlark.Iterator {
	ids := rc.c.Ids()
	views := make([]starlark.Value, len(ids))
	for i, id := range ids {
		views[i] = rc.view([]int{id}, true)
	}
	return starlark.NewList(views).Iterate()
}

// enginesValue is rc.engines: {engine_id: uuid} (ipyparallel's
// rc._engines).
func (rc *Client) enginesValue() starlark.Value {
	es := rc.c.Engines()
	d := starlark.NewDict(len(es))
	for _, e := range es {
		d.SetKey(starlark.MakeInt(e.ID), starlark.String(rc.c.EngineUUID(e)))
	}
	return d
}

func clientClose(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.None, recvClient(b).c.Close()
}
