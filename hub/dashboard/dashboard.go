// Package dashboard serves the controller's web dashboard and its
// Prometheus metrics over HTTP: a page (embedded static assets, no CDN)
// that shows engines, the task stream, throughput and the task database
// live through server-sent events, a small JSON API behind it, and
// /metrics. Every request but the static assets needs the token.
//
// It reads the hub only through its snapshot API (Hub.Snapshot, Stream,
// Stats, QueryTasks, Task, Abort, PurgeFinished); it imports hub, protocol
// and profile, never client, engine or shell.
package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pxsh/pxsh/hub"
	"github.com/pxsh/pxsh/profile"
)

//go:embed static
var static embed.FS

// Config configures a Server. The zero value listens on a random loopback
// port with a fresh token and writes no file.
type Config struct {
	// Addr is the TCP address to listen on; "" means 127.0.0.1:0.
	Addr string
	// Token authenticates requests; "" means the profile's token (see
	// profile.DashboardToken), or a fresh one without a profile.
	Token string
	// ProfileDir, when set, receives the dashboard file (profile.Dashboard)
	// that `pxsh dashboard` and `pxsh cluster list` read, from New until
	// Serve returns.
	ProfileDir string
	// Interval is how often live pages are updated at most; 0 means 250 ms.
	Interval time.Duration
	// Logger receives errors; nil means silent.
	Logger *slog.Logger
}

// Server is a running dashboard. It is safe for concurrent use.
type Server struct {
	h     *hub.Hub
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	token string
	url   string
	hist  *history
	mux   *http.ServeMux
}

// New binds the dashboard's port; Serve serves it.
func New(h *hub.Hub, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tok := cfg.Token
	if tok == "" {
		var err error
		if tok, err = profile.DashboardToken(cfg.ProfileDir); err != nil {
			return nil, fmt.Errorf("start dashboard: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("start dashboard: %w", err)
	}
	s := &Server{h: h, cfg: cfg, log: log, ln: ln, token: tok, hist: newHistory(300)}
	h.Stream(^uint64(0) >> 1) // start recording the task stream
	s.url = fmt.Sprintf("http://%s/?token=%s", urlHost(ln.Addr().(*net.TCPAddr)), url.QueryEscape(tok))
	s.routes()
	if cfg.ProfileDir != "" {
		d := &profile.Dashboard{URL: s.url, Addr: ln.Addr().String(), Token: tok, PID: os.Getpid()}
		if err := profile.WriteDashboard(cfg.ProfileDir, d); err != nil {
			ln.Close()
			return nil, fmt.Errorf("start dashboard: %w", err)
		}
	}
	return s, nil
}

// urlHost names a listening address in a URL: a wildcard address becomes
// this host's name.
func urlHost(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}

// URL returns the page's address with the token.
func (s *Server) URL() string { return s.url }

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Token returns the token requests must carry.
func (s *Server) Token() string { return s.token }

// Handler returns the dashboard's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves until ctx is done, then closes the listener and open
// streams, and removes the profile's dashboard file (which New wrote).
func (s *Server) Serve(ctx context.Context) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	if s.cfg.ProfileDir != "" {
		defer profile.RemoveDashboard(s.cfg.ProfileDir, os.Getpid())
	}
	go s.hist.sample(ctx, s.h)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		srv.Close()
	}()
	err := srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve dashboard: %w", err)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	m.HandleFunc("GET /{$}", s.auth(s.index))
	m.HandleFunc("GET /events", s.auth(s.events))
	m.HandleFunc("GET /api/snapshot", s.auth(s.apiSnapshot))
	m.HandleFunc("GET /api/tasks", s.auth(s.apiTasks))
	m.HandleFunc("GET /api/task", s.auth(s.apiTask))
	m.HandleFunc("POST /api/abort", s.auth(s.apiAbort))
	m.HandleFunc("POST /api/purge", s.auth(s.apiPurge))
	reg := newRegistry(s.h)
	m.Handle("GET /metrics", s.auth(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}).ServeHTTP))
	s.mux = m
}

// auth admits requests that carry the token as ?token=, an
// "Authorization: Bearer" header or an X-Pxsh-Token header.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get("token")
		if got == "" {
			got = r.Header.Get("X-Pxsh-Token")
		}
		if got == "" {
			got, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pxsh dashboard"`)
			http.Error(w, "pxsh dashboard: missing or wrong token (see `pxsh dashboard`)", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Write(b)
}
