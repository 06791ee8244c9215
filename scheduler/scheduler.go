package scheduler

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// DefaultHWM is the per-engine limit on outstanding tasks that callers
// should pass as Config.HWM unless told otherwise (ipyparallel's default).
const DefaultHWM = 1

// DefaultHistory is the number of finished task outcomes remembered when
// Config.History is zero.
const DefaultHistory = 131072

// Config configures a Scheduler.
type Config struct {
	// Policy picks among eligible engines; "" means LeastLoad.
	Policy Policy
	// HWM is the most tasks outstanding on one engine. 0 means unlimited;
	// callers normally pass DefaultHWM.
	HWM int
	// Rand returns a random int in [0, n). It drives plainrandom, weighted
	// and twobin. nil means a fixed-seed generator (deterministic).
	Rand func(n int) int
	// History is how many finished task outcomes are remembered for
	// dependencies; 0 means DefaultHistory.
	History int
	// Prefetch is the most tasks an engine may hold while the tasks it
	// runs are short compared with a round trip (adaptive prefetch, fed by
	// Observe and Long); 0, or not above HWM, turns it off. No effect when
	// HWM is 0 (no limit).
	Prefetch int
}

// Task is a load-balanced task as the scheduler sees it.
type Task struct {
	ID       string
	Priority int   // higher runs first; FIFO within a priority
	Targets  []int // engines it may run on; empty means any
	Retries  int   // how many times Retry may resubmit it
	After    []string
	Follow   []string
	// DepAny makes one dependency of After (and one of Follow) suffice.
	DepAny bool
	// DepSuccess and DepFailure say which outcomes of a dependency count as
	// met; both false means success only.
	DepSuccess, DepFailure bool
	// Deadline fails the task with ErrTaskTimeout if it is still unassigned
	// at that time (checked by Submit, Retry and Tick). Zero means none.
	Deadline time.Time
}

// ActionKind says what the hub must do.
type ActionKind int

// The action kinds.
const (
	// Assign means: send Action.TaskID to engine Action.Engine.
	Assign ActionKind = iota + 1
	// Fail means: the task ended without running; reply with Action.Err.
	Fail
)

