// Command api serves the authevents HTTP API (register, login, refresh,
// logout, sessions, me; the JWKS, its OpenAPI document and the event
// schemas) on HTTP_ADDR and its operations endpoints (metrics, health,
// readiness) on OPS_ADDR.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/db/revocation"
	"github.com/authevents/authevents/internal/buildinfo"
	"github.com/authevents/authevents/internal/daemon"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/serve"
	"github.com/authevents/authevents/ops"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == hashWorkerArg {
		hashWorker()
	}
	// go-redis logs through a package-level logger; route it into our JSON
	// log once, here, rather than in run (tests call run concurrently).
	redis.SetLogger(redisLogger{logging.New(os.Stdout, "warn")})
	daemon.Main("api", run)
}

func run(ctx context.Context, _ []string, environ map[string]string, stdout io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogLevel).With("service", cfg.ServiceName)
	version := buildinfo.Version()

	signing, previous, previousPrivate, err := loadKeys(cfg, log)
	if err != nil {
		return err
	}
	tokens, err := token.NewManager(token.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway}, signing, previous...)
	if err != nil {
		return err
	}
	for _, k := range previousPrivate {
		tokens.AcceptRefreshFrom(k)
	}

	pool, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns, postgres.Session{AppName: "authevents-api",
		StatementTimeout: 5 * time.Second, IdleInTxTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer postgres.CloseWithin(pool, 3*time.Second)
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}

	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	// Redis waits end with the request's deadline (REQUEST_TIMEOUT), not
	// only with the client's own read/write timeouts.
	ropts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(ropts)
	defer rdb.Close()

	reg := ops.NewRegistry()
	metrics := api.NewMetrics(reg)
	hasher, stopHashing, err := newHasher(cfg, environ, reg, log)
	if err != nil {
		return err
	}
	defer stopHashing()
	notifier := outbox.NewNotifier(pool, cfg.OutboxNotifyInterval, log)
	appended := outbox.NewMetrics(reg)
	opts := []account.Option{account.WithCommitHook(func(eventType string) {
		appended.Committed(eventType)
		notifier.Poke()
	})}
	if key, _ := cfg.sealKey(); key != "" { // validated by loadConfig
		sealer, _ := token.NewSealer(key)
		opts = append(opts, account.WithSealer(sealer))
	} else {
		log.Warn("MAIL_SEAL_PUBLIC_KEY not set: no verification, reset or email-change link can be mailed; those requests answer 503")
	}
	if ring, _ := personal.KeyringFromConfig(cfg.PersonalDataKey, cfg.PersonalDataKeyFile); ring != nil { // validated
		opts = append(opts, account.WithPersonalKeys(ring))
		log.Info("personal data protected: events with personal fields also go out as version 2", "kek", ring, "events_v1", cfg.EventsV1)
	} else {
		log.Warn("PERSONAL_DATA_KEY not set: events carry personal data in clear (version 1 only), and a deletion cannot make their copies unreadable")
	}
	if cfg.RateLimitEnabled {
		limits, _ := cfg.limits() // validated by loadConfig
		opts = append(opts, account.WithRateLimiter(ratelimit.New(rdb, cfg.RedisKeyPrefix, limits)))
	} else {
		log.Warn("RATE_LIMIT_ENABLED=false: login, register and refresh are not rate limited; use this only for load tests")
	}
	accounts := account.New(pool, hasher, tokens, revocation.New(rdb, cfg.RedisKeyPrefix), account.Config{
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, SessionMaxAge: cfg.SessionMaxAge,
		IdleTimeout: cfg.SessionIdleTimeout, GraceWindow: cfg.RefreshGraceWindow, TokenLeeway: cfg.JWTLeeway,
		IPv6RatePrefix: cfg.RateLimitIPv6Prefix, DeviceTTL: cfg.DeviceTokenTTL,
		Source: cfg.ServiceName, ServiceVersion: version, Environment: cfg.AppEnv,
		VerificationRequired: cfg.EmailVerification == "required", VerificationTTL: cfg.EmailVerificationTTL,
		ResetTTL: cfg.PasswordResetTTL, EmailChangeTTL: cfg.EmailChangeTTL, EnumerationFloor: cfg.EnumerationFloor,
		V2Only: !cfg.EventsV1,
	}, log, opts...)
	handler, err := api.New(accounts, api.Config{TrustedProxies: cfg.TrustedProxies, RequestTimeout: cfg.RequestTimeout,
		CORSAllowedOrigins: cfg.CORSAllowedOrigins, NoPages: !cfg.LinkPages}, log, metrics)
	if err != nil {
		return err
	}

	httpLn, err := serve.Listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	opsLn, err := serve.Listen(cfg.OpsAddr)
	if err != nil {
		httpLn.Close()
		return err
	}
	checks := []ops.Check{
		{Name: "postgres", Fn: pool.Ping},
		// Up, and not evicting: an evicted denylist entry revives a revoked token.
		{Name: "redis", Fn: func(ctx context.Context) error { return revocation.Ready(ctx, rdb) }},
	}
	opsHandler := ops.Handler(reg, checks...)
	if cfg.OpsPprof {
		opsHandler = ops.HandlerWithPprof(reg, checks...)
	}
	var revealLn net.Listener
	if cfg.RevealAddr != "" {
		if revealLn, err = serve.Listen(cfg.RevealAddr); err != nil {
			httpLn.Close()
			opsLn.Close()
			return err
		}
		log.Info("key-access service listening", "reveal_url", "http://"+revealLn.Addr().String(), "clients", len(cfg.RevealClients))
	}
	log.Info("api starting", "version", version, "config", cfg,
		"url", "http://"+httpLn.Addr().String(), "ops_url", "http://"+opsLn.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { notifier.Run(gctx); return nil })
	pruner := account.NewPruner(pool, account.PrunerConfig{Retention: cfg.SessionRetention, Interval: cfg.SessionPruneEvery}, log, account.NewPrunedCounter(reg))
	g.Go(func() error { pruner.Run(gctx); return nil })
	g.Go(func() error { return serve.Run(gctx, serve.NewServer(handler, log), httpLn, cfg.ShutdownTimeout, log) })
	g.Go(func() error {
		return serve.Run(gctx, serve.NewServer(opsHandler, log), opsLn, cfg.ShutdownTimeout, log)
	})
	if revealLn != nil {
		clients, _ := revealClients(cfg.RevealClients) // validated
		h := revealHandler(accounts.PersonalKeys(), clients, log)
		g.Go(func() error { return serve.Run(gctx, serve.NewServer(h, log), revealLn, cfg.ShutdownTimeout, log) })
	}
	err = g.Wait()
	log.Info("api stopped")
	return err
}

