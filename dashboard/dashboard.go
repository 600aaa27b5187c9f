package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config tunes the dashboard.
type Config struct {
	Stream     string        // the events stream (auth-events)
	DLQ        string        // the dead-letter stream (auth-events-dlq)
	Refresh    time.Duration // how often the page polls
	LagWarning time.Duration // a consumer's lag from which its row is marked
	// ReadTimeout bounds the reading of each source per refresh.
	ReadTimeout time.Duration
	Auth        Auth
}

// Dashboard serves the page and its JSON.
type Dashboard struct {
	pool *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	cfg  Config
	log  *slog.Logger
	now  func() time.Time

	mu        sync.Mutex
	last      *Overview // the last overview, reused for requests within minAge
	downSince map[string]time.Time
}

// minAge: requests closer together than this share one reading of the
// sources (several open pages cost the databases no more than one).
const minAge = time.Second

//go:embed web
var web embed.FS

// New returns a dashboard reading pool and the JetStream of nc.
func New(pool *pgxpool.Pool, nc *nats.Conn, cfg Config, log *slog.Logger) (*Dashboard, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 3 * time.Second
	}
	return &Dashboard{pool: pool, nc: nc, js: js, cfg: cfg, log: log.With("component", "dashboard"), now: time.Now,
		downSince: map[string]time.Time{}}, nil
}

// Handler serves / (the page, with its assets embedded in the binary: no
// internet needed) and GET /api/overview, behind the access check.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(web, "web")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/overview", func(w http.ResponseWriter, r *http.Request) {
		ov := d.Overview(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(ov)
	})
	return d.cfg.Auth.wrap(securityHeaders(mux))
}

// securityHeaders: the page loads nothing from elsewhere, and says so.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// Overview reads both sources concurrently, each within ReadTimeout; a
// source that fails leaves its panels null and is reported down since its
// first failure in a row.
func (d *Dashboard) Overview(ctx context.Context) *Overview {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil && d.now().Sub(d.last.GeneratedAt) < minAge {
		return d.last
	}
	ov := &Overview{GeneratedAt: d.now().UTC(), RefreshSeconds: d.cfg.Refresh.Seconds(), Sources: map[string]Source{}}
	var pg, jsOv Overview
	var pgErr, jsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, d.cfg.ReadTimeout)
		defer cancel()
		pgErr = readPostgres(rctx, d.pool, &pg)
	})
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, d.cfg.ReadTimeout)
		defer cancel()
		jsErr = readJetStream(rctx, d.nc, d.js, jsConfig{Stream: d.cfg.Stream, DLQ: d.cfg.DLQ, LagWarning: d.cfg.LagWarning}, &jsOv)
	})
	wg.Wait()
	ov.Sources["postgres"] = d.source("postgres", pgErr)
	ov.Sources["jetstream"] = d.source("jetstream", jsErr)
	if pgErr == nil {
		ov.Events, ov.Latency, ov.Outbox = pg.Events, pg.Latency, pg.Outbox
	}
	if jsErr == nil {
		ov.Stream, ov.Consumers = jsOv.Stream, jsOv.Consumers
	}
	d.last = ov
	return ov
}

// source records a source's state; d.mu is held.
func (d *Dashboard) source(name string, err error) Source {
	if err == nil {
		if since, ok := d.downSince[name]; ok {
			d.log.Info("source reachable again", "source", name, "down_for", d.now().Sub(since).Round(time.Second).String())
			delete(d.downSince, name)
		}
		return Source{Up: true}
	}
	since, ok := d.downSince[name]
	if !ok {
		since = d.now().UTC()
		d.downSince[name] = since
		d.log.Warn("source unreachable; its panels show it", "source", name, "err", err)
	}
	return Source{DownSince: &since, Error: err.Error()}
}
