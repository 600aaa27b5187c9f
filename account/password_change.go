package account

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/password"
	"github.com/authevents/authevents/token"
)

// ChangePassword replaces the signed-in user's password. The current
// password is checked as a login checks it: a wrong one is
// ErrInvalidCredentials (401), appends user.login_failed and counts
// toward the account's failed-login limit. On success every other session
// ends (the caller's own session is kept, so the client that changed the
// password stays signed in) and user.password_changed {reason: "change"}
// is appended in the same transaction.
func (s *Service) ChangePassword(ctx context.Context, v *token.Verified, current, newPassword string, c authevents.Client) (err error) {
	defer markUnavailable(&err)
	c = cleanClient(c)
	var verr authevents.ValidationError
	checkPresented(&verr, "currentPassword", current)
	if e := checkNewPassword(newPassword, "", current); e != nil {
		verr.Add("newPassword", e.Fields["newPassword"])
	}
	if err := verr.Err(); err != nil {
		return err
	}
	u, err := s.reauthenticate(ctx, v, current, c)
	if err != nil {
		return err
	}
	if verr := checkNewPassword(newPassword, u.Email, current); verr != nil {
		return verr
	}
	newHash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return hashError("hash password", err)
	}
	denied, err := s.denyBefore(ctx, u.ID, v.SessionID)
	if err != nil {
		return err
	}
	now := s.now()
	var ended []uuid.UUID
	err = s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) {
		if err := postgres.LockUser(ctx, tx, u.ID); err != nil {
			return nil, err
		}
		if err := s.stillAuthenticated(ctx, tx, v, u); err != nil {
			return nil, err
		}
		if _, err := postgres.SetPassword(ctx, tx, u.ID, u.PasswordHash, newHash); err != nil {
			return nil, err
		}
		// A reset link sent before the change must not undo it.
		if err := postgres.EndOneTimes(ctx, tx, u.ID); err != nil { // every link: a pending email change too
			return nil, err
		}
		var err error
		if ended, err = s.endOtherSessions(ctx, tx, u.ID, v.SessionID, RevokedPasswordChange, now); err != nil {
			return nil, err
		}
		types := make([]string, 0, len(ended)+1)
		for range ended {
			types = append(types, authevents.EventUserLoggedOut)
		}
		return append(types, authevents.EventPasswordChanged), s.appendEvent(ctx, tx, authevents.EventPasswordChanged, u.ID.String(), now,
			authevents.UserPasswordChanged{UserID: u.ID.String(), Email: u.Email, Reason: authevents.PasswordChangedByChange,
				SessionsEnded: len(ended), IP: c.IP, UserAgent: c.UserAgent, Timestamp: authevents.Timestamp(now)})
	})
	if errors.Is(err, authevents.ErrNotFound) {
		return authevents.ErrUnauthorized
	}
	if err != nil {
		return err
	}
	s.denyAfter(ctx, denied, ended)
	s.log.InfoContext(ctx, "password changed", "user_id", u.ID, "sessions_ended", len(ended))
	return nil
}

// checkPresented checks the shape of a password presented for a
// re-authentication, into verr under field.
func checkPresented(verr *authevents.ValidationError, field, pw string) {
	if pw == "" {
		verr.Add(field, "is required")
	} else if utf8.RuneCountInString(pw) > password.MaxLength {
		verr.Add(field, "must be at most 256 characters")
	}
}

// reauthenticate checks the signed-in user's password for a sensitive
// change, under the account's login limit: a wrong password appends
// user.login_failed and is ErrInvalidCredentials, as at login.
func (s *Service) reauthenticate(ctx context.Context, v *token.Verified, pw string, c authevents.Client) (*authevents.User, error) {
	u, err := postgres.UserByID(ctx, s.pool, v.UserID)
	if errors.Is(err, authevents.ErrNotFound) {
		return nil, authevents.ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if err := s.allow(ctx, LimitLoginAccount, u.Email); err != nil {
		return nil, err
	}
	ok, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrBusy) {
		return nil, hashError("verify password", err)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash unusable", "user_id", u.ID, "err", err)
		ok = false
	}
	if !ok {
		return nil, s.loginFailed(ctx, u.Email, u, c, authevents.ReasonInvalidPassword)
	}
	return u, nil
}

// stillAuthenticated checks again, in tx and under the user's lock, what
// reauthenticate checked before it: the caller's session is still live,
// and the stored hash is still the one the password was verified against.
// A reset, a change or a logout that committed in between makes it
// ErrUnauthorized: without this, a request that checked the old password
// just before a reset could undo the reset after it (found in review).
func (s *Service) stillAuthenticated(ctx context.Context, tx pgx.Tx, v *token.Verified, checked *authevents.User) error {
	sess, err := postgres.SessionForUpdate(ctx, tx, v.SessionID)
	if errors.Is(err, authevents.ErrNotFound) {
		return authevents.ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("find session: %w", err)
	}
	u, err := postgres.UserByID(ctx, tx, checked.ID)
	if errors.Is(err, authevents.ErrNotFound) {
		return authevents.ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	if sess.RevokedAt != nil || sess.UserID != checked.ID || u.PasswordHash != checked.PasswordHash {
		s.log.InfoContext(ctx, "sensitive change lost a race with a reset, change or logout", "user_id", checked.ID)
		return authevents.ErrUnauthorized
	}
	return nil
}
