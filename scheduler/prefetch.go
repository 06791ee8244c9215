package scheduler

import (
	"cmp"
	"slices"
	"time"
)

// Adaptive prefetch. With a high-water mark of 1 an engine idles for a
// round trip between two tasks, which dominates when tasks take
// microseconds. The hub measures how long an engine's tasks run and the
// round trip around them (Observe); while runs are shorter than the round
// trip the engine may hold up to about rtt/run more tasks (at most
// Config.Prefetch). A run that turns out long (Long, from the engine's
// Started notice) drops the limit back to HWM at once, and the engine
// hands back the prefetched tasks it holds (Return), so a long task never
// keeps others waiting behind it.

// Observe records a task measured on engine id: run is how long it ran,
// rtt the time its round trip added around the run (0: unknown, e.g. it
// waited behind other tasks). A run longer than the smoothed one replaces
// it at once; shorter ones pull it down gradually. It returns the
// assignments a raised limit allows.
func (s *Scheduler) Observe(id int, run, rtt time.Duration) []Action {
	e := s.engByID[id]
	if e == nil || s.prefetch <= s.hwm || s.hwm == 0 {
		return nil
	}
	if run > 0 {
		if e.run == 0 || run > e.run {
			e.run = run
		} else {
			e.run -= (e.run - run) / 8
		}
	}
	if rtt > 0 {
		if e.rtt == 0 {
			e.rtt = rtt
		} else {
			e.rtt += (rtt - e.rtt) / 4
		}
	}
	return s.relimit(e)
}

// Long records that engine id runs a task that has run for at least d
// (the engine announced it): its limit drops to HWM until a task of it
// ends.
func (s *Scheduler) Long(id int, d time.Duration) {
	e := s.engByID[id]
	if e == nil || s.prefetch <= s.hwm || s.hwm == 0 {
		return
	}
	e.run = max(e.run, d)
	e.long = true
	e.limit = s.hwm
}

// Limit returns how many tasks engine id may hold now (0: no limit).
func (s *Scheduler) Limit(id int) int {
	if e := s.engByID[id]; e != nil && s.hwm > 0 {
		return e.limit
	}
	return s.hwm
}

func (s *Scheduler) relimit(e *engine) []Action {
	old := e.limit
	e.limit = s.limitOf(e)
	if e.limit <= old {
		return nil
	}
	var acts []Action
	s.fill(e, &acts)
	return acts
}

// limitOf computes e's limit from its measurements.
func (s *Scheduler) limitOf(e *engine) int {
	if s.prefetch <= s.hwm || e.long || e.run == 0 || e.rtt == 0 || e.run >= e.rtt {
		return s.hwm
	}
	extra := int((e.rtt + e.run - 1) / e.run)
	return min(s.hwm+extra, s.prefetch)
}

// Return puts back in the queue tasks that engine id held without
// starting them (prefetched behind a long task), keeping their place in
// the order, without counting a retry or blacklisting the engine. Tasks
// not assigned to id are ignored. It returns the new assignments.
func (s *Scheduler) Return(id int, ids []string) []Action {
	var acts []Action
	var back []*task
	for _, tid := range ids {
		t := s.tasks[tid]
		if t == nil || t.state != stRunning || t.engine != id {
			continue
		}
		e := s.engByID[id]
		if e != nil {
			e.load--
			delete(e.running, t)
		}
		s.setState(t, stWaiting)
		t.engine = -1
		if !t.deadline.IsZero() {
			s.dl.push(t)
		}
		back = append(back, t)
	}
	slices.SortFunc(back, func(a, b *task) int { return cmp.Compare(a.seq, b.seq) })
	for _, t := range back {
		s.ready(t, &acts)
	}
	return acts
}
