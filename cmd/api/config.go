package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/internal/config"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// Config is the api's configuration, read from the environment. Every
// variable is documented in docs/operations.md.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://127.0.0.1:5432/authevents?sslmode=disable"`
	RedisURL    string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	HTTPAddr    string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	OpsAddr     string `env:"OPS_ADDR" envDefault:"127.0.0.1:9090"`

	JWTPrivateKeyFile   string        `env:"JWT_PRIVATE_KEY_FILE"`
	JWTPreviousKeyFiles []string      `env:"JWT_PREVIOUS_KEY_FILES" envSeparator:","`
	JWTIssuer           string        `env:"JWT_ISSUER" envDefault:"authevents"`
	JWTAudience         string        `env:"JWT_AUDIENCE" envDefault:"authevents"`
	JWTLeeway           time.Duration `env:"JWT_LEEWAY" envDefault:"5s"`
	AccessTokenTTL      time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL     time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"168h"`
	SessionMaxAge       time.Duration `env:"SESSION_MAX_AGE" envDefault:"720h"`
	SessionIdleTimeout  time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"168h"`
	RefreshGraceWindow  time.Duration `env:"REFRESH_GRACE_WINDOW" envDefault:"10s"`
	DeviceTokenTTL      time.Duration `env:"DEVICE_TOKEN_TTL" envDefault:"2160h"`
	SessionRetention    time.Duration `env:"SESSION_RETENTION" envDefault:"720h"`
	SessionPruneEvery   time.Duration `env:"SESSION_PRUNE_INTERVAL" envDefault:"10m"`

	RedisKeyPrefix        string `env:"REDIS_KEY_PREFIX" envDefault:"authevents:"`
	RateLimitEnabled      bool   `env:"RATE_LIMIT_ENABLED" envDefault:"true"`
	RateLimitLoginIP      string `env:"RATE_LIMIT_LOGIN_PER_IP" envDefault:"30/1m"`
	RateLimitLoginAccount string `env:"RATE_LIMIT_LOGIN_PER_ACCOUNT" envDefault:"10/1m"`
	RateLimitLoginDevice  string `env:"RATE_LIMIT_LOGIN_PER_DEVICE" envDefault:"10/1m"`
	RateLimitRegisterIP   string `env:"RATE_LIMIT_REGISTER_PER_IP" envDefault:"10/1m"`
	RateLimitRefresh      string `env:"RATE_LIMIT_REFRESH_PER_SESSION" envDefault:"30/1m"`
	RateLimitIPv6Prefix   int    `env:"RATE_LIMIT_IPV6_PREFIX" envDefault:"64"`
	RateLimitResetIP      string `env:"RATE_LIMIT_RESET_PER_IP" envDefault:"10/1h"`
	RateLimitResetEmail   string `env:"RATE_LIMIT_RESET_PER_EMAIL" envDefault:"3/1h"`
	RateLimitVerifyIP     string `env:"RATE_LIMIT_VERIFY_PER_IP" envDefault:"10/1h"`
	RateLimitVerifyEmail  string `env:"RATE_LIMIT_VERIFY_PER_EMAIL" envDefault:"3/1h"`
	RateLimitExportUser   string `env:"RATE_LIMIT_EXPORT_PER_USER" envDefault:"3/1h"`

	// EmailVerification is required (logins wait for a verified address,
	// registration tells nobody which addresses have accounts) or
	// optional (registration signs in at once and answers 409 for a taken
	// address: it enumerates accounts).
	EmailVerification    string        `env:"EMAIL_VERIFICATION" envDefault:"required"`
	EmailVerificationTTL time.Duration `env:"EMAIL_VERIFICATION_TTL" envDefault:"24h"`
	PasswordResetTTL     time.Duration `env:"PASSWORD_RESET_TTL" envDefault:"30m"`
	EmailChangeTTL       time.Duration `env:"EMAIL_CHANGE_TTL" envDefault:"24h"`
	// EnumerationFloor is the least time the answers that must not tell
	// whether an account exists take (register when verification is
	// required, resend, forgot, email change).
	EnumerationFloor time.Duration `env:"ENUMERATION_FLOOR" envDefault:"250ms"`
	// MailSealPublicKey is the email service's X25519 public key
	// (base64url; authctl mailkey makes a pair): one-time link tokens are
	// sealed to it. Without it no link can be mailed.
	MailSealPublicKey string `env:"MAIL_SEAL_PUBLIC_KEY"`
	// MailSealPublicKeyFile holds that key instead (the key alone, or
	// the file authctl mailkey writes), for keys kept in mounted files.
	MailSealPublicKeyFile string `env:"MAIL_SEAL_PUBLIC_KEY_FILE"`
	// PersonalDataKey is the key-encryption key (base64url, 32 bytes;
	// authctl personal kek) of the users' personal data keys. With it,
	// every event with personal fields also goes out as version 2, those
	// fields encrypted under its user's key, which the user's deletion
	// destroys (docs/privacy.md). PersonalDataKeyFile holds it instead,
	// one key a line, the current first and older ones after it.
	PersonalDataKey     string `env:"PERSONAL_DATA_KEY"`
	PersonalDataKeyFile string `env:"PERSONAL_DATA_KEY_FILE"`
	// EventsV1 publishes version 1 of the event types that have a
	// version 2 beside it (the documented period); false publishes
	// version 2 alone, and needs PERSONAL_DATA_KEY.
	EventsV1 bool `env:"EVENTS_V1" envDefault:"true"`
	// RevealAddr, when set, serves POST /v1/reveal on its own listener:
	// readers outside this repository send protected event fields and get
	// the values they may read (docs/privacy.md); RevealClients names
	// them. Keep it internal (a network policy, no ingress).
	RevealAddr    string   `env:"REVEAL_ADDR"`
	RevealClients []string `env:"REVEAL_CLIENTS" envSeparator:","`
	// LinkPages serves the default pages the mail links open.
	LinkPages bool `env:"LINK_PAGES" envDefault:"true"`

	AppEnv      string `env:"APP_ENV" envDefault:"development"`
	ServiceName string `env:"SERVICE_NAME" envDefault:"auth-service"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`

	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`
	// CORSAllowedOrigins lists the origins whose browser apps may call
	// the API ("*" for any); empty allows none.
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`

	Argon2Memory      uint32 `env:"ARGON2_MEMORY_KIB" envDefault:"19456"`
	Argon2Iterations  uint32 `env:"ARGON2_ITERATIONS" envDefault:"2"`
	Argon2Parallelism uint8  `env:"ARGON2_PARALLELISM" envDefault:"1"`
	HashConcurrency   int    `env:"HASH_CONCURRENCY" envDefault:"0"`
	// HashQueueDepth bounds the hashes waiting for a slot; 0 means
	// password.DefaultQueueFactor × HASH_CONCURRENCY.
	HashQueueDepth int `env:"HASH_QUEUE_DEPTH" envDefault:"0"`
	// HashWorkers is where hashes run: "auto", in worker processes at a
	// lower CPU priority, one per hashing slot; "0", in the API process
	// (HashPriority then applies); a number n, in n worker processes, n
	// slots.
	HashWorkers string `env:"HASH_WORKERS" envDefault:"auto"`
	// HashWorkerNice is how far below the API's the workers' CPU priority
	// is (added to the API's nice value, at most 19).
	HashWorkerNice int `env:"HASH_WORKER_NICE" envDefault:"10"`
	// HashPriority, with HASH_WORKERS=0 only: "low" gives the Go scheduler
	// one processor per hashing slot beyond the cores (see processors), so
	// a login flood cannot starve refresh and /readyz; "normal" does not.
	HashPriority string `env:"HASH_PRIORITY" envDefault:"low"`

	DBMaxConns      int32         `env:"DB_MAX_CONNS" envDefault:"10"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	RequestTimeout  time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s"`
	OpsPprof        bool          `env:"OPS_PPROF" envDefault:"false"`
	// OutboxNotifyInterval debounces the NOTIFY that wakes relays.
	OutboxNotifyInterval time.Duration `env:"OUTBOX_NOTIFY_INTERVAL" envDefault:"5ms"`
}