// String returns "assign" or "fail".
func (k ActionKind) String() string {
	switch k {
	case Assign:
		return "assign"
	case Fail:
		return "fail"
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// Action is a decision the hub must carry out. Engine is -1 for Fail.
type Action struct {
	Kind   ActionKind
	TaskID string
	Engine int
	Err    error
	// Prefetched marks an assignment beyond HWM (adaptive prefetch): the
	// engine should hand the task back (Return) if the task it runs turns
	// out long.
	Prefetched bool
}

type state uint8

const (
	stWaiting state = iota // held on dependencies
	stQueued               // ready, waiting for an engine slot
	stRunning              // assigned to engine
	stLost                 // its engine was removed; awaiting Retry/Finish
	nStates
)

const (
	depAfter  uint8 = 1
	depFollow uint8 = 2
)

type depCount struct{ n, met, bad, unlocated int }

type task struct {
	id        string
	prio      int
	seq       uint64
	retries   int
	targets   []int // sorted, deduplicated; nil = any
	blacklist []int // sorted
	deadline  time.Time
	any       bool
	onSuccess bool
	onFailure bool
	after     depCount
	follow    depCount
	followEng map[int]int // engine -> met follow deps that ran there
	state     state
	engine    int
	cls       *class
	qi, di    int
}

type waiter struct {
	t    *task
	kind uint8
}

type outcome struct {
	success bool
	engine  int // -1 if it never ran
}

type engine struct {
	id      int
	load    int
	last    uint64
	running map[*task]struct{}
	// Adaptive prefetch: smoothed run time and round trip of its tasks,
	// whether it now runs a long task, and the resulting limit.
	run, rtt time.Duration
	long     bool
	limit    int
}

// class groups ready tasks with the same eligible engine set.
type class struct {
	key   string
	allow []int // sorted; nil = every engine not in deny
	deny  []int // sorted
	q     taskQueue
}

// Scheduler assigns tasks to engines. Create it with New. It is not safe for
// concurrent use.
type Scheduler struct {
	policy   Policy
	hwm      int
	prefetch int
	rnd      func(int) int
	histCap  int

	engs    []*engine // sorted by id
	engByID map[int]*engine
	useSeq  uint64
	taskSeq uint64

	tasks   map[string]*task
	count   [nStates]int
	waiters map[string][]waiter
	dl      deadlineQueue

	hist     map[string]outcome
	histRing []string
	histNext int

	def      *class
	classes  map[string]*class
	open     []*class         // classes with allow == nil (def excluded)
	byEngine map[int][]*class // classes whose allow contains the engine

	scratch []engineState
	keyBuf  []byte
}

// New returns a Scheduler with no engines.
func New(cfg Config) *Scheduler {
	s := &Scheduler{
		policy:   cfg.Policy,
		hwm:      cfg.HWM,
		prefetch: cfg.Prefetch,
		rnd:      cfg.Rand,
		histCap:  cfg.History,
		engByID:  make(map[int]*engine),
		tasks:    make(map[string]*task),
		waiters:  make(map[string][]waiter),
		hist:     make(map[string]outcome),
		classes:  make(map[string]*class),
		byEngine: make(map[int][]*class),
		def:      &class{},
	}
	if s.policy == "" {
		s.policy = LeastLoad
	}
	if s.hwm < 0 {
		s.hwm = 0
	}
	if s.histCap <= 0 {
		s.histCap = DefaultHistory
	}
	if s.rnd == nil {
		s.rnd = rand.New(rand.NewPCG(1, 2)).IntN
	}
	return s
}

// QueueLen returns the number of unassigned tasks (waiting on dependencies
// or for an engine).
func (s *Scheduler) QueueLen() int { return s.count[stWaiting] + s.count[stQueued] }

// Running returns the number of tasks assigned and not yet finished,
// including those lost with a removed engine.
func (s *Scheduler) Running() int { return s.count[stRunning] + s.count[stLost] }

// Load returns the number of tasks outstanding on engine id (0 if unknown).
func (s *Scheduler) Load(id int) int {
	if e := s.engByID[id]; e != nil {
		return e.load
	}
	return 0
}

// Engines returns the registered engine ids in increasing order.
func (s *Scheduler) Engines() []int {
	ids := make([]int, len(s.engs))
	for i, e := range s.engs {
		ids[i] = e.id
	}
	return ids
}

func (s *Scheduler) setState(t *task, st state) {
	s.count[t.state]--
	t.state = st
	s.count[st]++
}

func (s *Scheduler) room(e *engine) bool { return s.hwm == 0 || e.load < e.limit }

// AddEngine registers engine id and assigns waiting tasks to it. Adding a
// registered id does nothing.
func (s *Scheduler) AddEngine(id int) []Action {
	if s.engByID[id] != nil {
		return nil
	}
	e := &engine{id: id, running: make(map[*task]struct{}), limit: s.hwm}
	s.engByID[id] = e
	i, _ := slices.BinarySearchFunc(s.engs, id, func(e *engine, id int) int { return e.id - id })
	s.engs = slices.Insert(s.engs, i, e)
	var acts []Action
	s.fill(e, &acts)
	return acts
}

// RemoveEngine unregisters engine id. lost lists the tasks that were
// running on it, in assignment order; the hub must end each with Retry or
// Finish (engine id, success false). Waiting tasks that can now run nowhere
// (their Targets or followed engine are all gone) fail in acts.
func (s *Scheduler) RemoveEngine(id int) (lost []string, acts []Action) {
	e := s.engByID[id]
	if e == nil {
		return nil, nil
	}
	delete(s.engByID, id)
	if i, ok := slices.BinarySearchFunc(s.engs, id, func(e *engine, id int) int { return e.id - id }); ok {
		s.engs = slices.Delete(s.engs, i, i+1)
	}
	ts := make([]*task, 0, len(e.running))
	for t := range e.running {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *task) int { return cmp.Compare(a.seq, b.seq) })
	for _, t := range ts {
		s.setState(t, stLost)
		lost = append(lost, t.id)
	}
	for _, c := range slices.Clone(s.byEngine[id]) {
		if s.live(c.allow) {
			continue
		}
		for len(c.q) > 0 {
			t := c.q[0]
			s.fail(t, fmt.Errorf("schedule task %s: no eligible engine left after engine %d unregistered: %w", t.id, id, ErrImpossibleDependency), &acts)
		}
	}
	return lost, acts
}

func (s *Scheduler) live(ids []int) bool {
	for _, id := range ids {
		if s.engByID[id] != nil {
			return true
		}
	}
	return false
}

// Submit adds a task. It is assigned at once if an eligible engine has a
// free slot, failed at once if its dependencies are invalid or impossible,
// and otherwise held until it can run.
func (s *Scheduler) Submit(tk Task, now time.Time) []Action {
	if tk.ID == "" {
		return []Action{{Kind: Fail, Engine: -1, Err: fmt.Errorf("schedule task: empty id: %w", ErrInvalidTask)}}
	}
	if _, ok := s.tasks[tk.ID]; ok {
		return []Action{{Kind: Fail, TaskID: tk.ID, Engine: -1, Err: fmt.Errorf("schedule task %s: %w", tk.ID, ErrDuplicateTask)}}
	}
	if _, ok := s.hist[tk.ID]; ok {
		return []Action{{Kind: Fail, TaskID: tk.ID, Engine: -1, Err: fmt.Errorf("schedule task %s: %w", tk.ID, ErrDuplicateTask)}}
	}
	s.taskSeq++
	t := &task{
		id: tk.ID, prio: tk.Priority, seq: s.taskSeq, retries: tk.Retries,
		deadline: tk.Deadline, any: tk.DepAny, onSuccess: tk.DepSuccess, onFailure: tk.DepFailure,
		engine: -1, qi: -1, di: -1, state: stWaiting,
	}
	if !t.onSuccess && !t.onFailure {
		t.onSuccess = true
	}
	if len(tk.Targets) > 0 {
		t.targets = slices.Compact(slices.Sorted(slices.Values(tk.Targets)))
	}
	s.tasks[t.id] = t
	s.count[stWaiting]++
	if !t.deadline.IsZero() {
		s.dl.push(t)
	}
	var acts []Action
	if len(tk.After)+len(tk.Follow) == 0 {
		s.ready(t, &acts)
	} else {
		s.submitDeps(t, tk, &acts)
	}
	s.expire(t, now, &acts)
	return acts
}

func (s *Scheduler) submitDeps(t *task, tk Task, acts *[]Action) {
	kinds := make(map[string]uint8, len(tk.After)+len(tk.Follow))
	var order []string
	for _, id := range tk.After {
		if kinds[id] == 0 {
			order = append(order, id)
		}
		kinds[id] |= depAfter
	}
	for _, id := range tk.Follow {
		if kinds[id] == 0 {
			order = append(order, id)
		}
		kinds[id] |= depFollow
	}
	for _, id := range order {
		if id == t.id {
			s.fail(t, fmt.Errorf("schedule task %s: depends on itself: %w", t.id, ErrInvalidDependency), acts)
			return
		}
		_, pending := s.tasks[id]
		_, done := s.hist[id]
		if !pending && !done {
			s.fail(t, fmt.Errorf("schedule task %s: unknown dependency %s: %w", t.id, id, ErrInvalidDependency), acts)
			return
		}
	}
	for _, id := range order {
		k := kinds[id]
		if k&depAfter != 0 {
			t.after.n++
		}
		if k&depFollow != 0 {
			t.follow.n++
		}
	}
	if t.follow.n > 0 {
		t.followEng = make(map[int]int)
	}
	for _, id := range order {
		if o, ok := s.hist[id]; ok {
			t.apply(kinds[id], o)
		} else {
			s.waiters[id] = append(s.waiters[id], waiter{t, kinds[id]})
		}
	}
	s.recheck(t, acts)
}

// apply records a finished dependency.
func (t *task) apply(kind uint8, o outcome) {
	counted := o.success && t.onSuccess || !o.success && t.onFailure
	if kind&depAfter != 0 {
		if counted {
			t.after.met++
		} else {
			t.after.bad++
		}
	}
	if kind&depFollow != 0 {
		switch {
		case !counted:
			t.follow.bad++
		case o.engine < 0:
			t.follow.met++
			t.follow.unlocated++
		default:
			t.follow.met++
			t.followEng[o.engine]++
		}
	}
}

// depStatus reports whether t's dependencies are met, or why they never
// will be ("" if they still may).
func (t *task) depStatus() (ready bool, why string) {
	ready = true
	if a := t.after; a.n > 0 {
		if t.any {
			if a.bad == a.n {
				return false, "no dependency in after can be met"
			}
			ready = a.met > 0
		} else {
			if a.bad > 0 {
				return false, "a dependency in after ended with the wrong outcome"
			}
			ready = a.met == a.n
		}
	}
	if f := t.follow; f.n > 0 {
		if t.any {
			if f.bad+f.unlocated == f.n {
				return false, "no dependency in follow can be met"
			}
			ready = ready && len(t.followEng) > 0
		} else {
			switch {
			case f.bad > 0:
				return false, "a dependency in follow ended with the wrong outcome"
			case f.unlocated > 0:
				return false, "a dependency in follow never ran on an engine"
			case len(t.followEng) > 1:
				return false, "dependencies in follow ran on different engines"
			}
			ready = ready && f.met == f.n
		}
	}
	return ready, ""
}

// recheck fails t, readies it, or leaves it waiting.
func (s *Scheduler) recheck(t *task, acts *[]Action) {
	ready, why := t.depStatus()
	switch {
	case why != "":
		s.fail(t, fmt.Errorf("schedule task %s: %s: %w", t.id, why, ErrImpossibleDependency), acts)
	case ready:
		s.ready(t, acts)
	}
}

// ready places t (whose dependencies are met) or queues it.
func (s *Scheduler) ready(t *task, acts *[]Action) {
	c := s.def
	if t.targets != nil || t.blacklist != nil || len(t.followEng) > 0 {
		var allow, deny []int
		allow = t.targets
		if len(t.followEng) > 0 {
			fe := make([]int, 0, len(t.followEng))
			for id := range t.followEng {
				fe = append(fe, id)
			}
			slices.Sort(fe)
			if allow == nil {
				allow = fe
			} else {
				allow = intersect(allow, fe)
			}
		}
		if allow != nil {
			allow = minus(allow, t.blacklist)
			if !s.live(allow) {
				s.fail(t, fmt.Errorf("schedule task %s: no eligible engine (targets, follow and blacklist exclude every registered engine): %w", t.id, ErrImpossibleDependency), acts)
				return
			}
		} else {
			deny = t.blacklist
		}
		c = s.classes[string(s.classKey(allow, deny))]
		if c == nil {
			c = &class{allow: allow, deny: deny}
		}
	}
	if len(c.q) == 0 {
		if cands := s.candidates(c); len(cands) > 0 {
			e := s.engByID[cands[choose(s.policy, cands, s.rnd)].id]
			s.assign(t, e, acts)
			return
		}
		if c != s.def && c.key == "" {
			s.addClass(c)
		}
	}
	s.setState(t, stQueued)
	t.cls = c
	c.q.push(t)
}

func intersect(a, b []int) []int {
	out := []int{}
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); ok {
			out = append(out, x)
		}
	}
	return out
}

