package clientlib

import (
	"context"
	"github.com/pxsh/pxsh/client"
	"time"

	"go.starlark.net/starlark"
)

// moreClientMethods holds the client methods beyond the foundation's.
var moreClientMethods = map[string]builtinFunc{}

// clientExtraAttrs names attributes served by extraAttr.
var clientExtraAttrs = []string{}

func (rc *Client) extraAttr(name string) (starlark.Value, error) { return nil, nil }

// history records this client's tasks for rc.history and friends.
type history struct{}

func newHistory() *history { return &history{} }

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

var asyncExtraAttrs = []string{}

func (ar *AsyncResult) extraAttr(name string) (starlark.Value, error) { return nil, nil }

func (h *history) record(tasks []*client.Task) {}
