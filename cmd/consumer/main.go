// Command consumer runs the subscriber services on the auth-events stream:
//
//	consumer --service email|analytics|security|audit|all
//
// Each service is a durable JetStream consumer (email-service, analytics,
// security, audit-log); run several processes of one service to scale it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/eventschema"
	"github.com/authevents/authevents/internal/buildinfo"
	"github.com/authevents/authevents/internal/config"
	"github.com/authevents/authevents/internal/daemon"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/natsconn"
	"github.com/authevents/authevents/internal/retry"
	"github.com/authevents/authevents/internal/serve"
	"github.com/authevents/authevents/ops"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

var services = []string{"email", "analytics", "security", "audit"}

func main() { daemon.Main("consumer", run) }

func run(ctx context.Context, args []string, environ map[string]string, stdout io.Writer) error {
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	service := fs.String("service", "", "email, analytics, security, audit or all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	selected := map[string]bool{}
	switch *service {
	case "all":
		for _, s := range services {
			selected[s] = true
		}
	case "email", "analytics", "security", "audit":
		selected[*service] = true
	default:
		return fmt.Errorf("--service must be one of %s or all", strings.Join(services, ", "))
	}
	cfg, err := config.Load[Config](environ)
	if err != nil {
		return err
	}
	if cfg.Attempts < 1 || cfg.AckWait < 2*time.Second || len(cfg.Backoff) == 0 {
		return errors.New("CONSUMER_ATTEMPTS must be >= 1, CONSUMER_ACK_WAIT >= 2s, CONSUMER_BACKOFF not empty")
	}
	if cfg.Batch < 1 || cfg.Batch > consumer.MaxAckPending || cfg.BatchBytes < 1 || cfg.BatchLinger < 0 {
		return fmt.Errorf("CONSUMER_BATCH must be 1 to %d, CONSUMER_BATCH_BYTES >= 1, CONSUMER_BATCH_LINGER >= 0", consumer.MaxAckPending)
	}
	if cfg.SMTPConcurrency < 1 || cfg.SMTPConcurrency > 64 {
		return errors.New("SMTP_CONCURRENCY must be 1 to 64")
	}
	if cfg.Retention < time.Hour || cfg.FailuresRetention < time.Hour || cfg.SecurityRetention < cfg.SecurityWindow || cfg.PruneInterval < 0 || cfg.PruneBatch < 1 {
		return errors.New("CONSUMER_RETENTION and CONSUMER_FAILURES_RETENTION must be >= 1h, SECURITY_RETENTION >= SECURITY_WINDOW, CONSUMER_PRUNE_INTERVAL >= 0 (0: off), CONSUMER_PRUNE_BATCH >= 1")
	}
	ring, err := keyring(cfg)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogLevel).With("service", "consumer")
	if h := consumer.RetryHorizon(cfg.Attempts, cfg.Backoff); h < 5*time.Minute {
		log.Warn("a downstream outage longer than the retry horizon dead-letters every event it touches", "retry_horizon", h.String())
	}

	// Each concurrent mail holds a connection for its claim and record.
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 8+int32(cfg.SMTPConcurrency), postgres.Session{AppName: "authevents-consumer",
		StatementTimeout: 10 * time.Second, IdleInTxTimeout: idleInTxTimeout(cfg.AckWait)})
	if err != nil {
		return err
	}
	defer postgres.CloseWithin(pool, 3*time.Second) // pool.Close waits for every connection, which can hang
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	nc, err := natsconn.Connect(cfg.NATSURL, "authevents-consumer", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}

	var keys *personal.Keys
	if ring != nil {
		keys = personal.NewKeys(pool, ring, personal.Options{})
		log.Info("personal data key configured: events are read in version 2, version 1 twins skipped", "kek", ring)
	} else {
		log.Warn("PERSONAL_DATA_KEY not set: version 2 events are acknowledged unread; version 1 events are handled")
	}

	reg := ops.NewRegistry()
	m := consumer.NewMetrics(reg)
	all := cfg.SubjectPrefix + "user.*"
	var consumers []*consumer.Consumer
	schemas, err := eventschema.Load()
	if err != nil {
		return err
	}
	// add runs h after the steps every service shares, and the service's
	// own before them (only: security lets through only the types it
	// watches; on nats-server 2.9 its durable receives every auth event,
	// and the others are acknowledged unread, unvalidated and with no
	// transaction, as a newer server never delivers them).
	add := func(c consumer.Config, h consumer.Handler, only ...func(consumer.Handler) consumer.Handler) {
		// Every service handles only events that keep their contract;
		// the others are dead-lettered with the reason. Of the two
		// versions of a change, it handles the one it can read.
		// A service that applies effects in batches gets them after
		// these steps, event by event (consumer.Chain).
		h = consumer.Chain(h, func(h consumer.Handler) consumer.Handler {
			h = consumer.Validated(consumer.Versioned(h, keys), schemas)
			for _, step := range only {
				h = step(h)
			}
			return h
		})
		c.Attempts, c.Backoff, c.AckWait, c.DLQStream = cfg.Attempts, cfg.Backoff, cfg.AckWait, cfg.DLQStream
		if _, batched := h.(consumer.BatchHandler); batched {
			c.Batch, c.BatchBytes, c.BatchLinger = cfg.Batch, cfg.BatchBytes, cfg.BatchLinger
		}
		c.DLQReplicas = cfg.StreamReplicas
		c.Retention = consumer.Retention{Processed: cfg.Retention, Failures: cfg.FailuresRetention}
		c.PruneInterval, c.PruneBatch = cfg.PruneInterval, cfg.PruneBatch
		consumers = append(consumers, consumer.New(js, pool, c, h, m, log))
	}
	if selected["email"] {
		var sender email.Sender = email.Files{Dir: cfg.MailDir}
		if cfg.SMTPURL != "" {
			s, err := email.NewSMTP(cfg.SMTPURL)
			if err != nil {
				return err
			}
			sender = s
			defer s.Close() // QUIT the kept sessions once the consumers stopped
		} else {
			log.Warn("SMTP_URL not set: mails are written as .eml files", "dir", cfg.MailDir)
		}
		var opts []email.Option
		if cfg.MailSealPrivateKeyFile != "" {
			k, err := token.ReadSealKeyFile(cfg.MailSealPrivateKeyFile, "MAIL_SEAL_PRIVATE_KEY")
			if err != nil {
				return fmt.Errorf("MAIL_SEAL_PRIVATE_KEY_FILE: %w", err)
			}
			cfg.MailSealPrivateKeys = append([]string{k}, cfg.MailSealPrivateKeys...)
		}
		if len(cfg.MailSealPrivateKeys) > 0 {
			opener, err := token.NewOpener(cfg.MailSealPrivateKeys...)
			if err != nil {
				return fmt.Errorf("MAIL_SEAL_PRIVATE_KEY: %w", err)
			}
			opts = append(opts, email.WithLinks(opener, cfg.LinkBaseURL))
		} else {
			log.Warn("MAIL_SEAL_PRIVATE_KEY not set: events carrying a one-time link are dead-lettered, their mails not sent")
		}
		ec := email.Config(cfg.Stream, cfg.SubjectPrefix)
		ec.Concurrency = cfg.SMTPConcurrency
		add(ec, email.New(pool, sender, cfg.MailFrom, opts...))
	}
	if selected["analytics"] {
		add(analytics.Config(cfg.Stream, all), analytics.New(pool))
	}
	if selected["security"] {
		add(security.Config(cfg.Stream, cfg.SubjectPrefix), security.New(pool, security.Thresholds{
			FailedLogins: cfg.SecurityFailedLogins, StuffingAccounts: cfg.SecurityStuffingAccounts, Window: cfg.SecurityWindow,
			ResetRequests: cfg.SecurityResetRequests, ResetRequestsPerIP: cfg.SecurityResetRequestsIP}, reg).KeepFor(cfg.SecurityRetention),
			security.Watching)
	}
	if selected["audit"] {
		add(audit.Config(cfg.Stream, all), audit.New(pool))
	}

	opsLn, err := serve.Listen(cfg.OpsAddr)
	if err != nil {
		return err
	}
	checks := []ops.Check{{Name: "postgres", Fn: pool.Ping}, {Name: "nats", Fn: natsconn.Ready(nc)}}
	log.Info("consumer starting", "version", buildinfo.Version(), "services", *service, "ops_url", "http://"+opsLn.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		opsHandler := ops.Handler(reg, checks...)
		if cfg.OpsPprof {
			opsHandler = ops.HandlerWithPprof(reg, checks...)
		}
		return serve.Run(gctx, serve.NewServer(opsHandler, log), opsLn, 5*time.Second, log)
	})
	for _, c := range consumers {
		g.Go(func() error {
			// The stream is the relay's to create: wait for it.
			err := retry.Until(gctx, retry.Exp(250*time.Millisecond, 2*time.Second), func(ctx context.Context) error {
				_, err := js.Stream(ctx, cfg.Stream)
				return err
			}, func(attempt int, err error) {
				if attempt == 1 || attempt%30 == 0 {
					log.Warn("waiting for the stream", "stream", cfg.Stream, "err", err)
				}
			})
			if err == nil {
				c.Run(gctx)
			}
			return nil // Run returns when gctx ends
		})
	}
	err = g.Wait()
	log.Info("consumer stopped")
	return err
}

