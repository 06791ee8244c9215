package program

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/hub/dashboard"
	"github.com/pxsh/pxsh/profile"
)

// startDashboard serves the controller's dashboard on addr ("off": none)
// until ctx ends or stop is called.
func startDashboard(ctx context.Context, h *hub.Hub, addr, dir string, stderr io.Writer) (stop func(), err error) {
	if addr == "off" || addr == "none" {
		return func() {}, nil
	}
	srv, err := dashboard.New(h, dashboard.Config{Addr: addr, ProfileDir: dir})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx); err != nil {
			fmt.Fprintln(stderr, "pxsh controller:", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// profileFlags registers --profile and --profile-dir and returns the
// directory they name.
func profileFlags(fs *flag.FlagSet) func() string {
	name := fs.String("profile", "default", "profile `name`")
	dir := fs.String("profile-dir", "", "profile `directory` (overrides --profile)")
	return func() string {
		if *dir != "" {
			return *dir
		}
		return profile.Dir(profile.Root(getenv), *name)
	}
}

// dashboardMain runs `pxsh dashboard`: it prints the running
// controller's dashboard URL.
func dashboardMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pxsh dashboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := profileFlags(fs)
	metrics := fs.Bool("metrics", false, "print the /metrics URL and the token instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := profile.ReadDashboard(dir())
	if err != nil {
		if errors.Is(err, profile.ErrNoDashboard) {
			fmt.Fprintf(stderr, "pxsh dashboard: no controller serves a dashboard in %s (start one with `pxsh cluster start`)\n", dir())
		} else {
			fmt.Fprintln(stderr, "pxsh dashboard:", err)
		}
		return 1
	}
	if *metrics {
		fmt.Fprintf(stdout, "http://%s/metrics\nAuthorization: Bearer %s\n", d.Addr, d.Token)
		return 0
	}
	fmt.Fprintln(stdout, d.URL)
	return 0
}

// topMain runs `pxsh top`: the engines and recent tasks, refreshed every
// --interval on a terminal, or printed once (--once).
func topMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pxsh top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := profileFlags(fs)
	once := fs.Bool("once", false, "print once, as plain text, and exit")
	every := fs.Duration("interval", time.Second, "refresh `period`")
	tasks := fs.Int("tasks", 10, "how many recent tasks to show")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	d, err := profile.ReadDashboard(dir())
	if err != nil {
		fmt.Fprintln(stderr, "pxsh top:", err, "(is a cluster running? `pxsh cluster start`)")
		return 1
	}
	tty := isTerminal(stdout)
	if !tty && !*once {
		*once = true
	}
	for {
		var sb strings.Builder
		if err := renderTop(ctx, &sb, d, *tasks); err != nil {
			fmt.Fprintln(stderr, "pxsh top:", err)
			return 1
		}
		if *once {
			io.WriteString(stdout, sb.String())
			return 0
		}
		io.WriteString(stdout, "\x1b[H\x1b[2J"+sb.String())
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(*every):
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// topView is what `pxsh top` reads from the dashboard's API.
type topView struct {
	Cluster    string `json:"cluster"`
	Unassigned int    `json:"unassigned"`
	InFlight   int    `json:"in_flight"`
	Clients    int    `json:"clients"`
	Submitted  uint64 `json:"submitted"`
	Finished   uint64 `json:"finished"`
	Engines    []struct {
		hub.EngineState
		Memory int64 `json:"memory"`
	} `json:"engines"`
	History []struct {
		Done int `json:"done"`
	} `json:"history"`
}

type topTask struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	Kind      string  `json:"kind"`
	Engine    *int    `json:"engine"`
	Label     string  `json:"label"`
	Submitted float64 `json:"submitted"`
	Started   float64 `json:"started"`
	Completed float64 `json:"completed"`
}

func getJSON(ctx context.Context, d *profile.Dashboard, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+d.Addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the controller: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("ask the controller %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func renderTop(ctx context.Context, w io.Writer, d *profile.Dashboard, n int) error {
	var v topView
	if err := getJSON(ctx, d, "/api/snapshot", &v); err != nil {
		return err
	}
	var ts []topTask
	if n > 0 {
		if err := getJSON(ctx, d, fmt.Sprintf("/api/tasks?limit=%d", n), &ts); err != nil {
			return err
		}
	}
	rate := 0
	if len(v.History) > 0 {
		rate = v.History[len(v.History)-1].Done
	}
	fmt.Fprintf(w, "pxsh top  cluster %s  %s\n", v.Cluster, time.Now().Format("15:04:05"))
	fmt.Fprintf(w, "engines %d  clients %d  submitted %d  finished %d  in flight %d  waiting %d  %d tasks/s\n\n",
		len(v.Engines), v.Clients, v.Submitted, v.Finished, v.InFlight, v.Unassigned, rate)
	fmt.Fprintf(w, "%4s  %-16s %7s  %-6s %5s %8s %8s  %s\n", "ID", "HOST", "PID", "STATE", "QUEUE", "DONE", "MEM", "CURRENT")
	for _, e := range v.Engines {
		cur := ""
		if e.Current != nil {
			cur = fmt.Sprintf("%s %s %s", e.Current.Kind, e.Current.MsgID, time.Since(time.Unix(0, e.Current.Started)).Round(100*time.Millisecond))
		}
		mem := "-"
		if e.Memory > 0 {
			mem = fmt.Sprintf("%dM", e.Memory>>20)
		}
		fmt.Fprintf(w, "%4d  %-16.16s %7d  %-6s %5d %8d %8s  %s\n", e.ID, e.Host, e.PID, e.State, e.Queue, e.Completed, mem, cur)
	}
	if n > 0 {
		fmt.Fprintf(w, "\n%-28s %-8s %-8s %6s  %-12s %s\n", "TASK", "STATUS", "KIND", "ENGINE", "LABEL", "DURATION")
		for _, t := range ts {
			eng, dur := "-", ""
			if t.Engine != nil {
				eng = fmt.Sprint(*t.Engine)
			}
			if t.Completed > 0 {
				start := t.Started
				if start == 0 {
					start = t.Submitted
				}
				dur = (time.Duration((t.Completed - start) * 1e9)).Round(time.Microsecond).String()
			}
			fmt.Fprintf(w, "%-28.28s %-8s %-8s %6s  %-12.12s %s\n", t.ID, t.Status, t.Kind, eng, t.Label, dur)
		}
	}
	return nil
}
