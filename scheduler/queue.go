package scheduler

// before reports whether a should be assigned before b: higher priority
// first, then earlier submission.
func before(a, b *task) bool {
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.seq < b.seq
}

// taskQueue is a binary heap of tasks ordered by before; each task records
// its index in qi so it can be removed.
type taskQueue []*task

func (q *taskQueue) push(t *task) {
	t.qi = len(*q)
	*q = append(*q, t)
	q.up(t.qi)
}

func (q *taskQueue) remove(i int) *task {
	h := *q
	t := h[i]
	n := len(h) - 1
	if i != n {
		h[i] = h[n]
		h[i].qi = i
	}
	h[n] = nil
	*q = h[:n]
	if i != n {
		if !q.down(i) {
			q.up(i)
		}
	}
	t.qi = -1
	return t
}

func (q taskQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !before(q[i], q[p]) {
			return
		}
		q[i], q[p] = q[p], q[i]
		q[i].qi, q[p].qi = i, p
		i = p
	}
}

func (q taskQueue) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && before(q[r], q[l]) {
			m = r
		}
		if !before(q[m], q[i]) {
			break
		}
		q[i], q[m] = q[m], q[i]
		q[i].qi, q[m].qi = i, m
		i = m
	}
	return i > start
}

// deadlineQueue is a binary heap of tasks by deadline (index in di).
type deadlineQueue []*task

func (q *deadlineQueue) push(t *task) {
	t.di = len(*q)
	*q = append(*q, t)
	q.up(t.di)
}

func (q *deadlineQueue) remove(i int) {
	h := *q
	t := h[i]
	n := len(h) - 1
	if i != n {
		h[i] = h[n]
		h[i].di = i
	}
	h[n] = nil
	*q = h[:n]
	if i != n {
		if !q.down(i) {
			q.up(i)
		}
	}
	t.di = -1
}

func (q deadlineQueue) less(i, j int) bool { return q[i].deadline.Before(q[j].deadline) }

func (q deadlineQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q[i], q[p] = q[p], q[i]
		q[i].di, q[p].di = i, p
		i = p
	}
}

func (q deadlineQueue) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		q[i].di, q[m].di = i, m
		i = m
	}
	return i > start
}