func loadConfig(environ map[string]string) (Config, error) {
	c, err := config.Load[Config](environ)
	if err != nil {
		return c, err
	}
	return c, c.validate()
}

// sealKey is the email service's public key, from MAIL_SEAL_PUBLIC_KEY or
// the file MAIL_SEAL_PUBLIC_KEY_FILE names; "" when neither is set.
func (c Config) sealKey() (string, error) {
	if c.MailSealPublicKeyFile == "" {
		return c.MailSealPublicKey, nil
	}
	k, err := token.ReadSealKeyFile(c.MailSealPublicKeyFile, "MAIL_SEAL_PUBLIC_KEY")
	if err != nil {
		return "", fmt.Errorf("MAIL_SEAL_PUBLIC_KEY_FILE: %w", err)
	}
	return k, nil
}

func (c Config) validate() error {
	var errs []error
	if c.AppEnv != "development" && c.AppEnv != "production" {
		errs = append(errs, fmt.Errorf("APP_ENV must be development or production, not %q", c.AppEnv))
	}
	if c.AppEnv == "production" && c.JWTPrivateKeyFile == "" {
		errs = append(errs, errors.New("JWT_PRIVATE_KEY_FILE is required when APP_ENV=production"))
	}
	for name, d := range map[string]time.Duration{"ACCESS_TOKEN_TTL": c.AccessTokenTTL, "REFRESH_TOKEN_TTL": c.RefreshTokenTTL,
		"SESSION_MAX_AGE": c.SessionMaxAge, "SESSION_IDLE_TIMEOUT": c.SessionIdleTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > time.Minute {
		errs = append(errs, errors.New("JWT_LEEWAY must be between 0 and 1m"))
	}
	if c.RefreshGraceWindow < 0 || c.RefreshGraceWindow > time.Minute {
		errs = append(errs, errors.New("REFRESH_GRACE_WINDOW must be between 0 and 1m"))
	}
	if c.SessionRetention < 0 {
		errs = append(errs, errors.New("SESSION_RETENTION must not be negative"))
	}
	if c.SessionPruneEvery < time.Second {
		errs = append(errs, errors.New("SESSION_PRUNE_INTERVAL must be at least 1s"))
	}
	if c.DeviceTokenTTL < 0 {
		errs = append(errs, errors.New("DEVICE_TOKEN_TTL must not be negative (0 switches device tokens off)"))
	}
	if c.RequestTimeout <= 0 || c.RequestTimeout > 5*time.Minute {
		errs = append(errs, errors.New("REQUEST_TIMEOUT must be between 0 and 5m (exclusive of 0)"))
	}
	if c.HashQueueDepth < 0 {
		errs = append(errs, errors.New("HASH_QUEUE_DEPTH must not be negative"))
	}
	if c.EmailVerification != "required" && c.EmailVerification != "optional" {
		errs = append(errs, errors.New("EMAIL_VERIFICATION must be required or optional"))
	}
	if c.MailSealPublicKey != "" && c.MailSealPublicKeyFile != "" {
		errs = append(errs, errors.New("set MAIL_SEAL_PUBLIC_KEY or MAIL_SEAL_PUBLIC_KEY_FILE, not both"))
	}
	sealKey, err := c.sealKey()
	if err != nil {
		errs = append(errs, err)
	}
	if c.EmailVerification == "required" && sealKey == "" && err == nil {
		errs = append(errs, errors.New("EMAIL_VERIFICATION=required needs MAIL_SEAL_PUBLIC_KEY (or _FILE): no verification link could be mailed"))
	}
	if sealKey != "" {
		if _, err := token.NewSealer(sealKey); err != nil {
			errs = append(errs, fmt.Errorf("MAIL_SEAL_PUBLIC_KEY: %w", err))
		}
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{{"EMAIL_VERIFICATION_TTL", c.EmailVerificationTTL}, {"PASSWORD_RESET_TTL", c.PasswordResetTTL}, {"EMAIL_CHANGE_TTL", c.EmailChangeTTL}} {
		if d.v < time.Minute {
			errs = append(errs, fmt.Errorf("%s must be at least 1m", d.env))
		}
	}
	if ring, err := personal.KeyringFromConfig(c.PersonalDataKey, c.PersonalDataKeyFile); err != nil {
		errs = append(errs, err)
	} else if ring == nil && !c.EventsV1 {
		errs = append(errs, errors.New("EVENTS_V1=false needs PERSONAL_DATA_KEY (or _FILE): version 2 is what would go out"))
	}
	if clients, err := revealClients(c.RevealClients); err != nil {
		errs = append(errs, err)
	} else if c.RevealAddr != "" {
		if ring, _ := personal.KeyringFromConfig(c.PersonalDataKey, c.PersonalDataKeyFile); ring == nil {
			errs = append(errs, errors.New("REVEAL_ADDR needs PERSONAL_DATA_KEY (or _FILE): there is nothing to reveal without it"))
		}
		if len(clients) == 0 {
			errs = append(errs, errors.New("REVEAL_ADDR needs REVEAL_CLIENTS: nobody could use it"))
		}
	}
	if c.EnumerationFloor < 0 {
		errs = append(errs, errors.New("ENUMERATION_FLOOR must not be negative"))
	}
	if _, _, err := c.hashing(1); err != nil {
		errs = append(errs, err)
	}
	if c.HashWorkerNice < 1 || c.HashWorkerNice > 19 {
		errs = append(errs, errors.New("HASH_WORKER_NICE must be between 1 and 19"))
	}
	if c.HashPriority != "low" && c.HashPriority != "normal" {
		errs = append(errs, errors.New("HASH_PRIORITY must be low or normal"))
	}
	if c.RateLimitIPv6Prefix < 32 || c.RateLimitIPv6Prefix > 128 {
		errs = append(errs, errors.New("RATE_LIMIT_IPV6_PREFIX must be between 32 and 128"))
	}
	if _, err := c.limits(); err != nil {
		errs = append(errs, err)
	}
	if err := checkOrigins(c.CORSAllowedOrigins); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkOrigins accepts "*" alone, or origins: scheme://host[:port] with
// no path, as browsers send them in the Origin header.
func checkOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" && len(origins) == 1 {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "*") ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("CORS_ALLOWED_ORIGINS: %q is not an origin (scheme://host[:port], or * alone)", o)
		}
	}
	return nil
}

// limits parses the rate-limit settings by limiter name.
func (c Config) limits() (map[string]ratelimit.Limit, error) {
	out := map[string]ratelimit.Limit{}
	for _, l := range []struct{ name, env, val string }{
		{account.LimitLoginIP, "RATE_LIMIT_LOGIN_PER_IP", c.RateLimitLoginIP},
		{account.LimitLoginAccount, "RATE_LIMIT_LOGIN_PER_ACCOUNT", c.RateLimitLoginAccount},
		{account.LimitLoginDevice, "RATE_LIMIT_LOGIN_PER_DEVICE", c.RateLimitLoginDevice},
		{account.LimitRegisterIP, "RATE_LIMIT_REGISTER_PER_IP", c.RateLimitRegisterIP},
		{account.LimitRefreshSession, "RATE_LIMIT_REFRESH_PER_SESSION", c.RateLimitRefresh},
		{account.LimitResetIP, "RATE_LIMIT_RESET_PER_IP", c.RateLimitResetIP},
		{account.LimitResetEmail, "RATE_LIMIT_RESET_PER_EMAIL", c.RateLimitResetEmail},
		{account.LimitVerifyIP, "RATE_LIMIT_VERIFY_PER_IP", c.RateLimitVerifyIP},
		{account.LimitVerifyEmail, "RATE_LIMIT_VERIFY_PER_EMAIL", c.RateLimitVerifyEmail},
		{account.LimitExportUser, "RATE_LIMIT_EXPORT_PER_USER", c.RateLimitExportUser},
	} {
		lim, err := ratelimit.ParseLimit(l.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.env, err)
		}
		out[l.name] = lim
	}
	return out, nil
}
