package launcher

import (
	"context"
	"errors"
	"sync"
	"syscall"
)

// Group is a Launcher made of other launchers (for example one Process per
// local engine). It starts and stops its members together; it is stopped
// once every member is. It is safe for concurrent use.
type Group struct {
	members []Launcher
	once    sync.Once
	done    chan struct{}
	mu      sync.Mutex
	started bool
}

// NewGroup returns a Group of the given launchers.
func NewGroup(members ...Launcher) *Group {
	return &Group{members: members, done: make(chan struct{})}
}

// Members returns the group's launchers.
func (g *Group) Members() []Launcher { return g.members }

// Start starts every member. If one fails, the ones already started are
// stopped and the error is returned.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()
		return ErrStarted
	}
	g.started = true
	g.mu.Unlock()
	for i, m := range g.members {
		if err := m.Start(ctx); err != nil {
			for _, s := range g.members[:i] {
				s.Stop(context.WithoutCancel(ctx))
			}
			g.watch()
			return err
		}
	}
	g.watch()
	return nil
}

func (g *Group) watch() {
	g.once.Do(func() {
		go func() {
			for _, m := range g.members {
				if m.State() != StateBefore {
					<-m.Wait()
				}
			}
			close(g.done)
		}()
	})
}

// Stop stops every member concurrently.
func (g *Group) Stop(ctx context.Context) error {
	errs := make([]error, len(g.members))
	var wg sync.WaitGroup
	for i, m := range g.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Stop(ctx)
		}()
	}
	wg.Wait()
	g.watch()
	<-g.done
	return errors.Join(errs...)
}

// Signal signals every running member.
func (g *Group) Signal(sig syscall.Signal) error {
	var errs []error
	for _, m := range g.members {
		if err := m.Signal(sig); err != nil && !errors.Is(err, ErrNotRunning) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Wait returns a channel closed when every member has stopped.
func (g *Group) Wait() <-chan struct{} { return g.done }

// Exit returns the first member exit that was not requested, else the
// first member's.
func (g *Group) Exit() Exit {
	var first Exit
	for i, m := range g.members {
		e := m.Exit()
		if i == 0 {
			first = e
		}
		if !e.Requested && (e.Code != 0 || e.Signal != 0 || e.Err != nil) {
			return e
		}
	}
	return first
}

// State is StateBefore until Start, StateStopped once every member
// stopped, StateRunning in between.
func (g *Group) State() State {
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	if !started {
		return StateBefore
	}
	select {
	case <-g.done:
		return StateStopped
	default:
		return StateRunning
	}
}

// Record merges the members' records.
func (g *Group) Record() Record {
	var r Record
	for i, m := range g.members {
		mr := m.Record()
		if i == 0 {
			r = mr
			r.Procs = append([]ProcRecord(nil), mr.Procs...)
			continue
		}
		r.Procs = append(r.Procs, mr.Procs...)
		r.N += mr.N
	}
	return r
}
