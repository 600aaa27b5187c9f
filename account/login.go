package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/password"
)

// LoginInput is the login request.
type LoginInput struct {
	Email, Password string
	Client          authevents.Client
	// DeviceToken is the token an earlier successful login of this
	// account returned to this device, or "". When valid, the login is
	// limited per device instead of per account, so someone guessing the
	// password elsewhere cannot lock the owner out (OWASP device cookies).
	DeviceToken string
}

// Login checks credentials and opens a session. Unknown email and wrong
// password return the same ErrInvalidCredentials after the same amount of
// hashing work, and each appends user.login_failed.
func (s *Service) Login(ctx context.Context, in LoginInput) (_ *Result, err error) {
	defer markUnavailable(&err)
	in.Client = cleanClient(in.Client)
	email, why, err := checkLogin(in)
	if err != nil {
		return nil, err
	}
	var user *authevents.User
	lookedUp := false
	lookup := func() error {
		lookedUp = true
		u, err := postgres.UserByEmail(ctx, s.pool, email)
		if err != nil && !errors.Is(err, authevents.ErrNotFound) {
			return fmt.Errorf("find user: %w", err)
		}
		user = u
		return nil
	}
	device := s.verifyDevice(in.DeviceToken)
	if device != nil && why == "" {
		// A device token counts only for the account it was issued to.
		if err := lookup(); err != nil {
			return nil, err
		}
		if user == nil || user.ID != device.UserID {
			device = nil
		}
	} else {
		device = nil
	}
	if err := s.loginAllowed(ctx, email, in.Client, device); err != nil {
		return nil, err
	}
	if why == "" && !lookedUp {
		if err := lookup(); err != nil {
			return nil, err
		}
	}
	if user == nil {
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return nil, hashError("verify password", err)
		}
		return nil, s.loginFailed(ctx, email, nil, in.Client, authevents.ReasonUnknownEmail)
	}
	// One key derivation checks the account's password and, with the
	// same salt, the latest registration's of this taken address.
	ok, attempted, err := s.hasher.VerifyEither(ctx, in.Password, user.PasswordHash, user.RegistrationAttempt)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, password.ErrBusy) {
		return nil, hashError("verify password", err)
	}
	if err != nil {
		// A stored hash we refuse to evaluate is an operator problem, not
		// the client's: log it, answer as for a wrong password, after the
		// same work (the dummy hash), so timing does not single out
		// accounts with a broken hash.
		s.log.ErrorContext(ctx, "stored password hash unusable", "user_id", user.ID, "err", err)
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return nil, hashError("verify password", err)
		}
		ok = false
	}
	if !ok && attempted && s.cfg.VerificationRequired {
		// The password of someone's registration of this taken address:
		// answered as that registration's account would be, had the
		// address been free (not verified; no failure counted, as for
		// the right password), so register-then-login tells nothing.
		s.log.InfoContext(ctx, "login with a registration attempt's password", "user_id", user.ID)
		return nil, authevents.ErrEmailNotVerified
	}
	if !ok {
		return nil, s.loginFailed(ctx, email, user, in.Client, authevents.ReasonInvalidPassword)
	}
	// Only the holder of the right password learns that the account is
	// disabled, or its address not verified yet: a wrong password was
	// answered as usual above.
	if user.DisabledAt != nil {
		s.log.InfoContext(ctx, "login refused: account disabled", "user_id", user.ID)
		return nil, authevents.ErrAccountDisabled
	}
	if s.cfg.VerificationRequired && user.EmailVerifiedAt == nil {
		s.log.InfoContext(ctx, "login refused: email not verified", "user_id", user.ID)
		return nil, authevents.ErrEmailNotVerified
	}
	var newHash string
	if s.hasher.NeedsRehash(user.PasswordHash) {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return nil, hashError("rehash password", err)
		}
	}
	now := s.now()
	res, sess, err := s.newSession(user, in.Client, now)
	if err != nil {
		return nil, err
	}
	ev, err := s.event(authevents.EventUserLoggedIn, user.ID.String(), now, authevents.UserLoggedIn{
		UserID: user.ID.String(), Email: user.Email, Timestamp: authevents.Timestamp(now),
		IP: in.Client.IP, UserAgent: in.Client.UserAgent,
	})
	if err != nil {
		return nil, err
	}
	res.User, err = s.openSession(ctx, user, newHash, sess, ev)
	if errors.Is(err, authevents.ErrNotFound) {
		// Deleted, or its password reset or changed, between the check
		// and the write: the password presented no longer holds.
		s.log.InfoContext(ctx, "login lost a race with a password change or deletion", "user_id", user.ID)
		return nil, authevents.ErrInvalidCredentials
	}
	if err != nil {
		return nil, err
	}
	if res.DeviceToken, err = s.signDevice(user, device, now); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user logged in", "user_id", user.ID, "session_id", sess.ID, "rehashed", newHash != "", "known_device", device != nil)
	return res, nil
}

// loginFailed appends user.login_failed and returns ErrInvalidCredentials,
// or the error that kept the event from being written.
func (s *Service) loginFailed(ctx context.Context, email string, user *authevents.User, c authevents.Client, reason string) error {
	now := s.now()
	data := authevents.UserLoginFailed{Email: email, IP: c.IP, UserAgent: c.UserAgent, Reason: reason, Timestamp: authevents.Timestamp(now)}
	subject := ""
	if user != nil {
		data.UserID = user.ID.String()
		subject = data.UserID
	}
	ev, err := s.event(authevents.EventUserLoginFailed, subject, now, data)
	if err != nil {
		return err
	}
	if ev.OrderingKey == "" {
		ev.OrderingKey = AddressOrderingKey(email)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if user != nil {
			if err := postgres.LockUser(ctx, tx, user.ID); err != nil {
				return err
			}
		}
		return s.append(ctx, tx, ev)
	}, authevents.EventUserLoginFailed)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "login failed", "reason", reason, "user_known", user != nil)
	return authevents.ErrInvalidCredentials
}

// AddressOrderingKey is the outbox ordering key of the events of an
// address with no account (a failed login): the failures of one address
// keep their order, and the key, which a dead row keeps for good and
// authctl outbox dead prints, holds a digest of the address, not the
// address.
func AddressOrderingKey(email string) string {
	sum := sha256.Sum256([]byte("authevents ordering key\x00" + email))
	return "email:" + hex.EncodeToString(sum[:16])
}
