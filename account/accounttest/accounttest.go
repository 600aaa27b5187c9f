// Package accounttest builds a real account.Service for tests: a fresh
// migrated database, a throwaway signing key and cheap argon2id
// parameters (the production parameters are exercised by the benchmarks).
package accounttest

import (
	"crypto/ed25519"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/db/revocation"
	"github.com/authevents/authevents/eventschema/eventschematest"
	"github.com/authevents/authevents/password"
	"github.com/authevents/authevents/token"
)

// Issuer and Audience of the test token manager.
const (
	Issuer   = "https://auth.test"
	Audience = "authevents-test"
)

// CheapParams returns argon2id parameters that keep hashing fast in tests.
func CheapParams() password.Params {
	return password.Params{Memory: 256, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Config returns the account configuration tests use.
func Config() account.Config {
	return account.Config{
		AccessTTL: 15 * time.Minute, RefreshTTL: 168 * time.Hour, SessionMaxAge: 720 * time.Hour,
		IdleTimeout: 168 * time.Hour, GraceWindow: 10 * time.Second, TokenLeeway: time.Second, DeviceTTL: 2160 * time.Hour,
		Source: "auth-service", ServiceVersion: "test", Environment: "test",
	}
}

// Env is everything a test needs to drive and inspect the service.
type Env struct {
	Pool    *pgxpool.Pool
	Tokens  *token.Manager
	Key     ed25519.PrivateKey
	Hasher  *password.Hasher
	Service *account.Service
	Redis   *redis.Client
	Prefix  string // the test's Redis key prefix
	Deny    *revocation.Denylist
}

// Options tweak New.
type Options struct {
	Log        *slog.Logger
	ObserveOp  password.Observer
	Account    []account.Option
	Config     *account.Config
	TokenClock func() time.Time
	// RedisURL points the denylist and limiter at another server (e.g. a
	// private one the test stops); empty means the shared one.
	RedisURL string
	// Limits enables rate limiting with these limits.
	Limits map[string]ratelimit.Limit
	// HashConcurrency and HashQueueDepth configure the hasher (0: defaults).
	HashConcurrency, HashQueueDepth int
	// Share makes a second service over the same database, Redis prefix
	// and signing key, like a second API replica.
	Share *Env
	// DatabaseURL puts the service on that (empty) database, migrated
	// first, e.g. one of a private server a test crashes; "" means a
	// fresh database on the shared server.
	DatabaseURL string
}

// New returns an Env on its own database.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	var pool *pgxpool.Pool
	var key ed25519.PrivateKey
	if o.Share != nil {
		pool, key = o.Share.Pool, o.Share.Key
	} else {
		if o.DatabaseURL != "" {
			pool = pgtest.Migrated(t, o.DatabaseURL)
		} else {
			pool = pgtest.New(t)
		}
		_, key, _ = ed25519.GenerateKey(nil)
		// Every event the test's use cases append keeps its schema.
		eventschematest.CheckOutboxAtCleanup(t, pool)
	}
	tokens, err := token.NewManager(token.Config{Issuer: Issuer, Audience: Audience, Leeway: time.Second, Now: o.TokenClock}, key)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(CheapParams(), o.HashConcurrency, o.ObserveOp, password.WithQueueDepth(o.HashQueueDepth))
	if err != nil {
		t.Fatal(err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	cfg := Config()
	if o.Config != nil {
		cfg = *o.Config
	}
	var rdb *redis.Client
	var prefix string
	switch {
	case o.Share != nil:
		rdb, prefix = o.Share.Redis, o.Share.Prefix
	case o.RedisURL != "":
		opts, _ := redis.ParseURL(o.RedisURL)
		opts.MaxRetries = -1
		opts.ContextTimeoutEnabled = true // as cmd/api
		rdb, prefix = redis.NewClient(opts), "private:"
		t.Cleanup(func() { rdb.Close() })
	default:
		rdb, prefix = redistest.New(t)
	}
	deny := revocation.New(rdb, prefix)
	opts := o.Account
	if o.Limits != nil {
		opts = append(opts, account.WithRateLimiter(ratelimit.New(rdb, prefix, o.Limits)))
	}
	return &Env{Pool: pool, Tokens: tokens, Key: key, Hasher: hasher, Redis: rdb, Prefix: prefix, Deny: deny,
		Service: account.New(pool, hasher, tokens, deny, cfg, log, opts...)}
}
