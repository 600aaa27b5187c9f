package account

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

// Session revocation reasons, stored in sessions.revoke_reason.
const (
	RevokedLogout     = "logout"
	RevokedLogoutAll  = "logout_all"
	RevokedByUser     = "ended_by_user"
	RevokedTokenReuse = "token_reuse"
)

// Logout ends the session of the access token v: its refresh token stops
// working and every access token of the session is denied until it would
// have expired.
func (s *Service) Logout(ctx context.Context, v *token.Verified) (err error) {
	defer markUnavailable(&err)
	_, err = s.endSessions(ctx, v, RevokedLogout, v.SessionID)
	return err
}

// LogoutAll ends every session of the user and returns how many were
// live. One user.logged_out event is appended per session ended.
func (s *Service) LogoutAll(ctx context.Context, v *token.Verified) (_ int, err error) {
	defer markUnavailable(&err)
	return s.endSessions(ctx, v, RevokedLogoutAll)
}

// EndSession ends one of the user's sessions; ErrNotFound when it is not
// one of theirs or already ended.
func (s *Service) EndSession(ctx context.Context, v *token.Verified, id uuid.UUID) (err error) {
	defer markUnavailable(&err)
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
			if err := s.append(ctx, tx, ev); err != nil {
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