func minus(a, b []int) []int {
	if len(b) == 0 {
		return a
	}
	out := []int{}
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	return out
}

// classKey encodes an eligible engine set; the result is valid until the
// next call.
func (s *Scheduler) classKey(allow, deny []int) []byte {
	b := s.keyBuf[:0]
	if allow == nil {
		b = append(b, '*')
	}
	for _, id := range allow {
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, ',')
	}
	b = append(b, '|')
	for _, id := range deny {
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, ',')
	}
	s.keyBuf = b
	return b
}

// addClass indexes a new class, which is about to get its first task.
func (s *Scheduler) addClass(c *class) {
	c.key = string(s.classKey(c.allow, c.deny))
	s.classes[c.key] = c
	if c.allow == nil {
		s.open = append(s.open, c)
		return
	}
	for _, id := range c.allow {
		s.byEngine[id] = append(s.byEngine[id], c)
	}
}

// dropClass forgets an empty non-default class.
func (s *Scheduler) dropClass(c *class) {
	if c == s.def {
		return
	}
	delete(s.classes, c.key)
	if c.allow == nil {
		s.open = deleteClass(s.open, c)
		return
	}
	for _, id := range c.allow {
		l := deleteClass(s.byEngine[id], c)
		if len(l) == 0 {
			delete(s.byEngine, id)
		} else {
			s.byEngine[id] = l
		}
	}
}

