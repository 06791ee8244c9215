package protocol

import "fmt"

// FormatSize writes a byte count for people: "512 bytes", "1.5 KiB",
// "300.0 MiB", "1.2 GiB".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), suffix)
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// TooLargeError reports a message over the frame limit: What ("result",
// "push value", ...) is Size bytes, over Limit.
type TooLargeError struct {
	What        string
	Size, Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %s, over the limit of %s", e.What, FormatSize(e.Size), FormatSize(e.Limit))
}
