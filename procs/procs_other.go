//go:build !unix

package procs

import "time"

// cpuTime is not known here: the governor stays off.
func cpuTime() time.Duration { return -1 }
