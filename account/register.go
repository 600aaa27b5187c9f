package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/password"
)

// RegisterInput is the register request.
type RegisterInput struct {
	Email, Password, Name string
	Client                authevents.Client
}

// Register creates an account and its first session.
func (s *Service) Register(ctx context.Context, in RegisterInput) (_ *Result, err error) {
	defer markUnavailable(&err)
	in.Client = cleanClient(in.Client)
	email, name, verr := checkRegister(in)
	if verr != nil {
		return nil, verr
	}
	if err := s.allow(ctx, LimitRegisterIP, s.ipKey(in.Client.IP)); err != nil {
		return nil, err
	}
	if s.cfg.VerificationRequired {
		return s.registerUnverified(ctx, in, email, name)
	}
	user, ev, now, err := s.newUser(ctx, in.Password, email, name)
	if err != nil {
		return nil, err
	}
	res, sess, err := s.newSession(user, in.Client, now)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.CreateUser(ctx, tx, user); err != nil {
			return err
		}
		if err := postgres.CreateSession(ctx, tx, sess); err != nil {
			return err
		}
		if err := s.append(ctx, tx, ev); err != nil {
			return err
		}
		if s.sealer == nil {
			return nil // no link can reach the email service: none is issued
		}
		// Optional verification: the user is signed in at once, and can
		// prove the address with the link all the same.
		return s.issueVerification(ctx, tx, user, now)
	}, s.registeredTypes()...)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", user.ID, "session_id", sess.ID)
	return res, nil
}

// newUser hashes the password of a new user and builds the user and its
// user.registered event, both modes alike.
func (s *Service) newUser(ctx context.Context, pw, email, name string) (*authevents.User, outbox.Message, time.Time, error) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, outbox.Message{}, time.Time{}, hashError("hash password", err)
	}
	now := s.now()
	user := &authevents.User{ID: newID(), Email: email, Name: name, PasswordHash: hash}
	ev, err := s.event(authevents.EventUserRegistered, user.ID.String(), now, authevents.UserRegistered{
		UserID: user.ID.String(), Email: email, Name: name, Timestamp: authevents.Timestamp(now),
	})
	return user, ev, now, err
}

// registerUnverified is Register under EMAIL_VERIFICATION=required: the
// account is created unverified, with no session, and a verification link
// is mailed. A taken address gets the very same answer after the same
// work (one lookup, one hash, one transaction appending one event) and the
// same time (EnumerationFloor); its owner is told by mail
// (user.registration_attempted), and nothing else changes for them.
func (s *Service) registerUnverified(ctx context.Context, in RegisterInput, email, name string) (*Result, error) {
	start := time.Now()
	defer s.floor(ctx, start)
	owner, err := postgres.UserByEmail(ctx, s.pool, email)
	if err != nil && !errors.Is(err, authevents.ErrNotFound) {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if owner != nil {
		return &Result{VerificationPending: true}, s.registrationAttempted(ctx, owner, in.Password, in.Client)
	}
	user, ev, now, err := s.newUser(ctx, in.Password, email, name)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.CreateUser(ctx, tx, user); err != nil {
			return err
		}
		if err := s.append(ctx, tx, ev); err != nil {
			return err
		}
		return s.issueVerification(ctx, tx, user, now)
	}, authevents.EventUserRegistered, authevents.EventEmailVerificationRequested)
	if errors.Is(err, authevents.ErrEmailTaken) {
		// Registered since the lookup, by a concurrent request: its owner
		// is told all the same, and this password is kept as for any
		// taken address (hashed once more, under the owner's salt). Kept
		// nowhere, two registrations at once answered a later login with
		// 401 for a free address and 403 for a taken one (review finding).
		owner, err := postgres.UserByEmail(ctx, s.pool, email)
		if errors.Is(err, authevents.ErrNotFound) {
			return &Result{VerificationPending: true}, nil // deleted since: nobody to tell
		}
		if err != nil {
			return nil, fmt.Errorf("find user: %w", err)
		}
		return &Result{VerificationPending: true}, s.registrationAttempted(ctx, owner, in.Password, in.Client)
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", user.ID, "verified", false)
	return &Result{VerificationPending: true}, nil
}

