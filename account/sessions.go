package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/token"
)

// Session revocation reasons, stored in sessions.revoke_reason.
const (
	RevokedLogout     = "logout"
	RevokedLogoutAll  = "logout_all"
	RevokedByUser     = "ended_by_user"
	RevokedTokenReuse = "token_reuse"
)

// Refresh rotates a refresh token. Exactly one of any number of concurrent
// refreshes with one token rotates; the others, and a retry inside the
// grace window while the child is unused, get the same child token back.
// Any other presentation of a rotated token is reuse: the whole session is
// revoked, user.token_reuse_detected is appended, and the caller gets
// ErrInvalidRefreshToken like for any refused token.
func (s *Service) Refresh(ctx context.Context, raw string, c authevents.Client) (*Result, error) {
	c = cleanClient(c)
	v, err := s.presentedRefresh(raw)
	if err != nil {
		return nil, authevents.ErrInvalidRefreshToken
	}
	// The denylist answers first: a session revoked by logout or reuse is
	// refused without touching Postgres, and an unreachable Redis fails
	// the refresh closed even when rate limits are off.
	revoked, err := s.deny.Revoked(ctx, v.SessionID, uuid.Nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	if revoked {
		return nil, authevents.ErrInvalidRefreshToken
	}
	if err := s.allow(ctx, LimitRefreshSession, v.SessionID.String()); err != nil {
		return nil, err
	}
	now := s.now()
	iat := now.Truncate(time.Second)
	ev, err := s.event(authevents.EventUserTokenRefreshed, v.UserID.String(), now, authevents.UserTokenRefreshed{
		UserID: v.UserID.String(), SessionID: v.SessionID.String(), Timestamp: authevents.Timestamp(now),
	})
	if err != nil {
		return nil, err
	}
	// The common case in one round trip: lock, compare-and-set and the
	// event, committed together.
	child, childID := s.tokens.NewRefresh(v.SessionID, v.UserID)
	sess, err := postgres.Rotate(ctx, s.pool, v.UserID, postgres.Rotation{
		SessionID: v.SessionID, PresentedID: v.ID, NewID: childID,
		IssuedAt: iat, ExpiresAt: iat.Add(s.cfg.RefreshTTL), IdleTimeout: s.cfg.IdleTimeout,
		ChildBox: token.SealChild(raw, child),
	}, ev)
	if err != nil {
		return nil, err
	}
	if sess != nil {
		s.committed(authevents.EventUserTokenRefreshed)
		return s.pair(sess, child, now)
	}
	// The compare-and-set did not match: find out why. The verdict is
	// read without locks; only reuse changes anything, and it writes the
	// denylist before its transaction begins.
	sess, err = postgres.SessionByID(ctx, s.pool, v.SessionID)
	if errors.Is(err, authevents.ErrNotFound) {
		return nil, authevents.ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	dbNow, err := postgres.ClockNow(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	switch s.whyRefused(sess, v, dbNow) {
	case refusedGrace:
		// Lost response or parallel tab: the same child again, no new
		// branch, nothing revoked, no event (no state changed). Only the
		// holder of the parent can open the sealed child.
		if sess.RefreshChildBox == nil {
			child, err := s.legacyRefresh(sess)
			if err != nil {
				return nil, err
			}
			return s.pair(sess, child, now)
		}
		child, err := token.OpenChild(raw, sess.RefreshChildBox)
		if err != nil {
			return nil, authevents.ErrInvalidRefreshToken
		}
		return s.pair(sess, child, now)
	case refused:
		return nil, authevents.ErrInvalidRefreshToken
	}
	return nil, s.reuseDetected(ctx, v, c, now)
}

// presentedRefresh identifies a presented refresh token: an opaque one
// (its ids, and its id = hash of its secret; whether it is current is the
// database's compare-and-set) or a JWT refresh token issued before opaque
// ones, accepted until it expires.
func (s *Service) presentedRefresh(raw string) (*token.Verified, error) {
	if !token.IsOpaqueRefresh(raw) {
		return s.tokens.Verify(raw, token.TypeRefresh)
	}
	r, err := s.tokens.VerifyRefresh(raw)
	if err != nil {
		return nil, err
	}
	return &token.Verified{UserID: r.UserID, SessionID: r.SessionID, ID: r.ID()}, nil
}

// Verdicts of whyRefused.
const (
	refused      = iota // gone, revoked, expired, idle, or not this user's
	refusedGrace        // the just-rotated parent inside the grace window
	refusedReuse        // a rotated token presented again
)

// whyRefused decides why a refresh's compare-and-set did not match, from
// the session as stored and the database clock.
func (s *Service) whyRefused(sess *authevents.Session, v *token.Verified, dbNow time.Time) int {
	switch {
	case sess.UserID != v.UserID, sess.RevokedAt != nil,
		!sess.ExpiresAt.After(dbNow), !sess.LastUsedAt.Add(s.cfg.IdleTimeout).After(dbNow):
		return refused
	case v.ID == sess.RefreshJTI:
		// Current token but the compare-and-set failed: only a session that
		// stopped being live does that, and the checks above caught it.
		return refused
	case v.ID == sess.PrevRefreshJTI && sess.RotatedAt != nil && dbNow.Sub(*sess.RotatedAt) <= s.cfg.GraceWindow:
		return refusedGrace
	}
	return refusedReuse
}

// reuseDetected revokes the session of a reused refresh token: first its
// access tokens are denied in Redis, outside any transaction (a slow Redis
// then holds no pool connection and no user lock; an unreachable one
// fails the request closed with nothing changed), then, under the user
// lock, the session is revoked and user.token_reuse_detected appended if
// the verdict still holds. It returns ErrInvalidRefreshToken on success.
func (s *Service) reuseDetected(ctx context.Context, v *token.Verified, c authevents.Client, now time.Time) error {
	if err := s.denySessions(ctx, uuid.Nil, v.SessionID); err != nil {
		return err
	}
	var revoked bool
	err := s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) {
		revoked = false
		if err := postgres.LockUser(ctx, tx, v.UserID); err != nil {
			return nil, err
		}
		sess, err := postgres.SessionForUpdate(ctx, tx, v.SessionID)
		if errors.Is(err, authevents.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		dbNow, err := postgres.ClockNow(ctx, tx)
		if err != nil {
			return nil, err
		}
		if s.whyRefused(sess, v, dbNow) != refusedReuse {
			// Revoked meanwhile (by a logout or a concurrent reuse, which
			// wrote its own event): nothing left to do.
			return nil, nil
		}
		if _, err := postgres.RevokeSession(ctx, tx, sess.ID, sess.UserID, RevokedTokenReuse); err != nil {
			return nil, err
		}
		ev, err := s.event(authevents.EventTokenReuseDetected, v.UserID.String(), now, authevents.TokenReuseDetected{
			UserID: v.UserID.String(), SessionID: v.SessionID.String(), IP: c.IP, UserAgent: c.UserAgent, Timestamp: authevents.Timestamp(now),
		})
		if err != nil {
			return nil, err
		}
		if err := outbox.Append(ctx, tx, ev); err != nil {
			return nil, err
		}
		revoked = true
		return []string{authevents.EventTokenReuseDetected}, nil
	})
	if err != nil {
		return err
	}
	if revoked {
		s.log.WarnContext(ctx, "refresh token reuse: session revoked", "user_id", v.UserID, "session_id", v.SessionID, "client_ip", c.IP)
	}
	return authevents.ErrInvalidRefreshToken
}

// Logout ends the session of the access token v: its refresh token stops
// working and every access token of the session is denied until it would
// have expired.
func (s *Service) Logout(ctx context.Context, v *token.Verified) error {
	_, err := s.endSessions(ctx, v, RevokedLogout, v.SessionID)
	return err
}

// LogoutAll ends every session of the user and returns how many were
// live. One user.logged_out event is appended per session ended.
func (s *Service) LogoutAll(ctx context.Context, v *token.Verified) (int, error) {
	return s.endSessions(ctx, v, RevokedLogoutAll)
}

// EndSession ends one of the user's sessions; ErrNotFound when it is not
// one of theirs or already ended.
func (s *Service) EndSession(ctx context.Context, v *token.Verified, id uuid.UUID) error {
	n, err := s.endSessions(ctx, v, RevokedByUser, id)
	if err == nil && n == 0 {
		return authevents.ErrNotFound
	}
	return err
}

// endSessions revokes the given sessions of v's user (all of them when
// none are given) and appends one user.logged_out per session that was
// live. The denylist is written first, before the transaction begins: a
// slow Redis then holds no pool connection and no user lock, and an
// unreachable one fails the request closed with nothing changed. Sessions
// opened after the candidates were read are not ended (the logout
// happened before them).
func (s *Service) endSessions(ctx context.Context, v *token.Verified, reason string, ids ...uuid.UUID) (int, error) {
	now := s.now()
	if err := s.userExists(ctx, v.UserID); err != nil {
		return 0, err
	}
	candidates, err := postgres.SessionsToEnd(ctx, s.pool, v.UserID, ids, s.cfg.IdleTimeout, s.denyTTL())
	if err != nil {
		return 0, err
	}
	deny := make([]uuid.UUID, 0, len(candidates))
	var live []uuid.UUID
	for _, c := range candidates {
		deny = append(deny, c.ID)
		if c.Live {
			live = append(live, c.ID)
		}
	}
	// The caller's own token is denied even if its session was already
	// ended, so a logout is idempotent and always effective.
	jti := uuid.Nil
	if reason != RevokedByUser || (len(ids) == 1 && ids[0] == v.SessionID) {
		jti = v.ID
	}
	if len(deny) > 0 || jti != uuid.Nil {
		if err := s.denySessions(ctx, jti, deny...); err != nil {
			return 0, err
		}
	}
	if len(live) == 0 {
		s.log.InfoContext(ctx, "sessions ended", "user_id", v.UserID, "reason", reason, "count", 0)
		return 0, nil
	}
	var ended []uuid.UUID
	err = s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) {
		if err := postgres.LockUser(ctx, tx, v.UserID); err != nil {
			return nil, err
		}
		var err error
		if ended, err = postgres.RevokeLiveSessions(ctx, tx, v.UserID, live, reason, s.cfg.IdleTimeout); err != nil {
			return nil, err
		}
		var types []string
		for _, id := range ended {
			ev, err := s.event(authevents.EventUserLoggedOut, v.UserID.String(), now, authevents.UserLoggedOut{
				UserID: v.UserID.String(), SessionID: id.String(), Timestamp: authevents.Timestamp(now),
			})
			if err != nil {
				return nil, err
			}
			if err := outbox.Append(ctx, tx, ev); err != nil {
				return nil, err
			}
			types = append(types, authevents.EventUserLoggedOut)
		}
		return types, nil
	})
	if err != nil {
		return 0, err
	}
	s.log.InfoContext(ctx, "sessions ended", "user_id", v.UserID, "reason", reason, "count", len(ended))
	return len(ended), nil
}

