package account

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

// Session revocation reasons of leaving.
const (
	RevokedAccountDeleted  = "account_deleted"
	RevokedAccountDisabled = "account_disabled"
)

// DeleteAccount deletes the signed-in user's account. The password is
// checked as a password change checks it (a wrong one is
// ErrInvalidCredentials, a user.login_failed, and counts toward the
// account's login limit). In one transaction every session ends (one
// user.logged_out each), the user row goes with its sessions and links,
// and user.deleted {by: "user"} is appended; every access token of the
// account is denied.
func (s *Service) DeleteAccount(ctx context.Context, v *token.Verified, pw string, c authevents.Client) (err error) {
	defer markUnavailable(&err)
	c = cleanClient(c)
	var verr authevents.ValidationError
	checkPresented(&verr, "password", pw)
	if err := verr.Err(); err != nil {
		return err
	}
	u, err := s.reauthenticate(ctx, v, pw, c)
	if err != nil {
		return err
	}
	n, err := s.endAccount(ctx, u.ID, RevokedAccountDeleted, func(tx pgx.Tx) error {
		return s.stillAuthenticated(ctx, tx, v, u)
	}, s.deleteUser(ctx, u, authevents.ByUser))
	if errors.Is(err, authevents.ErrNotFound) {
		return authevents.ErrUnauthorized // deleted by someone else in between
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "account deleted", "user_id", u.ID, "by", authevents.ByUser, "sessions_ended", n)
	return nil
}

// deleteUser is the last step of a deletion: the user row goes (its
// sessions and links with it, by cascade), its personal data key is
// erased, and user.deleted is appended.
func (s *Service) deleteUser(ctx context.Context, u *authevents.User, by string) finalStep {
	return func(tx pgx.Tx, ended int) (string, error) {
		if err := postgres.DeleteUser(ctx, tx, u.ID); err != nil {
			return "", err
		}
		// Crypto-shredding: the key goes in the transaction that appends
		// user.deleted, so no consumer sees the event while it lives, and
		// its tombstone forbids a new one (docs/privacy.md).
		if err := s.keys.Erase(ctx, tx, u.ID); err != nil {
			return "", err
		}
		now := s.now()
		return authevents.EventUserDeleted, s.appendEvent(ctx, tx, authevents.EventUserDeleted, u.ID.String(), now, authevents.UserDeleted{
			UserID: u.ID.String(), Email: u.Email, By: by, SessionsEnded: ended, Timestamp: authevents.Timestamp(now)})
	}
}

// finalStep makes the change that ends an account's sessions (delete,
// disable) in tx, after they ended, and returns the type of the event it
// appended.
type finalStep func(tx pgx.Tx, sessionsEnded int) (eventType string, err error)

// errUnchanged, from endAccount's check, rolls back a change that would
// change nothing (disabling a disabled user): no session ends, no event.
var errUnchanged = errors.New("unchanged")

// endAccount ends every session of the user and makes the final change,
// in one transaction under the user's lock: check (if any) runs first,
// then the sessions end (one user.logged_out each), then final. The
// denylist entries are written before the transaction, as a reset does,
// and those of sessions opened in between after it. It returns how many
// sessions ended; a check that returns errUnchanged rolls everything back
// and is returned.
func (s *Service) endAccount(ctx context.Context, userID uuid.UUID, reason string, check func(pgx.Tx) error, final finalStep) (int, error) {
	denied, err := s.denyBefore(ctx, userID, uuid.Nil)
	if err != nil {
		return 0, err
	}
	now := s.now()
	var ended []uuid.UUID
	err = s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) {
		if err := postgres.LockUser(ctx, tx, userID); err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(tx); err != nil {
				return nil, err
			}
		}
		var err error
		if ended, err = s.endOtherSessions(ctx, tx, userID, uuid.Nil, reason, now); err != nil {
			return nil, err
		}
		last, err := final(tx, len(ended))
		if err != nil {
			return nil, err
		}
		types := make([]string, 0, len(ended)+1)
		for range ended {
			types = append(types, authevents.EventUserLoggedOut)
		}
		return append(types, last), nil
	})
	if err != nil {
		return 0, err
	}
	s.denyAfter(ctx, denied, ended)
	return len(ended), nil
}
