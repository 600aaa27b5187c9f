package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
)

// Sessions lists the user's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, userID uuid.UUID) (_ []authevents.Session, err error) {
	defer markUnavailable(&err)
	if err := s.userExists(ctx, userID); err != nil {
		return nil, err
	}
	return postgres.LiveSessions(ctx, s.pool, userID, s.cfg.IdleTimeout)
}

// Me returns the user an access token belongs to.
func (s *Service) Me(ctx context.Context, userID uuid.UUID) (_ *authevents.User, err error) {
	defer markUnavailable(&err)
	u, err := postgres.UserByID(ctx, s.pool, userID)
	if errors.Is(err, authevents.ErrNotFound) || (err == nil && u.DisabledAt != nil) {
		return nil, authevents.ErrUnauthorized
	}
	return u, err
}

// userExists returns ErrUnauthorized when the user of a still-valid access
// token has been deleted or disabled: such a token must stop working at
// once, not when it expires (disabling also denies it; this holds if the
// denylist write was lost).
func (s *Service) userExists(ctx context.Context, userID uuid.UUID) error {
	_, err := s.Me(ctx, userID)
	if err != nil && !errors.Is(err, authevents.ErrUnauthorized) {
		return fmt.Errorf("find user: %w", err)
	}
	return err
}
