package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// checkInvariants verifies internal consistency: loads match running sets,
// state counts match the queues, and no queued task could run on an engine
// with a free slot.
func checkInvariants(t *testing.T, s *Scheduler) {
	t.Helper()
	queued := len(s.def.q)
	for _, c := range s.classes {
		if len(c.q) == 0 {
			t.Fatalf("empty class %q kept", c.key)
		}
		queued += len(c.q)
	}
	if queued != s.count[stQueued] {
		t.Fatalf("queued count %d, queues hold %d", s.count[stQueued], queued)
	}
	for _, c := range append([]*class{s.def}, s.open...) {
		if len(c.q) > 0 && len(s.candidates(c)) > 0 {
			t.Fatalf("class %q has waiting tasks and free engines %v", c.key, s.candidates(c))
		}
	}
	for _, l := range s.byEngine {
		for _, c := range l {
			if len(c.q) > 0 && len(s.candidates(c)) > 0 {
				t.Fatalf("class %q has waiting tasks and free engines %v", c.key, s.candidates(c))
			}
		}
	}
	for _, e := range s.engs {
		if e.load != len(e.running) || (s.hwm > 0 && e.load > s.hwm) {
			t.Fatalf("engine %d load %d running %d hwm %d", e.id, e.load, len(e.running), s.hwm)
		}
	}
	n := 0
	for _, c := range s.count {
		n += c
	}
	if n != len(s.tasks) {
		t.Fatalf("state counts %v sum to %d, %d tasks", s.count, n, len(s.tasks))
	}
}

type model struct {
	t         *testing.T
	s         *Scheduler
	ended     map[string]int
	running   map[string]int // task -> engine (assigned, including lost)
	spec      map[string]Task
	blacklist map[string][]int
	ranOn     map[string]int // finished task -> engine
	live      map[int]bool
}

func (m *model) apply(acts []Action) {
	m.t.Helper()
	for _, a := range acts {
		switch a.Kind {
		case Assign:
			if _, ok := m.running[a.TaskID]; ok {
				m.t.Fatalf("%s assigned twice", a.TaskID)
			}
			if m.ended[a.TaskID] > 0 {
				m.t.Fatalf("%s assigned after it ended", a.TaskID)
			}
			if !m.live[a.Engine] {
				m.t.Fatalf("%s assigned to dead engine %d", a.TaskID, a.Engine)
			}
			sp := m.spec[a.TaskID]
			if len(sp.Targets) > 0 && !slices.Contains(sp.Targets, a.Engine) {
				m.t.Fatalf("%s assigned to %d outside targets %v", a.TaskID, a.Engine, sp.Targets)
			}
			if slices.Contains(m.blacklist[a.TaskID], a.Engine) {
				m.t.Fatalf("%s assigned to blacklisted %d", a.TaskID, a.Engine)
			}
			if !sp.DepAny {
				for _, f := range sp.Follow {
					if m.ranOn[f] != a.Engine {
						m.t.Fatalf("%s assigned to %d, follows %s which ran on %d", a.TaskID, a.Engine, f, m.ranOn[f])
					}
				}
				for _, d := range slices.Concat(sp.After, sp.Follow) {
					if _, ok := m.ranOn[d]; !ok && m.ended[d] == 0 {
						m.t.Fatalf("%s assigned before its dependency %s ended", a.TaskID, d)
					}
				}
			}
			m.running[a.TaskID] = a.Engine
		case Fail:
			if _, ok := m.running[a.TaskID]; ok {
				m.t.Fatalf("%s failed while running", a.TaskID)
			}
			m.ended[a.TaskID]++
			if m.ended[a.TaskID] > 1 {
				m.t.Fatalf("%s ended twice (%v)", a.TaskID, a.Err)
			}
		}
	}
	checkInvariants(m.t, m.s)
}

