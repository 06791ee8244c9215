package dashboard

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pxsh/pxsh/hub"
)

// collector turns the hub's atomic counters and its snapshot into
// Prometheus metrics at scrape time, so the hub's hot path never touches
// the Prometheus library (names and labels: docs/DASHBOARD.md).
type collector struct {
	h                                   *hub.Hub
	engines, queue, unassigned, flight  *prometheus.Desc
	clients, submitted, finished, bytes *prometheus.Desc
	dbWrites, latency, runtime, wait    *prometheus.Desc
}

func newCollector(h *hub.Hub) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("pxsh_"+name, help, labels, nil)
	}
	return &collector{
		h:          h,
		engines:    d("engines", "Registered engines by state (idle, busy, silent).", "state"),
		queue:      d("engine_queue_tasks", "Tasks an engine holds (running and queued).", "engine"),
		unassigned: d("unassigned_tasks", "Load-balanced tasks waiting for an engine."),
		flight:     d("tasks_in_flight", "Tasks the controller holds, queued or running."),
		clients:    d("clients", "Connected clients."),
		submitted:  d("tasks_submitted_total", "Tasks submitted, by kind.", "kind"),
		finished:   d("tasks_finished_total", "Tasks finished, by kind and outcome (ok, error, aborted).", "kind", "outcome"),
		bytes:      d("bytes_total", "Payload bytes relayed: in = request bodies from clients, out = result bodies from engines.", "direction"),
		dbWrites:   d("db_writes_total", "Records handed to the task database, by operation.", "op"),
		latency:    d("task_latency_seconds", "Submission to completion, by kind.", "kind"),
		runtime:    d("task_run_seconds", "Start to completion on the engine, by kind.", "kind"),
		wait:       d("task_wait_seconds", "Submission to start, by kind.", "kind"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.engines, c.queue, c.unassigned, c.flight, c.clients, c.submitted,
		c.finished, c.bytes, c.dbWrites, c.latency, c.runtime, c.wait} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.h.Snapshot()
	states := map[string]int{"idle": 0, "busy": 0, "silent": 0}
	for _, e := range snap.Engines {
		states[e.State]++
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(e.Queue), strconv.Itoa(e.ID))
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(c.engines, prometheus.GaugeValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(c.unassigned, prometheus.GaugeValue, float64(snap.Unassigned))
	ch <- prometheus.MustNewConstMetric(c.flight, prometheus.GaugeValue, float64(snap.InFlight))
	ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(snap.Clients))
	st := c.h.Stats()
	for k, kind := range hub.Kinds {
		ch <- prometheus.MustNewConstMetric(c.submitted, prometheus.CounterValue, float64(st.Submitted[k]), kind)
		for o, out := range hub.Outcomes {
			ch <- prometheus.MustNewConstMetric(c.finished, prometheus.CounterValue, float64(st.Finished[k][o]), kind, out)
		}
		ch <- histogram(c.latency, st.Latency[k], kind)
		ch <- histogram(c.runtime, st.Runtime[k], kind)
		ch <- histogram(c.wait, st.Wait[k], kind)
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(st.BytesIn), "in")
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(st.BytesOut), "out")
	for i, op := range hub.DBOps {
		ch <- prometheus.MustNewConstMetric(c.dbWrites, prometheus.CounterValue, float64(st.DBWrites[i]), op)
	}
}

// histogram converts a hub histogram (per-bucket counts) to Prometheus'
// cumulative buckets.
func histogram(d *prometheus.Desc, h hub.Histogram, label string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(hub.LatencyBounds))
	var cum uint64
	for i, b := range hub.LatencyBounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, label)
}

// newRegistry registers the hub's metrics and the Go and process
// collectors.
func newRegistry(h *hub.Hub) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(h), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
