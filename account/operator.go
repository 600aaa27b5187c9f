package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
)

// The operator's use cases (authctl users ...). They need the pool, the
// denylist and the token lifetimes of Config (AccessTTL, TokenLeeway,
// IdleTimeout), not the hasher or the signing keys: authctl builds its
// Service without them.

// Change is what an operator's change did: Changed is false when there
// was nothing to do (disabling a disabled user), and then nothing was
// written and no event appended.
type Change struct {
	User          *authevents.User // as it was before the change
	Changed       bool
	SessionsEnded int
}

// UserInfo is a user as an operator sees it.
type UserInfo struct {
	User         *authevents.User
	LiveSessions int
}

// FindUser finds a user by id or by address (any spelling that normalizes
// to it); anything else, or nobody, is ErrNotFound.
func (s *Service) FindUser(ctx context.Context, ref string) (_ *UserInfo, err error) {
	defer markUnavailable(&err)
	ref = strings.TrimSpace(ref)
	var u *authevents.User
	if id, perr := uuid.Parse(ref); perr == nil {
		u, err = postgres.UserByID(ctx, s.pool, id)
	} else if email, why := NormalizeEmail(ref); why == "" {
		u, err = postgres.UserByEmail(ctx, s.pool, email)
	} else {
		return nil, fmt.Errorf("%q is neither a user id nor an address: %w", ref, authevents.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	live, err := postgres.LiveSessions(ctx, s.pool, u.ID, s.cfg.IdleTimeout)
	if err != nil {
		return nil, err
	}
	return &UserInfo{User: u, LiveSessions: len(live)}, nil
}

// DisableUser disables the user: every session ends (rows and denylist,
// so its tokens stop at once), logins are refused with ErrAccountDisabled,
// and user.disabled is appended, in one transaction. Disabling a disabled
// user changes nothing. An unknown user is ErrNotFound.
func (s *Service) DisableUser(ctx context.Context, userID uuid.UUID, by string) (_ *Change, err error) {
	defer markUnavailable(&err)
	ch, err := s.operatorChange(ctx, userID, by, authevents.ByOperator)
	if err != nil {
		return nil, err
	}
	n, err := s.endAccount(ctx, userID, RevokedAccountDisabled, func(tx pgx.Tx) error {
		return setDisabled(ctx, tx, userID, true)
	}, func(tx pgx.Tx, ended int) (string, error) {
		now := s.now()
		return authevents.EventUserDisabled, s.appendEvent(ctx, tx, authevents.EventUserDisabled, userID.String(), now,
			authevents.UserDisabled{UserID: userID.String(), By: by, SessionsEnded: ended, Timestamp: authevents.Timestamp(now)})
	})
	return s.changed(ctx, ch, n, err, "user disabled")
}

// EnableUser lets a disabled user sign in again and appends user.enabled,
// in one transaction. Enabling an enabled user changes nothing.
func (s *Service) EnableUser(ctx context.Context, userID uuid.UUID, by string) (_ *Change, err error) {
	defer markUnavailable(&err)
	ch, err := s.operatorChange(ctx, userID, by, authevents.ByOperator)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.LockUser(ctx, tx, userID); err != nil {
			return err
		}
		if err := setDisabled(ctx, tx, userID, false); err != nil {
			return err
		}
		now := s.now()
		return s.appendEvent(ctx, tx, authevents.EventUserEnabled, userID.String(), now,
			authevents.UserEnabled{UserID: userID.String(), By: by, Timestamp: authevents.Timestamp(now)})
	}, authevents.EventUserEnabled)
	return s.changed(ctx, ch, 0, err, "user enabled")
}

// DeleteUser deletes a user as DeleteAccount does, without a password:
// an operator's deletion (by authevents.ByOperator).
func (s *Service) DeleteUser(ctx context.Context, userID uuid.UUID, by string) (_ *Change, err error) {
	defer markUnavailable(&err)
	ch, err := s.operatorChange(ctx, userID, by, authevents.ByOperator, authevents.ByUser)
	if err != nil {
		return nil, err
	}
	n, err := s.endAccount(ctx, userID, RevokedAccountDeleted, nil, s.deleteUser(ctx, ch.User, by))
	return s.changed(ctx, ch, n, err, "user deleted")
}

// setDisabled disables or enables the user in tx; errUnchanged when it
// already was. Disabling ends the user's links.
func setDisabled(ctx context.Context, tx pgx.Tx, userID uuid.UUID, disabled bool) error {
	changed, err := postgres.SetDisabled(ctx, tx, userID, disabled)
	if err == nil && !changed {
		return errUnchanged
	}
	if err == nil && disabled {
		// Every link dies with the disable: an address change asked
		// for by whoever had the password (the reason to disable, as a
		// rule) would otherwise move the account once confirmed.
		err = postgres.EndOneTimes(ctx, tx, userID)
	}
	return err
}

// operatorChange checks who makes the change (one of allowed) and reads
// the user it is about.
func (s *Service) operatorChange(ctx context.Context, userID uuid.UUID, by string, allowed ...string) (*Change, error) {
	if !slices.Contains(allowed, by) {
		var verr authevents.ValidationError
		verr.Add("by", "must be one of "+strings.Join(allowed, ", "))
		return nil, verr.Err()
	}
	u, err := postgres.UserByID(ctx, s.pool, userID)
	if err != nil {
		return nil, err
	}
	return &Change{User: u}, nil
}

// changed completes ch from the outcome of its transaction and logs it.
func (s *Service) changed(ctx context.Context, ch *Change, ended int, err error, what string) (*Change, error) {
	if errors.Is(err, errUnchanged) {
		return ch, nil
	}
	if err != nil {
		return nil, err
	}
	ch.Changed, ch.SessionsEnded = true, ended
	s.log.InfoContext(ctx, what, "user_id", ch.User.ID, "sessions_ended", ended)
	return ch, nil
}
