package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pxsh/pxsh/hub/dashboard"
	"github.com/pxsh/pxsh/internal/clustertest"
	"github.com/pxsh/pxsh/profile"
)

// serve starts a dashboard over a test cluster's hub.
func serve(t *testing.T, c *clustertest.Cluster) *dashboard.Server {
	t.Helper()
	srv, err := serveB(t, c)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func serveB(t testing.TB, c *clustertest.Cluster) (*dashboard.Server, error) {
	srv, err := dashboard.New(c.Hub, dashboard.Config{ProfileDir: c.Dir, Interval: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv, nil
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTokenMetricsAndAPI(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{})
	srv := serve(t, c)
	base := "http://" + srv.Addr().String()

	// The dashboard file names the URL and is private.
	d, err := profile.ReadDashboard(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.URL != srv.URL() || d.Token != srv.Token() {
		t.Errorf("dashboard file %+v, want url %s", d, srv.URL())
	}
	if st, err := os.Stat(profile.DashboardPath(c.Dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("dashboard file mode: %v %v", st.Mode(), err)
	}

	for _, path := range []string{"/", "/metrics", "/api/snapshot", "/events", "/api/tasks"} {
		if code, _ := get(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, code)
		}
		if code, _ := get(t, base+path+"?token=wrong", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
		}
	}
	if code, body := get(t, srv.URL(), ""); code != 200 || !strings.Contains(body, "pxsh dashboard") {
		t.Errorf("GET page with token: %d %.80q", code, body)
	}
	if code, _ := get(t, base+"/static/app.js", ""); code != 200 {
		t.Errorf("GET /static/app.js: %d", code)
	}

	cl := c.Client()
	c.WaitEngines(cl, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*clustertest.Scale())
	defer cancel()
	if err := cl.View(0, 1).Execute(ctx, "x = 1"); err != nil {
		t.Fatal(err)
	}
	if err := cl.View(0).Execute(ctx, "1 // 0"); err == nil {
		t.Fatal("1 // 0 did not fail")
	}

	code, body := get(t, base+"/metrics", srv.Token())
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`pxsh_engines{state="idle"} 2`,
		`pxsh_tasks_submitted_total{kind="execute"} 3`,
		`pxsh_tasks_finished_total{kind="execute",outcome="ok"} 2`,
		`pxsh_tasks_finished_total{kind="execute",outcome="error"} 1`,
		`pxsh_task_latency_seconds_count{kind="execute"} 3`,
		`pxsh_db_writes_total{op="submitted"} 3`,
		`pxsh_engine_queue_tasks{engine="1"} 0`,
		`pxsh_bytes_total{direction="in"}`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var rows []map[string]any
	_, body = get(t, base+"/api/tasks?status=error", srv.Token())
	if err := json.Unmarshal([]byte(body), &rows); err != nil || len(rows) != 1 || !strings.Contains(rows[0]["error"].(string), "ZeroDivisionError") {
		t.Errorf("/api/tasks?status=error: %s (%v)", body, err)
	}
	var detail map[string]any
	_, body = get(t, base+"/api/task?id="+rows[0]["id"].(string), srv.Token())
	if err := json.Unmarshal([]byte(body), &detail); err != nil || detail["args"] != `"1 // 0"` {
		t.Errorf("/api/task: %s (%v)", body, err)
	}
	if code, body := get(t, base+"/api/tasks?since=x", srv.Token()); code != 400 || !strings.Contains(body, "since") {
		t.Errorf("bad since: %d %s", code, body)
	}
}

// TestEventsCoalesced reads the event stream: an event carries the
// engines, and an idle cluster sends no further events.
func TestEventsCoalesced(t *testing.T) {
	c := clustertest.Start(t, 1, clustertest.Options{})
	srv := serve(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*clustertest.Scale())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+srv.Addr().String()+"/events?token="+srv.Token(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var u struct {
				View struct {
					Engines []struct {
						ID    int    `json:"id"`
						State string `json:"state"`
					} `json:"engines"`
				} `json:"view"`
			}
			if err := json.Unmarshal([]byte(data), &u); err != nil {
				t.Fatal(err)
			}
			if len(u.View.Engines) == 1 {
				return
			}
		}
	}
	t.Fatalf("no event with the engine: %v", sc.Err())
}
