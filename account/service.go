// Package account holds the auth use cases, one file per request:
// register.go, login.go, refresh.go, logout.go, sessions.go (list, end one,
// me), tokens.go (signing, and the checks behind authenticated requests),
// with the wiring in service.go and the transaction helpers in tx.go. Each use case
// that changes state owns its transaction and appends the event describing
// the change to the outbox inside it, so the change and its event commit
// together or not at all. Password hashing always happens before a
// transaction begins.
package account

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/password"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// Config holds the settings of the use cases.
type Config struct {
	AccessTTL     time.Duration
	RefreshTTL    time.Duration
	SessionMaxAge time.Duration
	// IdleTimeout ends a session not refreshed for this long.
	IdleTimeout time.Duration
	// GraceWindow is how long after a rotation the parent refresh token
	// still returns the same child instead of counting as reuse.
	GraceWindow time.Duration
	// DeviceTTL is the lifetime of the device token a successful login
	// returns; 0 issues none.
	DeviceTTL time.Duration
	// TokenLeeway is the verifier's clock-skew tolerance; denylist entries
	// outlive the tokens they block by this much.
	TokenLeeway time.Duration
	// IPv6RatePrefix is the prefix length an IPv6 client is rate limited
	// on (a host usually gets a whole /64, so the full address would be a
	// fresh bucket per request); 0 means 64. IPv4 and IPv4-mapped
	// addresses are limited per address.
	IPv6RatePrefix int
	// VerificationRequired (EMAIL_VERIFICATION=required) refuses logins
	// to unverified addresses, and registration answers alike for new
	// and taken addresses; otherwise registration signs the user in and
	// says when an address is taken (it enumerates accounts).
	VerificationRequired bool
	// Lifetimes of the one-time links: address verification, password
	// reset, email change.
	VerificationTTL, ResetTTL, EmailChangeTTL time.Duration
	// EnumerationFloor is the least time an answer that must not tell
	// whether an account exists takes (register in required mode, forgot
	// password, resend, email change): the work behind a known address
	// is more than behind an unknown one, and the floor hides the
	// difference as long as the work fits within it.
	EnumerationFloor time.Duration
	// V2Only (EVENTS_V1=false) appends only version 2 of the event types
	// that have one, once version 1's documented period is over; it
	// matters only with WithPersonalKeys.
	V2Only bool
	// Event metadata carried by every CloudEvent.
	Source         string
	ServiceVersion string
	Environment    string
}

// EventSource is the metadata of the events this configuration writes.
func (c Config) EventSource() authevents.EventSource {
	return authevents.EventSource{Source: c.Source, ServiceVersion: c.ServiceVersion, Environment: c.Environment}
}

// Denylist is the fast store of revoked sessions and access tokens.
type Denylist interface {
	RevokeSessions(ctx context.Context, ttl time.Duration, jti uuid.UUID, sessions ...uuid.UUID) error
	Revoked(ctx context.Context, session, jti uuid.UUID) (bool, error)
}

// Limiter applies the named rate limits (Limit* constants).
type Limiter interface {
	Allow(ctx context.Context, name, key string) (retryAfter time.Duration, err error)
	Period(name string) time.Duration
	Once(ctx context.Context, key string, window time.Duration) (bool, error)
}

// Names of the rate limits a Limiter must know.
const (
	LimitLoginIP        = "login_ip"
	LimitLoginAccount   = "login_account"
	LimitRegisterIP     = "register_ip"
	LimitRefreshSession = "refresh_session"
	// LimitLoginDevice replaces LimitLoginAccount for a login that
	// presents a valid device token of that account.
	LimitLoginDevice = "login_device"
	// Password reset requests, per client IP and per address (known or
	// not, so that a 429 tells nothing about the address).
	LimitResetIP    = "reset_ip"
	LimitResetEmail = "reset_email"
	// Verification resends, per client IP and per address; over the limit
	// a resend is dropped silently (the answer is always 202).
	LimitVerifyIP    = "verify_ip"
	LimitVerifyEmail = "verify_email"
	// LimitExportUser limits account exports per user: each reads every
	// row the database holds about the user.
	LimitExportUser = "export_user"
)

// Service implements the auth use cases.
type Service struct {
	pool    *pgxpool.Pool
	hasher  *password.Hasher
	tokens  *token.Manager
	deny    Denylist
	limiter Limiter // nil when rate limiting is switched off
	sealer  *token.Sealer
	// keys holds the users' personal data keys; a deletion erases the
	// user's key (and leaves its tombstone) in its transaction.
	keys *personal.Keys
	// protect: events with personal fields also go out as version 2,
	// encrypted under keys (WithPersonalKeys).
	protect bool
	ring    *personal.Keyring
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	// committed is told the type of every event whose transaction committed.
	committed func(eventType string)
	// beforeCommit, when set (tests only), runs inside every transaction
	// after all writes; an error from it rolls the transaction back.
	beforeCommit func(tx pgx.Tx) error
}