func deleteClass(l []*class, c *class) []*class {
	if i := slices.Index(l, c); i >= 0 {
		l[i] = l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
	}
	return l
}

// candidates lists engines with a free slot that c's tasks may use, in id
// order. The slice is reused by the next call.
func (s *Scheduler) candidates(c *class) []engineState {
	out := s.scratch[:0]
	if c.allow == nil {
		for _, e := range s.engs {
			if s.room(e) && !contains(c.deny, e.id) {
				out = append(out, engineState{e.id, e.load, e.last})
			}
		}
	} else {
		for _, id := range c.allow {
			if e := s.engByID[id]; e != nil && s.room(e) {
				out = append(out, engineState{e.id, e.load, e.last})
			}
		}
	}
	s.scratch = out
	return out
}

func contains(l []int, x int) bool {
	_, ok := slices.BinarySearch(l, x)
	return ok
}

func (s *Scheduler) assign(t *task, e *engine, acts *[]Action) {
	s.unqueue(t)
	s.setState(t, stRunning)
	t.engine = e.id
	e.load++
	s.useSeq++
	e.last = s.useSeq
	e.running[t] = struct{}{}
	pre := s.hwm > 0 && e.load > s.hwm
	*acts = append(*acts, Action{Kind: Assign, TaskID: t.id, Engine: e.id, Prefetched: pre})
}

