package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/pxsh/pxsh/quic"
)

// dialAny dials every address of a connection file at once and keeps the
// first connection that authenticates, so an unreachable address costs
// nothing when another one answers. It returns the first address's error
// when none does.
func dialAny(ctx context.Context, addrs []string, fingerprint string, cfg quic.Config) (*quic.Conn, string, error) {
	if len(addrs) == 0 {
		return nil, "", errors.New("connection file lists no address")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i   int
		qc  *quic.Conn
		err error
	}
	ch := make(chan result, len(addrs))
	for i, addr := range addrs {
		go func() {
			qc, err := quic.Dial(ctx, addr, fingerprint, cfg)
			ch <- result{i, qc, err}
		}()
	}
	errs := make([]error, len(addrs))
	var won *quic.Conn
	wonAddr := ""
	for range addrs {
		r := <-ch
		switch {
		case r.err != nil:
			errs[r.i] = r.err
		case won == nil:
			won, wonAddr = r.qc, addrs[r.i]
			cancel()
		default:
			r.qc.Close(0, "another address answered first")
		}
	}
	if won != nil {
		return won, wonAddr, nil
	}
	return nil, "", firstError(errs)
}

// firstError returns the first non-nil error, naming how many more failed.
func firstError(errs []error) error {
	for i, err := range errs {
		if err != nil {
			if n := len(errs) - 1 - i; n > 0 {
				return fmt.Errorf("%w (and %d more addresses)", err, n)
			}
			return err
		}
	}
	return nil
}
