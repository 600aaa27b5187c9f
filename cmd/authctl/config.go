package main

import (
	"fmt"
	"time"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/internal/config"
)

// Config is authctl's configuration, from the environment. The variables
// and defaults are those of the binaries that own them: bin/relay and
// bin/consumer (streams), bin/consumer (consumer and security retention)
// and bin/api (session retention; the denylist and token lifetimes of
// the users commands), so authctl sees what they see.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://127.0.0.1:5432/authevents?sslmode=disable"`
	NATSURL     string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	Stream      string `env:"STREAM_NAME" envDefault:"auth-events"`
	DLQStream   string `env:"DLQ_STREAM" envDefault:"auth-events-dlq"`

	Retention         time.Duration `env:"CONSUMER_RETENTION" envDefault:"744h"`
	FailuresRetention time.Duration `env:"CONSUMER_FAILURES_RETENTION" envDefault:"168h"`
	SecurityRetention time.Duration `env:"SECURITY_RETENTION" envDefault:"192h"`
	SessionRetention  time.Duration `env:"SESSION_RETENTION" envDefault:"720h"`

	// What the operator's user commands need, with bin/api's names and
	// defaults: the denylist, the lifetimes its entries must outlive, and
	// the source of the events they write.
	RedisURL           string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	RedisKeyPrefix     string        `env:"REDIS_KEY_PREFIX" envDefault:"authevents:"`
	AccessTokenTTL     time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	JWTLeeway          time.Duration `env:"JWT_LEEWAY" envDefault:"5s"`
	SessionIdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"168h"`
	ServiceName        string        `env:"SERVICE_NAME" envDefault:"auth-service"`
	AppEnv             string        `env:"APP_ENV" envDefault:"development"`
	// The personal data keys, as bin/api: with a key-encryption key the
	// users commands' events with personal fields (user.deleted) also go
	// out as version 2, or alone with EVENTS_V1=false.
	PersonalDataKey     string `env:"PERSONAL_DATA_KEY"`
	PersonalDataKeyFile string `env:"PERSONAL_DATA_KEY_FILE"`
	EventsV1            bool   `env:"EVENTS_V1" envDefault:"true"`
}

// loadConfig reads Config; an error is one line naming the variable.
// Values only one command uses are checked by that command (a shared env
// file that sets SESSION_RETENTION=0 for bin/api, which then never prunes,
// must not stop authctl migrate).
func loadConfig(environ map[string]string) (Config, error) {
	return config.Load[Config](environ)
}

// checkRetention refuses retentions prune cannot honour: 0 would delete
// every ended row at once.
func (c Config) checkRetention() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"CONSUMER_RETENTION", c.Retention}, {"CONSUMER_FAILURES_RETENTION", c.FailuresRetention},
		{"SECURITY_RETENTION", c.SecurityRetention}, {"SESSION_RETENTION", c.SessionRetention},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s=%s: want a positive duration", d.name, d.v)
		}
	}
	return nil
}

// authctlSession is the session every authctl connection opens: operator
// commands may scan (prune, dead lists) but never hold a transaction open
// waiting on a person.
var authctlSession = postgres.Session{AppName: "authevents-authctl", StatementTimeout: 5 * time.Minute, IdleInTxTimeout: time.Minute}