// unqueue removes t from its class queue and the deadline queue.
func (s *Scheduler) unqueue(t *task) {
	if t.qi >= 0 {
		c := t.cls
		c.q.remove(t.qi)
		t.cls = nil
		if len(c.q) == 0 {
			s.dropClass(c)
		}
	}
	if t.di >= 0 {
		s.dl.remove(t.di)
	}
}

// fill assigns the best queued tasks that may run on e while it has room.
func (s *Scheduler) fill(e *engine, acts *[]Action) {
	for s.room(e) {
		var best *task
		if len(s.def.q) > 0 {
			best = s.def.q[0]
		}
		for _, c := range s.open {
			if len(c.q) > 0 && (best == nil || before(c.q[0], best)) && !contains(c.deny, e.id) {
				best = c.q[0]
			}
		}
		for _, c := range s.byEngine[e.id] {
			if len(c.q) > 0 && (best == nil || before(c.q[0], best)) {
				best = c.q[0]
			}
		}
		if best == nil {
			return
		}
		s.assign(best, e, acts)
	}
}

// fail ends t without running it, and resolves its dependents.
func (s *Scheduler) fail(t *task, err error, acts *[]Action) {
	*acts = append(*acts, Action{Kind: Fail, TaskID: t.id, Engine: -1, Err: err})
	s.end(t, outcome{success: false, engine: -1}, acts)
}

// end forgets t as a live task, records its outcome and resolves its
// dependents.
func (s *Scheduler) end(t *task, o outcome, acts *[]Action) {
	s.unqueue(t)
	s.count[t.state]--
	delete(s.tasks, t.id)
	t.state = nStates
	s.remember(t.id, o)
	ws := s.waiters[t.id]
	delete(s.waiters, t.id)
	for _, w := range ws {
		if w.t.state != stWaiting {
			continue
		}
		w.t.apply(w.kind, o)
		s.recheck(w.t, acts)
	}
}

func (s *Scheduler) remember(id string, o outcome) {
	if len(s.histRing) < s.histCap {
		s.histRing = append(s.histRing, id)
	} else {
		delete(s.hist, s.histRing[s.histNext])
		s.histRing[s.histNext] = id
		s.histNext = (s.histNext + 1) % s.histCap
	}
	s.hist[id] = o
}

