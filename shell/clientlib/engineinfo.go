package clientlib

import (
	"fmt"

	"github.com/pxsh/pxsh/protocol"
	"go.starlark.net/starlark"
)

// clientEngineInfo implements rc.engine_info(targets='all'): {engine_id:
// {'uuid': str, 'host': str, 'pid': int, 'caps': [str]}}, as the engines reported at
// registration; caps are their host capabilities in --allow syntax ("sh",
// "env", "fs=/scratch:/data"), [] for a sandboxed engine. An int target
// gives only that engine's dict.
func clientEngineInfo(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	rc := recvClient(b)
	var targets starlark.Value = starlark.String("all")
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "targets?", &targets); err != nil {
		return nil, err
	}
	v, err := rc.viewFor(targets)
	if err != nil {
		return nil, fmt.Errorf("engine_info: %w", err)
	}
	infos := map[int]protocol.EngineInfo{}
	for _, e := range rc.c.Engines() {
		infos[e.ID] = e
	}
	entry := func(id int) (*starlark.Dict, error) {
		e, ok := infos[id]
		if !ok {
			return nil, fmt.Errorf("engine_info: no engine %d", id)
		}
		d := starlark.NewDict(4)
		d.SetKey(starlark.String("uuid"), starlark.String(rc.c.EngineUUID(e)))
		d.SetKey(starlark.String("host"), starlark.String(e.Host))
		d.SetKey(starlark.String("pid"), starlark.MakeInt(e.PID))
		d.SetKey(starlark.String("caps"), stringList(e.Caps))
		return d, nil
	}
	targetIDs := v.Targets()
	if v.single {
		return entry(targetIDs[0])
	}
	out := starlark.NewDict(len(targetIDs))
	for _, id := range targetIDs {
		d, err := entry(id)
		if err != nil {
			return nil, err
		}
		out.SetKey(starlark.MakeInt(id), d)
	}
	return out, nil
}
