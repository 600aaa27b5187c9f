package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// Refresh rotates a refresh token. Exactly one of any number of concurrent
// refreshes with one token rotates; the others, and a retry inside the
// grace window while the child is unused, get the same child token back.
// Any other presentation of a rotated token is reuse: the whole session is
// revoked, user.token_reuse_detected is appended, and the caller gets
// ErrInvalidRefreshToken like for any refused token.
func (s *Service) Refresh(ctx context.Context, raw string, c authevents.Client) (_ *Result, err error) {
	defer markUnavailable(&err)
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
	// The common case in one round trip, composed here so the write that
	// matters most reads on the spine: the user lock, the compare-and-set
	// and the event, which is inserted only if the compare-and-set
	// matched. A batch without transaction statements runs as one
	// implicit transaction, so the rotation and its event commit together.
	child, childID := s.tokens.NewRefresh(v.SessionID, v.UserID)
	rot := postgres.Rotation{
		SessionID: v.SessionID, PresentedID: v.ID, NewID: childID,
		IssuedAt: iat, ExpiresAt: iat.Add(s.cfg.RefreshTTL), IdleTimeout: s.cfg.IdleTimeout,
		ChildBox: token.SealChild(raw, child),
	}
	var sess *authevents.Session
	var appended int64
	b := &pgx.Batch{}
	postgres.QueueLockUser(b, v.UserID)
	postgres.QueueRotate(b, v.UserID, rot, &sess)
	q, err := outbox.QueueAppendIf(b, ev, postgres.RotatedSQL, rot.SessionID, rot.NewID)
	if err != nil {
		return nil, err
	}
	q.Exec(func(tag pgconn.CommandTag) error { appended = tag.RowsAffected(); return nil })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("refresh batch: %w", err)
	}
	if (sess != nil) != (appended == 1) {
		// Cannot happen: both statements test the same row in one
		// transaction. Checked because an event must never go missing.
		return nil, fmt.Errorf("rotate session: rotation and event disagree (rotated=%v, events=%d)", sess != nil, appended)
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
		if err := s.append(ctx, tx, ev); err != nil {
			return nil, err
		}
		revoked = true
		return []string{authevents.EventTokenReuseDetected}, nil
	})
	if err != nil {
		return err
	}
	if revoked {
		s.log.WarnContext(ctx, "refresh token reuse: session revoked", "user_id", v.UserID, "session_id", v.SessionID, "client", personal.ForLog(personal.FieldIP, c.IP))
	}
	return authevents.ErrInvalidRefreshToken
}
