// Command dashboard serves the Auth Events Dashboard: a page with the
// system's live figures, read from PostgreSQL and JetStream at each
// refresh (see docs/operations.md, "Dashboard"). It binds to loopback by default
// and refuses any other address without credentials.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/authevents/authevents/dashboard"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/internal/buildinfo"
	"github.com/authevents/authevents/internal/config"
	"github.com/authevents/authevents/internal/daemon"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/natsconn"
	"github.com/authevents/authevents/internal/retry"
	"github.com/authevents/authevents/internal/serve"
	"github.com/authevents/authevents/ops"
	"github.com/authevents/authevents/outbox"
)

// Config is the dashboard's configuration, from the environment.
type Config struct {
	Addr        string `env:"DASHBOARD_ADDR" envDefault:"127.0.0.1:8081"`
	OpsAddr     string `env:"OPS_ADDR" envDefault:"127.0.0.1:9093"`
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://127.0.0.1:5432/authevents?sslmode=disable"`
	NATSURL     string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`
	Stream      string `env:"STREAM_NAME" envDefault:"auth-events"`
	DLQStream   string `env:"DLQ_STREAM" envDefault:"auth-events-dlq"`

	Token    string `env:"DASHBOARD_TOKEN"`
	User     string `env:"DASHBOARD_USER"`
	Password string `env:"DASHBOARD_PASSWORD"`

	Refresh         time.Duration `env:"DASHBOARD_REFRESH" envDefault:"2s"`
	LagWarning      time.Duration `env:"DASHBOARD_LAG_WARNING" envDefault:"30s"`
	CountsRetention time.Duration `env:"DASHBOARD_COUNTS_RETENTION" envDefault:"192h"`
}

func (c Config) validate() error {
	var errs []error
	if c.Refresh < 500*time.Millisecond || c.Refresh > time.Minute {
		errs = append(errs, errors.New("DASHBOARD_REFRESH must be between 500ms and 1m"))
	}
	if c.LagWarning <= 0 {
		errs = append(errs, errors.New("DASHBOARD_LAG_WARNING must be positive"))
	}
	if c.CountsRetention < dashboard.Window {
		errs = append(errs, fmt.Errorf("DASHBOARD_COUNTS_RETENTION must be at least %s (the dashboard's window)", dashboard.Window))
	}
	auth := c.auth()
	if err := auth.Validate(); err != nil {
		errs = append(errs, err)
	} else if err := auth.CheckAddr(c.Addr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) auth() dashboard.Auth {
	return dashboard.Auth{Token: c.Token, User: c.User, Password: c.Password}
}

func main() { daemon.Main("dashboard", run) }

func run(ctx context.Context, _ []string, environ map[string]string, stdout io.Writer) error {
	cfg, err := config.Load[Config](environ)
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogLevel).With("service", "dashboard")

	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 4, postgres.Session{AppName: "authevents-dashboard",
		StatementTimeout: 5 * time.Second, IdleInTxTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer postgres.CloseWithin(pool, 3*time.Second)
	// The dashboard shows whatever it can reach: NATS being down at start,
	// or either source going down later, is a down-state on the page, not
	// a refusal to start or a crash. (postgres.Open above does refuse to
	// start without PostgreSQL: it pings.)
	nc, err := natsconn.Connect(cfg.NATSURL, "authevents-dashboard", log)
	if err != nil {
		return err
	}
	defer nc.Close()

	d, err := dashboard.New(pool, nc, dashboard.Config{Stream: cfg.Stream, DLQ: cfg.DLQStream, Refresh: cfg.Refresh,
		LagWarning: cfg.LagWarning, Auth: cfg.auth()}, log)
	if err != nil {
		return err
	}
	ln, err := serve.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	opsLn, err := serve.Listen(cfg.OpsAddr)
	if err != nil {
		return err
	}
	reg := ops.NewRegistry()
	checks := []ops.Check{
		{Name: "postgres", Fn: pool.Ping},
		{Name: "nats", Fn: natsconn.Ready(nc)},
	}
	log.Info("dashboard starting", "version", buildinfo.Version(), "url", "http://"+ln.Addr().String(),
		"ops_url", "http://"+opsLn.Addr().String(), "auth", cfg.auth().Describe(),
		"database_url", config.RedactURL(cfg.DatabaseURL), "nats_url", config.RedactURL(cfg.NATSURL), "stream", cfg.Stream)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve.Run(gctx, serve.NewServer(d.Handler(), log), ln, 5*time.Second, log) })
	g.Go(func() error {
		return serve.Run(gctx, serve.NewServer(ops.Handler(reg, checks...), log), opsLn, 5*time.Second, log)
	})
	g.Go(func() error { pruneCounts(gctx, pool, cfg.CountsRetention, log); return nil })
	return g.Wait()
}

// pruneCounts deletes the relay's per-minute counters past retention, at
// start and then about every 10 minutes (any number of dashboards may run:
// the DELETE is idempotent).
func pruneCounts(ctx context.Context, pool outbox.Pruner, keep time.Duration, log *slog.Logger) {
	// ±10 %, so that replicas started together drift apart.
	every := retry.Backoff{Base: 10 * time.Minute, Max: 10 * time.Minute, Jitter: 0.1}
	for {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := outbox.PruneCounts(pctx, pool, keep)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prune outbox counters", "err", err)
		case n > 0:
			log.Info("pruned outbox counters", "rows", n, "older_than", keep.String())
		}
		if !retry.Sleep(ctx, every.Delay(1)) {
			return
		}
	}
}
