package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/password"
)

// RevokedPasswordChange is the revocation reason of the sessions a
// password reset or change ends.
const RevokedPasswordChange = "password_change"

// ForgotPassword sends a reset link to email if it belongs to an account.
// The answer is the same for known and unknown addresses, after the same
// time; the limits per IP and per address apply to both alike, so their
// 429 tells nothing either.
func (s *Service) ForgotPassword(ctx context.Context, email string, c authevents.Client) (err error) {
	defer markUnavailable(&err)
	start := time.Now()
	c = cleanClient(c)
	norm, err := s.mailRequest(email)
	if err != nil {
		return err
	}
	if err := s.allowAll(ctx, []limitKey{{LimitResetIP, s.ipKey(c.IP)}, {LimitResetEmail, norm}}); err != nil {
		return err
	}
	defer s.floor(ctx, start)
	u, err := postgres.UserByEmail(ctx, s.pool, norm)
	if errors.Is(err, authevents.ErrNotFound) {
		s.log.InfoContext(ctx, "password reset requested", "user_known", false)
		return nil
	}
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	now := s.now()
	issued, err := s.linkFor(ctx, u.ID, authevents.EventPasswordResetRequested, func(tx pgx.Tx) error {
		return s.issueLink(ctx, tx, postgres.PurposeResetPassword, s.cfg.ResetTTL, u.ID, u.Email,
			authevents.EventPasswordResetRequested, now, func(l authevents.Link) any {
				return authevents.UserPasswordResetRequested{UserID: u.ID.String(), Email: u.Email, Link: l,
					IP: c.IP, UserAgent: c.UserAgent, Timestamp: authevents.Timestamp(now)}
			})
	})
	if err != nil {
		return err
	}
	if !issued {
		s.log.InfoContext(ctx, "password reset requested", "user_known", true, "link", false)
		return nil
	}
	s.log.InfoContext(ctx, "password reset requested", "user_known", true, "user_id", u.ID)
	return nil
}

// ResetPassword sets a new password with the token of a reset link. Every
// session of the user ends (rows and denylist), every other link of the account dies (a pending email change too),
// the address counts as verified (the link reached it), and
// user.password_changed {reason: "reset"} is appended in the same
// transaction. A refused token is ErrInvalidLinkToken; a refused password
// is a ValidationError on newPassword, and the token stays usable.
func (s *Service) ResetPassword(ctx context.Context, raw, newPassword string, c authevents.Client) (err error) {
	defer markUnavailable(&err)
	c = cleanClient(c)
	hash, err := linkHash(raw)
	if err != nil {
		return err
	}
	t, _, err := postgres.PeekOneTime(ctx, s.pool, hash, postgres.PurposeResetPassword)
	if err != nil {
		return invalidLink(err)
	}
	if verr := checkNewPassword(newPassword, t.Email, ""); verr != nil {
		return verr
	}
	newHash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return hashError("hash password", err)
	}
	denied, err := s.denyBefore(ctx, t.UserID, uuid.Nil)
	if err != nil {
		return err
	}
	now := s.now()
	var ended []uuid.UUID
	err = s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) {
		if err := postgres.LockUser(ctx, tx, t.UserID); err != nil {
			return nil, err
		}
		if _, err := postgres.ConsumeOneTime(ctx, tx, postgres.PurposeResetPassword, hash); err != nil {
			return nil, err
		}
		u, err := postgres.MarkEmailVerified(ctx, tx, t.UserID, t.Email)
		if err != nil {
			return nil, err // the address changed since the link was sent
		}
		// The link is the proof: whatever the password is now, it goes.
		if _, err := postgres.SetPassword(ctx, tx, u.ID, "", newHash); err != nil {
			return nil, err
		}
		if err := postgres.EndOneTimes(ctx, tx, u.ID); err != nil { // every link: a pending email change too
			return nil, err
		}
		if ended, err = s.endOtherSessions(ctx, tx, u.ID, uuid.Nil, RevokedPasswordChange, now); err != nil {
			return nil, err
		}
		types := make([]string, 0, len(ended)+1)
		for range ended {
			types = append(types, authevents.EventUserLoggedOut)
		}
		return append(types, authevents.EventPasswordChanged), s.appendEvent(ctx, tx, authevents.EventPasswordChanged, u.ID.String(), now,
			authevents.UserPasswordChanged{UserID: u.ID.String(), Email: u.Email, Reason: authevents.PasswordChangedByReset,
				SessionsEnded: len(ended), IP: c.IP, UserAgent: c.UserAgent, Timestamp: authevents.Timestamp(now)})
	})
	if err != nil {
		return invalidLink(err)
	}
	s.denyAfter(ctx, denied, ended)
	s.log.InfoContext(ctx, "password reset", "user_id", t.UserID, "sessions_ended", len(ended))
	return nil
}

// checkNewPassword applies the password policy to a new password, as a
// ValidationError on newPassword.
func checkNewPassword(pw, email, current string) *authevents.ValidationError {
	var verr authevents.ValidationError
	switch {
	case pw == "":
		verr.Add("newPassword", "is required")
	case password.Check(pw) != "":
		verr.Add("newPassword", password.Check(pw))
	case email != "" && strings.EqualFold(pw, email):
		verr.Add("newPassword", "must not be your email address")
	case current != "" && pw == current:
		verr.Add("newPassword", "must differ from the current password")
	}
	if verr.Err() != nil {
		return &verr
	}
	return nil
}
