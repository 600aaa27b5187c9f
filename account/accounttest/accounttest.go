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

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/password"
	"github.com/authevents/authevents/token"
)

// Issuer and Audience of the test token manager.
const (
	Issuer   = "https://auth.test"
	Audience = "authevents-test"
)

// CheapParams keeps hashing fast in tests.
var CheapParams = password.Params{Memory: 256, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Config is the account configuration tests use.
var Config = account.Config{
	AccessTTL: 15 * time.Minute, RefreshTTL: 168 * time.Hour, SessionMaxAge: 720 * time.Hour,
	Source: "auth-service", ServiceVersion: "test", Environment: "test",
}

// Env is everything a test needs to drive and inspect the service.
type Env struct {
	Pool    *pgxpool.Pool
	Tokens  *token.Manager
	Key     ed25519.PrivateKey
	Hasher  *password.Hasher
	Service *account.Service
}

// Options tweak New.
type Options struct {
	Log        *slog.Logger
	ObserveOp  password.Observer
	Account    []account.Option
	Config     *account.Config
	TokenClock func() time.Time
}

// New returns an Env on its own database.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	pool := pgtest.New(t)
	_, key, _ := ed25519.GenerateKey(nil)
	tokens, err := token.NewManager(token.Config{Issuer: Issuer, Audience: Audience, Leeway: time.Second, Now: o.TokenClock}, key)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(CheapParams, 0, o.ObserveOp)
	if err != nil {
		t.Fatal(err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	cfg := Config
	if o.Config != nil {
		cfg = *o.Config
	}
	return &Env{Pool: pool, Tokens: tokens, Key: key, Hasher: hasher,
		Service: account.New(pool, hasher, tokens, cfg, log, o.Account...)}
}
