package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
)

// VerifyEmail uses the token of a verification link, or of an email-change
// link (the link proves the new address, and then the address changes).
// A used, expired, superseded, malformed or made-up token is
// ErrInvalidLinkToken, and nothing changes.
func (s *Service) VerifyEmail(ctx context.Context, raw string) (err error) {
	defer markUnavailable(&err)
	hash, err := linkHash(raw)
	if err != nil {
		return err
	}
	t, purpose, err := postgres.PeekOneTime(ctx, s.pool, hash, postgres.PurposeVerifyEmail, postgres.PurposeChangeEmail)
	if err != nil {
		return invalidLink(err)
	}
	now := s.now()
	var types []string
	err = s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) {
		if err := postgres.LockUser(ctx, tx, t.UserID); err != nil {
			return nil, err
		}
		if _, err := postgres.ConsumeOneTime(ctx, tx, purpose, hash); err != nil {
			return nil, err
		}
		if purpose == postgres.PurposeChangeEmail {
			types, err = s.confirmEmailChange(ctx, tx, t, now)
			return types, err
		}
		before, err := postgres.UserByID(ctx, tx, t.UserID)
		if err != nil {
			return nil, err
		}
		u, err := postgres.MarkEmailVerified(ctx, tx, t.UserID, t.Email)
		if err != nil {
			return nil, err // the address changed since the link was sent
		}
		if before.EmailVerifiedAt != nil {
			return nil, nil // verified already (another link): nothing to tell
		}
		types = []string{authevents.EventEmailVerified}
		return types, s.appendEvent(ctx, tx, authevents.EventEmailVerified, u.ID.String(), now, authevents.UserEmailVerified{
			UserID: u.ID.String(), Email: u.Email, Timestamp: authevents.Timestamp(now),
		})
	})
	if err != nil {
		return invalidLink(err)
	}
	s.log.InfoContext(ctx, "email verified", "user_id", t.UserID, "purpose", string(purpose), "events", len(types))
	return nil
}

// ResendVerification sends a new verification link to email, if it
// belongs to an account that is not verified yet. Its answer tells
// nothing: an unknown, verified or rate-limited address returns nil, like
// one that gets a link, after the same time. Only a malformed address is
// a ValidationError.
func (s *Service) ResendVerification(ctx context.Context, email string, c authevents.Client) (err error) {
	defer markUnavailable(&err)
	start := time.Now()
	c = cleanClient(c)
	norm, err := s.mailRequest(email)
	if err != nil {
		return err
	}
	defer s.floor(ctx, start)
	for _, l := range []struct{ name, key string }{{LimitVerifyIP, s.ipKey(c.IP)}, {LimitVerifyEmail, norm}} {
		err := s.allow(ctx, l.name, l.key)
		if errors.As(err, new(*authevents.RateLimitedError)) {
			s.log.InfoContext(ctx, "verification resend dropped", "limit", l.name)
			return nil
		}
		if err != nil {
			return err
		}
	}
	u, err := postgres.UserByEmail(ctx, s.pool, norm)
	if errors.Is(err, authevents.ErrNotFound) || err == nil && u.EmailVerifiedAt != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	now := s.now()
	_, err = s.linkFor(ctx, u.ID, authevents.EventEmailVerificationRequested, func(tx pgx.Tx) error {
		return s.issueVerification(ctx, tx, u, now)
	})
	return err
}

// issueVerification issues a verification link for u's address.
func (s *Service) issueVerification(ctx context.Context, tx pgx.Tx, u *authevents.User, now time.Time) error {
	return s.issueLink(ctx, tx, postgres.PurposeVerifyEmail, s.cfg.VerificationTTL, u.ID, u.Email,
		authevents.EventEmailVerificationRequested, now, func(l authevents.Link) any {
			return authevents.UserEmailVerificationRequested{UserID: u.ID.String(), Email: u.Email, Name: u.Name,
				Link: l, Timestamp: authevents.Timestamp(now)}
		})
}
