// Package authevents holds the domain vocabulary of the auth service: users,
// sessions, the auth event types with their NATS subjects and payloads, the
// CloudEvents envelope that carries them, and the sentinel errors the use
// cases return. It imports nothing outside the standard library and uuid, so
// every other package can depend on it.
package authevents

import (
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// User is an account. PasswordHash is a PHC-format argon2id string and never
// leaves the service: it has no JSON tag on purpose.
type User struct {
	ID           uuid.UUID
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
	LastLoginAt  *time.Time
	// EmailVerifiedAt is when the owner proved the address (a verification,
	// reset or email-change link), or nil while unverified.
	EmailVerifiedAt *time.Time
	// DisabledAt is when an operator disabled the account, or nil: a
	// disabled account cannot sign in, and its sessions were ended.
	DisabledAt *time.Time
	// RegistrationAttempt is the password of the latest registration of
	// this taken address, as a password.HashAlike of PasswordHash, or "":
	// login answers it as it would for a free address (not verified).
	RegistrationAttempt string
}

// LogValue keeps the hash out of logs, whatever the caller logs.
func (u User) LogValue() slog.Value { return slog.StringValue("user:" + u.ID.String()) }

// Session is one login: the refresh-token family that rotation moves along.
// Only the jti of the one valid refresh token is kept, never the token.
type Session struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // absolute lifetime, never extended by rotation
	IP         string
	UserAgent  string

	RefreshJTI        uuid.UUID // jti of the refresh token that is currently valid
	RefreshGeneration int
	RefreshIssuedAt   time.Time // iat of that token (whole seconds)
	RefreshExpiresAt  time.Time // exp of that token
	PrevRefreshJTI    uuid.UUID // jti of its parent, uuid.Nil before the first rotation
	RotatedAt         *time.Time
	// RefreshChildBox is the current refresh token sealed under its
	// parent (see token.SealChild); nil before the first rotation and
	// for rotations of legacy JWT refresh tokens.
	RefreshChildBox []byte
	RevokedAt       *time.Time
	RevokeReason    string
}

// Client describes who made a request, as far as the service can tell.
type Client struct {
	IP        string
	UserAgent string
}

// Sentinel errors returned by the use cases; the HTTP layer maps each to a
// status and a stable machine code in one table.
var (
	ErrEmailTaken         = errors.New("email already registered")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrNotFound           = errors.New("not found")
	// ErrInvalidRefreshToken covers every refresh that is refused: bad
	// token, reuse, revoked or expired session. Clients learn nothing more.
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	// ErrInvalidLinkToken covers every one-time token (verification,
	// reset, email change) that is refused: made up, used, superseded or
	// expired. All get the same answer, and nothing changes.
	ErrInvalidLinkToken = errors.New("invalid or expired link token")
	// ErrEmailNotVerified refuses a login with the right password to an
	// address not yet verified (EMAIL_VERIFICATION=required).
	ErrEmailNotVerified = errors.New("email not verified")
	// ErrAccountDisabled: the right password, for an account an operator
	// disabled. A wrong password is still ErrInvalidCredentials.
	ErrAccountDisabled = errors.New("account disabled")
	// ErrUnavailable means a dependency the request cannot safely do
	// without (Redis for the denylist and rate limits) is unreachable; the
	// request fails closed.
	ErrUnavailable = errors.New("dependency unavailable")
)

// RateLimitedError is returned when a request exceeds a rate limit.
type RateLimitedError struct {
	Limit      string // which limiter: login_ip, login_account, register_ip, refresh_session
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string { return "rate limited: " + e.Limit }

// ValidationError names every input field that was rejected, with a short
// human-readable reason per field.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	return "invalid input"
}

// Add records a problem with field; the first problem per field wins.
func (e *ValidationError) Add(field, reason string) {
	if e.Fields == nil {
		e.Fields = make(map[string]string)
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = reason
	}
}

// Err returns e if any field was rejected, nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}