// keyring returns the KEKs of PERSONAL_DATA_KEY or PERSONAL_DATA_KEY_FILE,
// or nil when neither is set.
func keyring(cfg Config) (*personal.Keyring, error) {
	switch {
	case cfg.PersonalDataKey != "" && cfg.PersonalDataKeyFile != "":
		return nil, errors.New("set PERSONAL_DATA_KEY or PERSONAL_DATA_KEY_FILE, not both")
	case cfg.PersonalDataKeyFile != "":
		r, err := personal.ReadKeyringFile(cfg.PersonalDataKeyFile)
		if err != nil {
			return nil, fmt.Errorf("PERSONAL_DATA_KEY_FILE: %w", err)
		}
		return r, nil
	case cfg.PersonalDataKey != "":
		r, err := personal.NewKeyring(cfg.PersonalDataKey)
		if err != nil {
			return nil, fmt.Errorf("PERSONAL_DATA_KEY: %w", err)
		}
		return r, nil
	}
	return nil, nil
}

// idleInTxTimeout is the server's bound on a transaction left idle. The
// email service holds its mail's claim (an uncommitted processed_events
// row) open across the SMTP send, which may last the handler's deadline
// (CONSUMER_ACK_WAIT less 1 s) and then the record (5 s): a server that
// ended the session sooner freed the claim while the mail was still going
// out, so another replica could send it too, and the commit failed and
// the retry sent it once more (found in review, with an ack wait of 60 s
// against the fixed 30 s).
func idleInTxTimeout(ackWait time.Duration) time.Duration {
	return max(30*time.Second, ackWait+10*time.Second)
}
