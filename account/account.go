// Package account holds the auth use cases (register, login, and the token
// checks behind authenticated requests). Each use case that changes state
// owns its transaction and appends the event describing the change to the
// outbox inside it, so the change and its event commit together or not at
// all. Password hashing always happens before a transaction begins.
package account

import (
	"context"
	"encoding/json"
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
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/password"
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
	// Event metadata carried by every CloudEvent.
	Source         string
	ServiceVersion string
	Environment    string
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
)

// Service implements the auth use cases.
type Service struct {
	pool    *pgxpool.Pool
	hasher  *password.Hasher
	tokens  *token.Manager
	deny    Denylist
	limiter Limiter // nil when rate limiting is switched off
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

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithCommitHook is called once per event after its transaction commits,
// e.g. to count appended outbox rows.
func WithCommitHook(f func(eventType string)) Option { return func(s *Service) { s.committed = f } }

// WithRateLimiter enables rate limiting; without it there is none.
func WithRateLimiter(l Limiter) Option { return func(s *Service) { s.limiter = l } }

// New returns a Service.
func New(pool *pgxpool.Pool, hasher *password.Hasher, tokens *token.Manager, deny Denylist, cfg Config, log *slog.Logger, opts ...Option) *Service {
	s := &Service{pool: pool, hasher: hasher, tokens: tokens, deny: deny, cfg: cfg, log: log.With("component", "account"),
		now: time.Now, committed: func(string) {}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Result is what register and login hand back to the client.
type Result struct {
	User         *authevents.User
	Session      *authevents.Session
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	// DeviceToken (login only) lets this device's later logins pass the
	// per-account limit; see LoginInput.DeviceToken.
	DeviceToken string
}

// RegisterInput is the register request.
type RegisterInput struct {
	Email, Password, Name string
	Client                authevents.Client
}

// Register creates an account and its first session.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*Result, error) {
	in.Client = cleanClient(in.Client)
	var verr authevents.ValidationError
	email, why := NormalizeEmail(in.Email)
	if why != "" {
		verr.Add("email", why)
	}
	name, why := NormalizeName(in.Name)
	if why != "" {
		verr.Add("name", why)
	}
	if why := password.Check(in.Password); why != "" {
		verr.Add("password", why)
	} else if email != "" && strings.EqualFold(in.Password, email) {
		verr.Add("password", "must not be your email address")
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, LimitRegisterIP, s.ipKey(in.Client.IP)); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, hashError("hash password", err)
	}
	now := s.now()
	user := &authevents.User{ID: newID(), Email: email, Name: name, PasswordHash: hash}
	res, sess, err := s.newSession(user, in.Client, now)
	if err != nil {
		return nil, err
	}
	ev, err := s.event(authevents.EventUserRegistered, user.ID.String(), now, authevents.UserRegistered{
		UserID: user.ID.String(), Email: email, Name: name, Timestamp: authevents.Timestamp(now),
	})
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.CreateUser(ctx, tx, user); err != nil {
			return err
		}
		if err := postgres.CreateSession(ctx, tx, sess); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, ev)
	}, authevents.EventUserRegistered)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", user.ID, "session_id", sess.ID)
	return res, nil
}

// LoginInput is the login request.
type LoginInput struct {
	Email, Password string
	Client          authevents.Client
	// DeviceToken is the token an earlier successful login of this
	// account returned to this device, or "". When valid, the login is
	// limited per device instead of per account, so someone guessing the
	// password elsewhere cannot lock the owner out (OWASP device cookies).
	DeviceToken string
}