// Option configures a Service.
type Option func(*Service)

// WithCommitHook is called once per event after its transaction commits,
// e.g. to count appended outbox rows.
func WithCommitHook(f func(eventType string)) Option { return func(s *Service) { s.committed = f } }

// WithSealer seals the tokens of one-time links to the email service's
// key; the lifecycle use cases that issue links fail without it.
func WithSealer(sl *token.Sealer) Option { return func(s *Service) { s.sealer = sl } }

// WithPersonalKeys keeps the users' data keys wrapped under ring's
// key-encryption key (PERSONAL_DATA_KEY): every event with personal fields then also goes
// out as version 2, its fields encrypted. Without it the service still
// erases keys (a tombstone needs no key-encryption key).
func WithPersonalKeys(ring *personal.Keyring) Option {
	return func(s *Service) { s.ring, s.protect = ring, true }
}

// PersonalKeys returns the store of the users' data keys this service
// uses: another use of the keys in the same process (the key-access
// service) shares its cache, so a deletion here takes effect there at once.
func (s *Service) PersonalKeys() *personal.Keys { return s.keys }

// WithRateLimiter enables rate limiting; without it there is none.
func WithRateLimiter(l Limiter) Option { return func(s *Service) { s.limiter = l } }

// New returns a Service.
func New(pool *pgxpool.Pool, hasher *password.Hasher, tokens *token.Manager, deny Denylist, cfg Config, log *slog.Logger, opts ...Option) *Service {
	s := &Service{pool: pool, hasher: hasher, tokens: tokens, deny: deny, cfg: cfg, log: log.With("component", "account"),
		now: time.Now, committed: func(string) {}}
	for _, o := range opts {
		o(s)
	}
	s.keys = personal.NewKeys(pool, s.ring, personal.Options{})
	s.cfg.VerificationTTL = cmp.Or(s.cfg.VerificationTTL, DefaultVerificationTTL)
	s.cfg.ResetTTL = cmp.Or(s.cfg.ResetTTL, DefaultResetTTL)
	s.cfg.EmailChangeTTL = cmp.Or(s.cfg.EmailChangeTTL, DefaultVerificationTTL)
	return s
}

// Default lifetimes of the one-time links (EMAIL_VERIFICATION_TTL,
// PASSWORD_RESET_TTL).
const (
	DefaultVerificationTTL = 24 * time.Hour
	DefaultResetTTL        = 30 * time.Minute
)

// Result is what register and login hand back to the client.
type Result struct {
	User         *authevents.User
	Session      *authevents.Session
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	// VerificationPending (register under EMAIL_VERIFICATION=required):
	// no session was opened; the answer is the same for a new and a taken
	// address, and the rest of Result is empty.
	VerificationPending bool
	// DeviceToken (login only) lets this device's later logins pass the
	// per-account limit; see LoginInput.DeviceToken.
	DeviceToken string
}

// allow applies one rate limit; over the limit is *RateLimitedError, an
// unreachable Redis is ErrUnavailable (fail closed).
func (s *Service) allow(ctx context.Context, name, key string) error {
	if s.limiter == nil {
		return nil
	}
	wait, err := s.limiter.Allow(ctx, name, key)
	if err != nil {
		return fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	if wait > 0 {
		return &authevents.RateLimitedError{Limit: name, RetryAfter: wait}
	}
	return nil
}

// markUnavailable turns a use case's PostgreSQL outage (refused connect,
// lost connection, server shutting down) into ErrUnavailable: the client
// is told to retry shortly (503), not that it hit a bug (500).
func markUnavailable(err *error) { *err = postgres.MarkUnavailable(*err) }

// hashError wraps a hashing failure; a full hashing queue is
// ErrUnavailable (503 with Retry-After), not a 500.
func hashError(op string, err error) error {
	if errors.Is(err, password.ErrBusy) {
		return fmt.Errorf("%s: %w: %w", op, authevents.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ipKey is the rate-limit key of a client address: an IPv4 address (also
// when written IPv4-mapped, ::ffff:a.b.c.d) as is, an IPv6 address as its
// prefix of cfg.IPv6RatePrefix bits, e.g. 2001:db8:1:2::/64.
func (s *Service) ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	bits := s.cfg.IPv6RatePrefix
	if bits <= 0 || bits > 128 {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// newID returns a UUIDv7: time-ordered, so primary-key inserts stay local.
func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