// registrationAttempted tells the owner of a taken address that someone
// tried to register it, and keeps the password pw that registration chose
// (users.registration_attempt), so that a login with it answers as it
// would for a free address: 403 email_not_verified. Had the address been
// free, register-then-login would answer 403 and, with the owner's
// unknown password, 401: anyone could tell which addresses have accounts.
// pw is hashed under the salt of the account's password hash (HashAlike),
// so login checks both with one key derivation and its time tells nothing
// either. An empty pw keeps none.
func (s *Service) registrationAttempted(ctx context.Context, owner *authevents.User, pw string, c authevents.Client) error {
	// An unverified account may be someone else's pre-registration of
	// this address, with a password they chose: it gets a password
	// nobody knows (below), and pw is hashed under that one's salt.
	target, unusable := owner.PasswordHash, ""
	if owner.EmailVerifiedAt == nil {
		unusable = s.hasher.Unusable()
		target = unusable
	}
	alike := ""
	if pw != "" {
		var err error
		alike, err = s.hasher.HashAlike(ctx, pw, target)
		switch {
		case err == nil:
		case errors.Is(err, password.ErrBusy) || ctx.Err() != nil:
			return hashError("hash password", err)
		default:
			// A stored hash we refuse to evaluate (see Login): the same
			// work, and no password kept.
			s.log.ErrorContext(ctx, "stored password hash unusable", "user_id", owner.ID, "err", err)
			if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
				return hashError("hash password", err)
			}
			alike = ""
		}
	}
	now := s.now()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := postgres.LockUser(ctx, tx, owner.ID); err != nil {
			return err
		}
		// Read again under the lock: a reset or a verification that
		// committed since the read above must not be undone below.
		locked, err := postgres.UserByID(ctx, tx, owner.ID)
		if err != nil {
			return err
		}
		final := locked.PasswordHash
		if locked.EmailVerifiedAt == nil {
			// Its verification links die, so that the owner, now offered
			// a reset by mail, cannot verify it by a later click and hand
			// it over; nor may a later link verify it with the password
			// the other person chose: nobody's password opens it now, a
			// reset sets one.
			if err := postgres.EndOneTimes(ctx, tx, owner.ID, postgres.PurposeVerifyEmail); err != nil {
				return err
			}
			if unusable == "" {
				unusable = s.hasher.Unusable()
			}
			if _, err := postgres.SetPassword(ctx, tx, owner.ID, locked.PasswordHash, unusable); err != nil {
				return err
			}
			final = unusable
		}
		// Kept only under the salt of the hash the account now has: one
		// made under another (a password changed since) would never
		// match anyway.
		if alike != "" && final == target {
			if err := postgres.SetRegistrationAttempt(ctx, tx, owner.ID, alike); err != nil {
				return err
			}
		}
		return s.appendEvent(ctx, tx, authevents.EventRegistrationAttempted, owner.ID.String(), now, authevents.UserRegistrationAttempted{
			UserID: owner.ID.String(), Email: owner.Email, IP: c.IP, UserAgent: c.UserAgent, Timestamp: authevents.Timestamp(now),
		})
	}, authevents.EventRegistrationAttempted)
	if errors.Is(err, authevents.ErrNotFound) {
		return nil // deleted since: nobody to tell
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "registration of a taken address", "user_id", owner.ID)
	return nil
}

// registeredTypes are the events an optional-mode registration appends.
func (s *Service) registeredTypes() []string {
	if s.sealer == nil {
		return []string{authevents.EventUserRegistered}
	}
	return []string{authevents.EventUserRegistered, authevents.EventEmailVerificationRequested}
}
