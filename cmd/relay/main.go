// Command relay publishes committed outbox rows to the NATS JetStream
// stream auth-events (STREAM_NAME), labelling its metrics with the auth
// event types. Run as many replicas as you like against one database; see
// docs/operations.md for the guarantees and the tuning knobs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/internal/buildinfo"
	"github.com/authevents/authevents/internal/config"
	"github.com/authevents/authevents/internal/daemon"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/natsconn"
	"github.com/authevents/authevents/internal/serve"
	"github.com/authevents/authevents/ops"
	"github.com/authevents/authevents/relay"
)

// Config is the relay's configuration, from the environment. The stream's
// name and subjects are the deployment's (the relay package knows no
// stream); its limits default to relay.DefaultStream's.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://127.0.0.1:5432/authevents?sslmode=disable"`
	NATSURL     string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	OpsAddr     string `env:"OPS_ADDR" envDefault:"127.0.0.1:9091"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`
	OpsPprof    bool   `env:"OPS_PPROF" envDefault:"false"`

	StreamName       string        `env:"STREAM_NAME" envDefault:"auth-events"`
	StreamSubjects   []string      `env:"STREAM_SUBJECTS" envSeparator:"," envDefault:"auth.user.*"`
	StreamMaxAge     time.Duration `env:"STREAM_MAX_AGE" envDefault:"168h"`
	StreamMaxMsgs    int64         `env:"STREAM_MAX_MSGS" envDefault:"100000"`
	StreamMaxBytes   int64         `env:"STREAM_MAX_BYTES" envDefault:"104857600"`
	StreamDuplicates time.Duration `env:"STREAM_DUPLICATE_WINDOW" envDefault:"10m"`
	StreamReplicas   int           `env:"STREAM_REPLICAS" envDefault:"1"`

	BatchSize       int           `env:"RELAY_BATCH_SIZE" envDefault:"2000"`
	Workers         int           `env:"RELAY_WORKERS" envDefault:"2"`
	MinPollInterval time.Duration `env:"RELAY_MIN_POLL_INTERVAL" envDefault:"10ms"`
	PollInterval    time.Duration `env:"RELAY_POLL_INTERVAL" envDefault:"1s"`
	PublishTimeout  time.Duration `env:"RELAY_PUBLISH_TIMEOUT" envDefault:"5s"`
	MaxAttempts     int           `env:"RELAY_MAX_ATTEMPTS" envDefault:"10"`
	RetryBackoff    time.Duration `env:"RELAY_RETRY_BACKOFF" envDefault:"1s"`
	MaxRetryBackoff time.Duration `env:"RELAY_MAX_RETRY_BACKOFF" envDefault:"5m"`
	VacuumRows      int           `env:"RELAY_VACUUM_ROWS" envDefault:"100000"`
	DBMaxConns      int32         `env:"DB_MAX_CONNS" envDefault:"4"`
}

func (c Config) validate() error {
	var errs []error
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, errors.New("RELAY_BATCH_SIZE must be between 1 and 10000"))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, errors.New("RELAY_WORKERS must be between 1 and 64"))
	}
	if c.MinPollInterval <= 0 || c.PollInterval < c.MinPollInterval {
		errs = append(errs, errors.New("RELAY_POLL_INTERVAL must be >= RELAY_MIN_POLL_INTERVAL > 0"))
	}
	if c.PublishTimeout <= 0 || c.MaxAttempts < 1 || c.RetryBackoff <= 0 {
		errs = append(errs, errors.New("RELAY_PUBLISH_TIMEOUT, RELAY_MAX_ATTEMPTS and RELAY_RETRY_BACKOFF must be positive"))
	}
	if int(c.DBMaxConns) < c.Workers+1 {
		errs = append(errs, fmt.Errorf("DB_MAX_CONNS (%d) must be at least RELAY_WORKERS + 1 (%d): each worker holds a connection for its batch, and one is the LISTEN connection", c.DBMaxConns, c.Workers+1))
	}
	if c.StreamDuplicates <= 0 || c.StreamDuplicates > c.StreamMaxAge {
		errs = append(errs, errors.New("STREAM_DUPLICATE_WINDOW must be positive and at most STREAM_MAX_AGE"))
	} else if release := relay.IdleInTxTimeout(c.PublishTimeout); c.StreamDuplicates <= release {
		errs = append(errs, fmt.Errorf("STREAM_DUPLICATE_WINDOW (%s) must exceed the time a partitioned relay's rows take to be released, RELAY_PUBLISH_TIMEOUT + 10s (%s): every such republish would be a duplicate", c.StreamDuplicates, release))
	}
	return errors.Join(errs...)
}

func main() { daemon.Main("relay", run) }

func run(ctx context.Context, _ []string, environ map[string]string, stdout io.Writer) error {
	cfg, err := config.Load[Config](environ)
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogLevel).With("service", "relay")
	gogc := setGC(environ)

	pool, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns, postgres.Session{AppName: "authevents-relay",
		StatementTimeout: relay.StatementTimeout, IdleInTxTimeout: relay.IdleInTxTimeout(cfg.PublishTimeout)})
	if err != nil {
		return err
	}
	defer postgres.CloseWithin(pool, 3*time.Second)
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	// The relay outlives broker outages: rows wait in the outbox meanwhile.
	nc, err := natsconn.Connect(cfg.NATSURL, "authevents-relay", log)
	if err != nil {
		return err
	}
	defer nc.Close()

	reg := ops.NewRegistry()
	r, err := relay.New(pool, nc, relay.Config{
		BatchSize: cfg.BatchSize, Workers: cfg.Workers, MinPollInterval: cfg.MinPollInterval, PollInterval: cfg.PollInterval,
		PublishTimeout: cfg.PublishTimeout, MaxAttempts: cfg.MaxAttempts, RetryBackoff: cfg.RetryBackoff,
		MaxRetryBackoff: cfg.MaxRetryBackoff, VacuumRows: cfg.VacuumRows, ContentType: authevents.ContentTypeCloudEvents,
		TypeLabel: authevents.TypeOfSubject,
		Stream: relay.StreamConfig{
			Name: cfg.StreamName, Subjects: cfg.StreamSubjects, MaxAge: cfg.StreamMaxAge,
			MaxMsgs: cfg.StreamMaxMsgs, MaxBytes: cfg.StreamMaxBytes, Duplicates: cfg.StreamDuplicates,
			Replicas: cfg.StreamReplicas,
		},
	}, reg, log)
	if err != nil {
		return err
	}
	opsLn, err := serve.Listen(cfg.OpsAddr)
	if err != nil {
		return err
	}
	checks := []ops.Check{
		{Name: "postgres", Fn: pool.Ping},
		{Name: "nats", Fn: natsconn.Ready(nc)},
	}
	opsHandler := ops.Handler(reg, checks...)
	if cfg.OpsPprof {
		opsHandler = ops.HandlerWithPprof(reg, checks...)
	}
	log.Info("relay starting", "version", buildinfo.Version(), "ops_url", "http://"+opsLn.Addr().String(),
		"database_url", config.RedactURL(cfg.DatabaseURL), "nats_url", config.RedactURL(cfg.NATSURL),
		"stream", cfg.StreamName, "subjects", cfg.StreamSubjects, "batch_size", cfg.BatchSize, "gogc", gogc)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve.Run(gctx, serve.NewServer(opsHandler, log), opsLn, 5*time.Second, log) })
	g.Go(func() error {
		// Run provisions the stream once NATS answers (retrying while it
		// does not), and again if it goes missing.
		r.Run(gctx)
		log.Info("relay stopped")
		return nil
	})
	return g.Wait()
}