// denyTTL is how long a denylist entry lives: longer than any access
// token it blocks.
func (s *Service) denyTTL() time.Duration { return s.cfg.AccessTTL + s.cfg.TokenLeeway + time.Second }

// denySessions writes the denylist entries, long enough to outlive every
// access token of those sessions.
func (s *Service) denySessions(ctx context.Context, jti uuid.UUID, sessions ...uuid.UUID) error {
	if err := s.deny.RevokeSessions(ctx, s.denyTTL(), jti, sessions...); err != nil {
		return fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	return nil
}

// Sessions lists the user's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, userID uuid.UUID) ([]authevents.Session, error) {
	if err := s.userExists(ctx, userID); err != nil {
		return nil, err
	}
	return postgres.LiveSessions(ctx, s.pool, userID, s.cfg.IdleTimeout)
}

// userExists returns ErrUnauthorized when the user of a still-valid access
// token has been deleted: such a token must stop working at once, not
// when it expires.
func (s *Service) userExists(ctx context.Context, userID uuid.UUID) error {
	_, err := postgres.UserByID(ctx, s.pool, userID)
	if errors.Is(err, authevents.ErrNotFound) {
		return authevents.ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	return nil
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

// loginAllowed applies the per-IP and per-account login limits (per-device
// instead of per-account when device is a valid device token of the
// account). Both
// buckets are charged on every attempt. When either is exhausted, one
// user.login_failed with reason rate_limited is appended per window and
// key, not one per request.
func (s *Service) loginAllowed(ctx context.Context, email string, c authevents.Client, device *token.Verified) error {
	if s.limiter == nil {
		return nil
	}
	var limited *authevents.RateLimitedError
	ipKey := s.ipKey(c.IP)
	second := struct{ name, key string }{LimitLoginAccount, email}
	if device != nil {
		second.name, second.key = LimitLoginDevice, device.ID.String()
	}
	for _, l := range []struct{ name, key string }{{LimitLoginIP, ipKey}, second} {
		err := s.allow(ctx, l.name, l.key)
		var rl *authevents.RateLimitedError
		if errors.As(err, &rl) {
			if limited == nil || rl.RetryAfter > limited.RetryAfter {
				limited = rl
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	if limited == nil {
		return nil
	}
	key := "login_failed:" + limited.Limit + ":"
	switch limited.Limit {
	case LimitLoginIP:
		key += ipKey
	case LimitLoginDevice:
		key += device.ID.String()
	default:
		key += email
	}
	first, err := s.limiter.Once(ctx, key, s.limiter.Period(limited.Limit))
	if err != nil {
		return fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	if first {
		var user *authevents.User
		if norm, why := NormalizeEmail(email); why == "" {
			user, _ = postgres.UserByEmail(ctx, s.pool, norm)
		}
		if err := s.loginFailed(ctx, email, user, c, authevents.ReasonRateLimited); !errors.Is(err, authevents.ErrInvalidCredentials) {
			return err
		}
	}
	return limited
}
