package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

// ChangeEmail starts moving the signed-in user to newEmail: after the
// password is checked (as ChangePassword checks it), a link goes to the
// new address and a notice to the old one (user.email_change_requested).
// The address changes only when the link is used (VerifyEmail). The
// answer is the same, after the same time, whether or not newEmail
// belongs to another account; if it does, no link is issued, that
// account's owner gets a notice, and nothing changes.
func (s *Service) ChangeEmail(ctx context.Context, v *token.Verified, newEmail, pw string, c authevents.Client) (err error) {
	defer markUnavailable(&err)
	start := time.Now()
	c = cleanClient(c)
	if err := s.canMail(); err != nil {
		return err
	}
	var verr authevents.ValidationError
	norm, why := NormalizeEmail(newEmail)
	if why != "" {
		verr.Add("newEmail", why)
	}
	if pw == "" {
		verr.Add("password", "is required")
	}
	if err := verr.Err(); err != nil {
		return err
	}
	u, err := s.reauthenticate(ctx, v, pw, c)
	if err != nil {
		return err
	}
	if norm == u.Email {
		verr.Add("newEmail", "is already your address")
		return &verr
	}
	defer s.floor(ctx, start)
	other, err := postgres.UserByEmail(ctx, s.pool, norm)
	if err != nil && !errors.Is(err, authevents.ErrNotFound) {
		return fmt.Errorf("find user: %w", err)
	}
	taken := other != nil
	now := s.now()
	data := func(l *authevents.Link) authevents.UserEmailChangeRequested {
		return authevents.UserEmailChangeRequested{UserID: u.ID.String(), Email: u.Email, NewEmail: norm, NewEmailTaken: taken,
			Link: l, IP: c.IP, UserAgent: c.UserAgent, Timestamp: authevents.Timestamp(now)}
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.LockUser(ctx, tx, u.ID); err != nil {
			return err
		}
		if err := s.stillAuthenticated(ctx, tx, v, u); err != nil {
			return err
		}
		if taken {
			// What a free address gets, as the caller's account shows it:
			// the older change link ends and one is pending, a decoy whose
			// token nobody has (found in review: the caller could tell).
			_, decoy := token.NewOneTime()
			if err := postgres.IssueOneTime(ctx, tx, postgres.PurposeChangeEmail, decoy,
				postgres.OneTime{UserID: u.ID, Email: norm, ExpiresAt: now.Add(s.cfg.EmailChangeTTL)}); err != nil {
				return err
			}
			return s.appendEvent(ctx, tx, authevents.EventEmailChangeRequested, u.ID.String(), now, data(nil))
		}
		return s.issueLink(ctx, tx, postgres.PurposeChangeEmail, s.cfg.EmailChangeTTL, u.ID, norm,
			authevents.EventEmailChangeRequested, now, func(l authevents.Link) any { return data(&l) })
	}, authevents.EventEmailChangeRequested)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "email change requested", "user_id", u.ID)
	return nil
}

// confirmEmailChange moves the user of an email-change link to its new
// address, in tx (VerifyEmail has locked the user and used the token).
// An address taken since the link was sent is ErrEmailTaken: the link is
// refused, and nothing changes.
func (s *Service) confirmEmailChange(ctx context.Context, tx pgx.Tx, t postgres.OneTime, now time.Time) ([]string, error) {
	before, after, err := postgres.ChangeEmail(ctx, tx, t.UserID, t.Email)
	if err != nil {
		return nil, err
	}
	// Links sent to the old address die with it.
	if err := postgres.EndOneTimes(ctx, tx, t.UserID, postgres.PurposeVerifyEmail, postgres.PurposeResetPassword); err != nil {
		return nil, err
	}
	return []string{authevents.EventEmailChanged}, s.appendEvent(ctx, tx, authevents.EventEmailChanged, t.UserID.String(), now,
		authevents.UserEmailChanged{UserID: t.UserID.String(), OldEmail: before.Email, Email: after.Email, Timestamp: authevents.Timestamp(now)})
}
