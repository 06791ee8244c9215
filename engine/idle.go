package engine

import (
	"os"
	"time"
)

// idleTimeout is the engines' QUIC idle timeout: IdleTimeout, or
// $PXSH_ENGINE_IDLE_TIMEOUT (a Go duration) when set. The variable is a
// test hook: a test that stops an engine process longer than IdleTimeout
// on purpose raises it, so that the connection outlives the stop.
var idleTimeout = idleTimeoutFromEnv()

func idleTimeoutFromEnv() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PXSH_ENGINE_IDLE_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return IdleTimeout
}