// Finish records that task id ended on engine with the given success,
// frees its slot and returns the assignments this allows (queued tasks on
// the freed slot, then dependents). A call for an unknown task, or with an
// engine other than the one the task is assigned to (a late reply after a
// Retry), is ignored. Finish also ends tasks lost by RemoveEngine.
func (s *Scheduler) Finish(id string, engineID int, success bool) []Action {
	t := s.tasks[id]
	if t == nil || (t.state != stRunning && t.state != stLost) || t.engine != engineID {
		return nil
	}
	var acts []Action
	e := s.release(t)
	if e != nil {
		s.fill(e, &acts)
	}
	s.end(t, outcome{success: success, engine: engineID}, &acts)
	return acts
}

// release frees t's slot on its engine and returns the engine if it is
// still registered.
func (s *Scheduler) release(t *task) *engine {
	if t.state != stRunning {
		return nil
	}
	e := s.engByID[t.engine]
	if e != nil {
		e.load--
		delete(e.running, t)
		if e.long {
			e.long = false
			e.limit = s.limitOf(e)
		}
	}
	return e
}

// Retry resubmits task id, which failed on engine failed (or was lost with
// it), if it has retries left; it reports false, changing nothing, if it has
// none (the hub then calls Finish with success false). The failed engine is
// blacklisted for the task. If that leaves none of its Targets (or its
// followed engine), the returned actions fail it with
// ErrImpossibleDependency. A Deadline already past fails it with
// ErrTaskTimeout unless it is assigned at once.
func (s *Scheduler) Retry(id string, failed int, now time.Time) ([]Action, bool) {
	t := s.tasks[id]
	if t == nil || (t.state != stRunning && t.state != stLost) || t.engine != failed || t.retries <= 0 {
		return nil, false
	}
	t.retries--
	var acts []Action
	e := s.release(t)
	s.setState(t, stWaiting)
	t.engine = -1
	if i, ok := slices.BinarySearch(t.blacklist, failed); !ok {
		t.blacklist = slices.Insert(t.blacklist, i, failed)
	}
	if !t.deadline.IsZero() {
		s.dl.push(t)
	}
	s.ready(t, &acts)
	s.expire(t, now, &acts)
	if e != nil {
		s.fill(e, &acts)
	}
	return acts, true
}

// expire fails t with ErrTaskTimeout if it is unassigned past its deadline.
func (s *Scheduler) expire(t *task, now time.Time, acts *[]Action) {
	if t.di >= 0 && !t.deadline.After(now) {
		s.fail(t, fmt.Errorf("schedule task %s: still unassigned at its deadline: %w", t.id, ErrTaskTimeout), acts)
	}
}

// Abort drops task id if it is still unassigned and reports whether it did.
// The task counts as failed for its dependents; acts holds the cascade.
// The hub reports the abort to the client itself.
func (s *Scheduler) Abort(id string) (acts []Action, ok bool) {
	t := s.tasks[id]
	if t == nil || (t.state != stWaiting && t.state != stQueued) {
		return nil, false
	}
	s.end(t, outcome{success: false, engine: -1}, &acts)
	return acts, true
}

// Tick fails unassigned tasks whose Deadline is at or before now with
// ErrTaskTimeout. Tasks already running are the hub's concern.
func (s *Scheduler) Tick(now time.Time) []Action {
	var acts []Action
	for len(s.dl) > 0 && !s.dl[0].deadline.After(now) {
		t := s.dl[0]
		s.fail(t, fmt.Errorf("schedule task %s: still unassigned at its deadline: %w", t.id, ErrTaskTimeout), &acts)
	}
	return acts
}

// NextDeadline returns the earliest Deadline among unassigned tasks, so the
// hub can schedule its next Tick; ok is false if there is none.
func (s *Scheduler) NextDeadline() (d time.Time, ok bool) {
	if len(s.dl) == 0 {
		return time.Time{}, false
	}
	return s.dl[0].deadline, true
}