// Login checks credentials and opens a session. Unknown email and wrong
// password return the same ErrInvalidCredentials after the same amount of
// hashing work, and each appends user.login_failed.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Result, error) {
	in.Client = cleanClient(in.Client)
	var verr authevents.ValidationError
	if strings.TrimSpace(in.Email) == "" {
		verr.Add("email", "is required")
	} else if why := storable(in.Email); why != "" {
		// The email reaches PostgreSQL (the login_failed event, its
		// ordering key) even when it is not a valid address.
		verr.Add("email", why)
	}
	if in.Password == "" {
		verr.Add("password", "is required")
	} else if utf8.RuneCountInString(in.Password) > password.MaxLength {
		// Refused before hashing: a megabyte "password" must not cost a hash.
		verr.Add("password", "must be at most 256 characters")
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	email, why := NormalizeEmail(in.Email)
	if why != "" {
		email = truncate(in.Email, MaxEmailBytes)
	}
	var user *authevents.User
	lookedUp := false
	lookup := func() error {
		lookedUp = true
		u, err := postgres.UserByEmail(ctx, s.pool, email)
		if err != nil && !errors.Is(err, authevents.ErrNotFound) {
			return fmt.Errorf("find user: %w", err)
		}
		user = u
		return nil
	}
	device := s.verifyDevice(in.DeviceToken)
	if device != nil && why == "" {
		// A device token counts only for the account it was issued to.
		if err := lookup(); err != nil {
			return nil, err
		}
		if user == nil || user.ID != device.UserID {
			device = nil
		}
	} else {
		device = nil
	}
	if err := s.loginAllowed(ctx, email, in.Client, device); err != nil {
		return nil, err
	}
	if why == "" && !lookedUp {
		if err := lookup(); err != nil {
			return nil, err
		}
	}
	if user == nil {
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return nil, hashError("verify password", err)
		}
		return nil, s.loginFailed(ctx, email, nil, in.Client, authevents.ReasonUnknownEmail)
	}
	ok, err := s.hasher.Verify(ctx, in.Password, user.PasswordHash)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, password.ErrBusy) {
		return nil, hashError("verify password", err)
	}
	if err != nil {
		// A stored hash we refuse to evaluate is an operator problem, not
		// the client's: log it, answer as for a wrong password, after the
		// same work (the dummy hash), so timing does not single out
		// accounts with a broken hash.
		s.log.ErrorContext(ctx, "stored password hash unusable", "user_id", user.ID, "err", err)
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return nil, hashError("verify password", err)
		}
		ok = false
	}
	if !ok {
		return nil, s.loginFailed(ctx, email, user, in.Client, authevents.ReasonInvalidPassword)
	}
	var newHash string
	if s.hasher.NeedsRehash(user.PasswordHash) {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return nil, hashError("rehash password", err)
		}
	}
	now := s.now()
	res, sess, err := s.newSession(user, in.Client, now)
	if err != nil {
		return nil, err
	}
	ev, err := s.event(authevents.EventUserLoggedIn, user.ID.String(), now, authevents.UserLoggedIn{
		UserID: user.ID.String(), Email: user.Email, Timestamp: authevents.Timestamp(now),
		IP: in.Client.IP, UserAgent: in.Client.UserAgent,
	})
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// The user lock orders this user's transactions, and with them
		// the outbox rows they append.
		if err := postgres.LockUser(ctx, tx, user.ID); err != nil {
			return err
		}
		u, err := postgres.RecordLogin(ctx, tx, user.ID, newHash)
		if err != nil {
			return err
		}
		res.User = u
		if err := postgres.CreateSession(ctx, tx, sess); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, ev)
	}, authevents.EventUserLoggedIn)
	if errors.Is(err, authevents.ErrNotFound) {
		// Deleted between lookup and update.
		return nil, authevents.ErrInvalidCredentials
	}
	if err != nil {
		return nil, err
	}
	if res.DeviceToken, err = s.signDevice(user, device, now); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user logged in", "user_id", user.ID, "session_id", sess.ID, "rehashed", newHash != "", "known_device", device != nil)
	return res, nil
}

// verifyDevice returns the verified device token, or nil when raw is
// empty, invalid or device tokens are off.
func (s *Service) verifyDevice(raw string) *token.Verified {
	if raw == "" || s.cfg.DeviceTTL <= 0 {
		return nil
	}
	v, err := s.tokens.Verify(raw, token.TypeDevice)
	if err != nil {
		return nil
	}
	return v
}

// signDevice issues the device token of a successful login: the same
// device id again when the login presented a valid one, else a new one.
func (s *Service) signDevice(user *authevents.User, known *token.Verified, now time.Time) (string, error) {
	if s.cfg.DeviceTTL <= 0 {
		return "", nil
	}
	id := newID()
	if known != nil {
		id = known.ID
	}
	raw, err := s.tokens.Sign(token.Spec{Type: token.TypeDevice, UserID: user.ID, SessionID: id, ID: id, IssuedAt: now, TTL: s.cfg.DeviceTTL})
	if err != nil {
		return "", fmt.Errorf("sign device token: %w", err)
	}
	return raw, nil
}

// loginFailed appends user.login_failed and returns ErrInvalidCredentials,
// or the error that kept the event from being written.
func (s *Service) loginFailed(ctx context.Context, email string, user *authevents.User, c authevents.Client, reason string) error {
	now := s.now()
	data := authevents.UserLoginFailed{Email: email, IP: c.IP, UserAgent: c.UserAgent, Reason: reason, Timestamp: authevents.Timestamp(now)}
	subject := ""
	if user != nil {
		data.UserID = user.ID.String()
		subject = data.UserID
	}
	ev, err := s.event(authevents.EventUserLoginFailed, subject, now, data)
	if err != nil {
		return err
	}
	if ev.OrderingKey == "" {
		ev.OrderingKey = "email:" + email
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if user != nil {
			if err := postgres.LockUser(ctx, tx, user.ID); err != nil {
				return err
			}
		}
		return outbox.Append(ctx, tx, ev)
	}, authevents.EventUserLoginFailed)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "login failed", "reason", reason, "user_known", user != nil)
	return authevents.ErrInvalidCredentials
}

