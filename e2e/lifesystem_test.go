package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

// lifeSystem is the account lifecycle on the real binaries: the api with
// EMAIL_VERIFICATION=required, the relay and the consumers, on a database,
// a Redis prefix and a NATS server of their own, mailing through an SMTP
// sink with links to the api's own pages.
type lifeSystem struct {
	pool    *pgxpool.Pool
	base    string // the api's URL
	sink    *smtptest.Server
	natsURL string
	logs    []string // the processes' log files
}

// startLifecycle starts the system with `consumer --service services`
// and every process at logLevel, with extra settings for every process.
func startLifecycle(t *testing.T, services, logLevel string, extra ...string) *lifeSystem {
	t.Helper()
	bins := build(t)
	pool, dbURL := pgtest.NewWithURL(t)
	_, prefix := redistest.New(t)
	srv := natstest.Start(t)
	sys := &lifeSystem{pool: pool, sink: smtptest.New(t), natsURL: srv.URL()}
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := token.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	pub, priv := token.GenerateSealKey()
	httpAddr := testenv.FreeAddr(t)
	sys.base = "http://" + httpAddr
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+redistest.URL(), "REDIS_KEY_PREFIX="+prefix,
		"NATS_URL="+srv.URL(), "JWT_PRIVATE_KEY_FILE="+key, "ARGON2_MEMORY_KIB=256", "ARGON2_ITERATIONS=1",
		"RATE_LIMIT_ENABLED=false", "LOG_LEVEL="+logLevel, "CONSUMER_BACKOFF=200ms,200ms")
	env = append(env, extra...)
	sys.logs = []string{
		start(t, filepath.Join(bins, "relay"), append(env, "OPS_ADDR="+testenv.FreeAddr(t))),
		start(t, filepath.Join(bins, "consumer"), append(env, "OPS_ADDR="+testenv.FreeAddr(t), "SMTP_URL="+sys.sink.URL(),
			"MAIL_SEAL_PRIVATE_KEY="+priv, "LINK_BASE_URL="+sys.base), "--service", services),
		start(t, filepath.Join(bins, "api"), append(env, "HTTP_ADDR="+httpAddr, "OPS_ADDR="+testenv.FreeAddr(t),
			"EMAIL_VERIFICATION=required", "MAIL_SEAL_PUBLIC_KEY="+pub, "ENUMERATION_FLOOR=10ms")),
	}
	waitAPI(t, sys.base)
	return sys
}
