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
	"github.com/authevents/authevents/token"
)

// A one-time link's token exists in clear in three places only: the
// process that issues it (here, for the length of a request), the email
// service that opens it from its sealed form to write the mail, and the
// mail. The database stores its hash, the event carries it sealed.

// issueLink makes a one-time token of purpose for the user, to be sent to
// email, and the event that carries it sealed; build fills the event's
// data around the sealed link. The token's hash is stored, ending the
// user's older tokens of that purpose, in tx.
func (s *Service) issueLink(ctx context.Context, tx pgx.Tx, purpose postgres.Purpose, ttl time.Duration,
	userID uuid.UUID, email, eventType string, now time.Time, build func(authevents.Link) any,
) error {
	if s.sealer == nil {
		return errors.New("no seal key for the email service is configured (MAIL_SEAL_PUBLIC_KEY)")
	}
	raw, hash := token.NewOneTime()
	id := newID()
	expires := now.Add(ttl)
	sealed, err := s.sealer.Seal(token.Binding{EventID: id.String(), EventType: eventType, To: email, ExpiresAt: expires}, raw)
	if err != nil {
		return err
	}
	if err := postgres.IssueOneTime(ctx, tx, purpose, hash, postgres.OneTime{UserID: userID, Email: email, ExpiresAt: expires}); err != nil {
		return err
	}
	ev, err := s.eventWithID(id, eventType, userID.String(), now, build(authevents.Link{SealedToken: sealed, ExpiresAt: authevents.Timestamp(expires)}))
	if err != nil {
		return err
	}
	return s.append(ctx, tx, ev)
}

// errNoLink ends, without an error for the caller, a request that would
// mail a link to an account that may not get one now (disabled).
var errNoLink = errors.New("no link for this account")

// linkFor runs issue, which issues a link and its event of eventType, in a
// transaction under the user's lock, unless by then the user is gone or
// disabled (a reset would give a disabled account a password, an address
// change would move it): then issued is false, with no error, and the
// caller answers as for any other address.
func (s *Service) linkFor(ctx context.Context, userID uuid.UUID, eventType string, issue func(tx pgx.Tx) error) (issued bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.LockUser(ctx, tx, userID); err != nil {
			return err
		}
		u, err := postgres.UserByID(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.DisabledAt != nil {
			return errNoLink
		}
		return issue(tx)
	}, eventType)
	if errors.Is(err, errNoLink) || errors.Is(err, authevents.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// mailRequest opens a request that may mail a link to email: it fails
// alike for every address when no link can be mailed (canMail), and
// returns the address normalized, or a ValidationError on email.
func (s *Service) mailRequest(email string) (string, error) {
	if err := s.canMail(); err != nil {
		return "", err
	}
	norm, why := NormalizeEmail(email)
	if why != "" {
		var verr authevents.ValidationError
		verr.Add("email", why)
		return "", &verr
	}
	return norm, nil
}

// canMail fails, alike for every address, when no link can reach the
// email service: a request that would mail a link answers 503 whether or
// not its address has an account.
func (s *Service) canMail() error {
	if s.sealer == nil {
		return fmt.Errorf("%w: no seal key for the email service (MAIL_SEAL_PUBLIC_KEY)", authevents.ErrUnavailable)
	}
	return nil
}

// linkHash checks a one-time token's format; a malformed one is refused
// as an unknown one is.
func linkHash(raw string) ([]byte, error) {
	hash, err := token.HashOneTime(raw)
	if err != nil {
		return nil, authevents.ErrInvalidLinkToken
	}
	return hash, nil
}

// invalidLink turns "no such token" (or a token whose user or address is
// gone) into the one answer every refused link gets.
func invalidLink(err error) error {
	if errors.Is(err, authevents.ErrNotFound) || errors.Is(err, authevents.ErrEmailTaken) {
		return authevents.ErrInvalidLinkToken
	}
	return err
}

// appendEvent builds one event and appends it in tx.
func (s *Service) appendEvent(ctx context.Context, tx pgx.Tx, eventType, subject string, now time.Time, data any) error {
	ev, err := s.event(eventType, subject, now, data)
	if err != nil {
		return err
	}
	return s.append(ctx, tx, ev)
}

// floor waits until EnumerationFloor has passed since start (or ctx
// ends): the answers that must not tell whether an account exists leave
// at the same time for both.
func (s *Service) floor(ctx context.Context, start time.Time) {
	d := s.cfg.EnumerationFloor - time.Since(start)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// endOtherSessions revokes every live session of the user but keep, in
// tx, and appends one user.logged_out per session ended; the denylist
// entries of sessions the caller did not deny beforehand are returned for
// denying after the commit.
func (s *Service) endOtherSessions(ctx context.Context, tx pgx.Tx, userID, keep uuid.UUID, reason string, now time.Time) ([]uuid.UUID, error) {
	ended, err := postgres.RevokeAllLiveSessions(ctx, tx, userID, keep, reason, s.cfg.IdleTimeout)
	if err != nil {
		return nil, err
	}
	for _, id := range ended {
		if err := s.appendEvent(ctx, tx, authevents.EventUserLoggedOut, userID.String(), now, authevents.UserLoggedOut{
			UserID: userID.String(), SessionID: id.String(), Timestamp: authevents.Timestamp(now),
		}); err != nil {
			return nil, err
		}
	}
	return ended, nil
}

// denyBefore writes the denylist entries of the user's sessions but keep
// before a transaction that ends them: an unreachable Redis fails the
// request with nothing changed, as a logout does. It returns the sessions
// denied.
func (s *Service) denyBefore(ctx context.Context, userID, keep uuid.UUID) (map[uuid.UUID]bool, error) {
	candidates, err := postgres.SessionsToEnd(ctx, s.pool, userID, nil, s.cfg.IdleTimeout, s.denyTTL())
	if err != nil {
		return nil, err
	}
	denied := map[uuid.UUID]bool{}
	var ids []uuid.UUID
	for _, c := range candidates {
		if c.ID != keep {
			ids, denied[c.ID] = append(ids, c.ID), true
		}
	}
	if len(ids) > 0 {
		if err := s.denySessions(ctx, uuid.Nil, ids...); err != nil {
			return nil, err
		}
	}
	return denied, nil
}

// denyAfter denies the sessions a transaction ended that denyBefore had
// not seen (opened by a login that raced the change). Their rows are
// revoked already, so refresh fails; this stops their access tokens too.
func (s *Service) denyAfter(ctx context.Context, denied map[uuid.UUID]bool, ended []uuid.UUID) {
	var late []uuid.UUID
	for _, id := range ended {
		if !denied[id] {
			late = append(late, id)
		}
	}
	if len(late) == 0 {
		return
	}
	if err := s.denySessions(context.WithoutCancel(ctx), uuid.Nil, late...); err != nil {
		s.log.ErrorContext(ctx, "deny sessions ended by a password change", "err", fmt.Errorf("%d sessions: %w", len(late), err))
	}
}