// Authenticate verifies an access token and checks the denylist. If the
// denylist cannot be read the request fails closed with ErrUnavailable.
func (s *Service) Authenticate(ctx context.Context, raw string) (*token.Verified, error) {
	v, err := s.tokens.Verify(raw, token.TypeAccess)
	if err != nil {
		return nil, authevents.ErrUnauthorized
	}
	revoked, err := s.deny.Revoked(ctx, v.SessionID, v.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	if revoked {
		return nil, authevents.ErrUnauthorized
	}
	return v, nil
}

// Me returns the user an access token belongs to.
func (s *Service) Me(ctx context.Context, userID uuid.UUID) (*authevents.User, error) {
	u, err := postgres.UserByID(ctx, s.pool, userID)
	if errors.Is(err, authevents.ErrNotFound) {
		return nil, authevents.ErrUnauthorized
	}
	return u, err
}

// JWKS returns the public keys that verify this service's tokens.
func (s *Service) JWKS() token.JWKS { return s.tokens.JWKS() }

// newSession makes a session for user and signs its token pair.
func (s *Service) newSession(user *authevents.User, c authevents.Client, now time.Time) (*Result, *authevents.Session, error) {
	sess := &authevents.Session{
		ID: newID(), UserID: user.ID, ExpiresAt: now.Add(s.cfg.SessionMaxAge),
		IP: c.IP, UserAgent: truncate(c.UserAgent, MaxUserAgentBytes),
	}
	refresh, id := s.tokens.NewRefresh(sess.ID, user.ID)
	s.nextRefresh(sess, id, now)
	res, err := s.pair(sess, refresh, now)
	if err != nil {
		return nil, nil, err
	}
	res.User = user
	return res, sess, nil
}

// nextRefresh sets the session's current refresh token: jti, issue time
// (whole seconds, as in the JWT) and expiry, which never passes the
// session's absolute lifetime.
func (s *Service) nextRefresh(sess *authevents.Session, jti uuid.UUID, now time.Time) {
	sess.RefreshJTI = jti
	sess.RefreshIssuedAt = now.Truncate(time.Second)
	sess.RefreshExpiresAt = sess.RefreshIssuedAt.Add(s.cfg.RefreshTTL)
	if sess.RefreshExpiresAt.After(sess.ExpiresAt) {
		sess.RefreshExpiresAt = sess.ExpiresAt
	}
}

// pair signs a fresh access token for the session and pairs it with the
// session's current refresh token.
func (s *Service) pair(sess *authevents.Session, refresh string, now time.Time) (*Result, error) {
	access, err := s.tokens.Sign(token.Spec{Type: token.TypeAccess, UserID: sess.UserID, SessionID: sess.ID, ID: newID(), IssuedAt: now, TTL: s.cfg.AccessTTL})
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &Result{Session: sess, AccessToken: access, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTTL}, nil
}

// legacyRefresh re-signs the session's current refresh token as the JWT
// it was when the session last rotated before opaque refresh tokens (no
// child box): Ed25519 is deterministic, so it comes out byte for byte the
// same. Only the grace window of such a rotation uses it.
func (s *Service) legacyRefresh(sess *authevents.Session) (string, error) {
	refresh, err := s.tokens.Sign(token.Spec{Type: token.TypeRefresh, UserID: sess.UserID, SessionID: sess.ID, ID: sess.RefreshJTI,
		IssuedAt: sess.RefreshIssuedAt, TTL: sess.RefreshExpiresAt.Sub(sess.RefreshIssuedAt)})
	if err != nil {
		return "", fmt.Errorf("sign refresh token: %w", err)
	}
	return refresh, nil
}

// event builds the outbox message of one auth event: a CloudEvents 1.0
// structured JSON envelope around data.
func (s *Service) event(eventType, subject string, now time.Time, data any) (outbox.Message, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("encode %s: %w", eventType, err)
	}
	id := newID()
	payload, err := json.Marshal(authevents.CloudEvent{
		SpecVersion: "1.0", ID: id.String(), Source: s.cfg.Source, Type: eventType,
		Time: now.UTC().Format(authevents.TimestampLayout), Subject: subject,
		DataContentType: "application/json", ServiceVersion: s.cfg.ServiceVersion,
		Environment: s.cfg.Environment, Data: body,
	})
	if err != nil {
		return outbox.Message{}, fmt.Errorf("encode %s envelope: %w", eventType, err)
	}
	return outbox.Message{ID: id, Subject: authevents.Subject(eventType), Payload: payload, OrderingKey: subject}, nil
}

// inTxDynamic runs fn in a transaction, with the test hook before the
// commit, and reports the event types fn says it appended once they are
// committed.
func (s *Service) inTxDynamic(ctx context.Context, fn func(pgx.Tx) ([]string, error)) error {
	var types []string
	err := postgres.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if types, err = fn(tx); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(tx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range types {
		s.committed(t)
	}
	return nil
}

// inTx is inTxDynamic for transactions whose event types are known up
// front.
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error, eventTypes ...string) error {
	return s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) { return eventTypes, fn(tx) })
}

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