// loadKeys loads the signing key and the verify-only previous keys. In
// development without a configured key it makes an ephemeral one (tokens
// then die with the process); in production a key is required.
func loadKeys(cfg Config, log *slog.Logger) (ed25519.PrivateKey, []ed25519.PublicKey, []ed25519.PrivateKey, error) {
	var signing ed25519.PrivateKey
	var err error
	if cfg.JWTPrivateKeyFile == "" {
		log.Warn("JWT_PRIVATE_KEY_FILE not set: using an ephemeral development key; tokens will not survive a restart")
		_, signing, err = ed25519.GenerateKey(nil)
		if err != nil {
			return nil, nil, nil, err
		}
	} else if signing, err = token.LoadPrivateKeyFile(cfg.JWTPrivateKeyFile); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("JWT_PRIVATE_KEY_FILE %s does not exist (make one with `authctl keygen %s`)", cfg.JWTPrivateKeyFile, cfg.JWTPrivateKeyFile)
		}
		return nil, nil, nil, fmt.Errorf("JWT_PRIVATE_KEY_FILE: %w", err)
	}
	var previous []ed25519.PublicKey
	var previousPrivate []ed25519.PrivateKey
	for _, f := range cfg.JWTPreviousKeyFiles {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		k, err := token.LoadPublicKeyFile(f)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("JWT_PREVIOUS_KEY_FILES: %w", err)
		}
		previous = append(previous, k)
		// A private key also keeps the refresh tokens it tagged valid.
		if priv, err := token.LoadPrivateKeyFile(f); err == nil {
			previousPrivate = append(previousPrivate, priv)
		}
	}
	return signing, previous, previousPrivate, nil
}

// redisLogger routes go-redis's internal messages (dial failures, pool
// events) into our JSON log instead of stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}