func TestRandomizedEndsExactlyOnce(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			policies := []Policy{LeastLoad, LRU, Weighted, PlainRandom, TwoBin}
			hwm := []int{0, 1, 2, 4}[seed%4]
			s := New(Config{Policy: policies[seed%5], HWM: hwm, Rand: r.IntN, History: 50 + int(seed)*20})
			m := &model{t: t, s: s, ended: map[string]int{}, running: map[string]int{},
				spec: map[string]Task{}, blacklist: map[string][]int{}, ranOn: map[string]int{}, live: map[int]bool{}}
			now := t0
			var ids []string
			pick := func() string { return ids[r.IntN(len(ids))] }
			runningIDs := func() []string {
				var l []string
				for id := range m.running {
					l = append(l, id)
				}
				slices.Sort(l)
				return l
			}
			end := func(id string, success bool) {
				eng := m.running[id]
				delete(m.running, id)
				m.ended[id]++
				if m.ended[id] > 1 {
					t.Fatalf("%s ended twice", id)
				}
				m.ranOn[id] = eng
				m.apply(s.Finish(id, eng, success))
			}
			for step := range 3000 {
				switch op := r.IntN(100); {
				case op < 6: // add engine
					id := r.IntN(10)
					if !m.live[id] {
						m.live[id] = true
					}
					m.apply(s.AddEngine(id))
				case op < 9: // remove engine
					id := r.IntN(10)
					delete(m.live, id)
					_, acts := s.RemoveEngine(id)
					m.apply(acts)
				case op < 50: // submit
					id := fmt.Sprint("t", step)
					tk := Task{ID: id, Priority: r.IntN(3), Retries: r.IntN(3)}
					if r.IntN(4) == 0 {
						for range 1 + r.IntN(3) {
							tk.Targets = append(tk.Targets, r.IntN(10))
						}
					}
					if len(ids) > 0 && r.IntN(3) == 0 {
						for range 1 + r.IntN(3) {
							tk.After = append(tk.After, pick())
						}
					}
					if len(ids) > 0 && r.IntN(6) == 0 {
						tk.Follow = append(tk.Follow, pick())
						if r.IntN(3) == 0 {
							tk.Follow = append(tk.Follow, pick())
						}
					}
					if r.IntN(40) == 0 {
						tk.After = append(tk.After, "unknown")
					}
					tk.DepAny = r.IntN(3) == 0
					tk.DepSuccess = r.IntN(2) == 0
					tk.DepFailure = r.IntN(3) == 0
					if r.IntN(3) == 0 {
						tk.Deadline = now.Add(time.Duration(r.IntN(50)) * time.Millisecond)
					}
					m.spec[id] = tk
					ids = append(ids, id)
					m.apply(s.Submit(tk, now))
					if r.IntN(50) == 0 { // duplicate: must not disturb the original
						acts := s.Submit(Task{ID: id}, now)
						if len(acts) != 1 || errKind(acts[0].Err) != "duplicate" {
							t.Fatalf("duplicate submit: %v", show(acts))
						}
					}
				case op < 85: // a running task ends
					l := runningIDs()
					if len(l) == 0 {
						continue
					}
					id := l[r.IntN(len(l))]
					if r.IntN(3) == 0 {
						eng := m.running[id]
						acts, ok := s.Retry(id, eng, now)
						if ok {
							delete(m.running, id)
							m.blacklist[id] = append(m.blacklist[id], eng)
							m.apply(acts)
							continue
						}
						end(id, false)
						continue
					}
					end(id, r.IntN(4) != 0)
				case op < 90: // abort
					if len(ids) == 0 {
						continue
					}
					id := pick()
					acts, ok := s.Abort(id)
					if ok {
						if _, running := m.running[id]; running || m.ended[id] > 0 {
							t.Fatalf("aborted %s which is running or ended", id)
						}
						m.ended[id]++
					}
					m.apply(acts)
				default: // time passes
					now = now.Add(time.Duration(r.IntN(20)) * time.Millisecond)
					m.apply(s.Tick(now))
				}
			}
			// Drain: every engine id (and two fresh ones) up, run everything.
			for id := range 12 {
				m.live[id] = true
				m.apply(s.AddEngine(id))
			}
			for range 100000 {
				l := runningIDs()
				if len(l) == 0 {
					break
				}
				end(l[0], true)
			}
			if s.Running() != 0 {
				t.Fatalf("running %d after drain", s.Running())
			}
			if s.QueueLen() != 0 {
				t.Fatalf("queue %d after drain: tasks stuck", s.QueueLen())
			}
			t.Logf("policy %s hwm %d: %d tasks, %d finished after running", s.policy, hwm, len(ids), len(m.ranOn))
			for _, id := range ids {
				if m.ended[id] != 1 {
					t.Fatalf("%s ended %d times", id, m.ended[id])
				}
			}
		})
	}
}
