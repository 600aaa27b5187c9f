package account

import (
	"fmt"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/token"
)

// Device tokens (OWASP device cookies): every successful login returns one;
// presented again by the same device, a valid one of the account moves the
// login from the per-account limit to a per-device limit (login_limits.go),
// so someone guessing the password elsewhere cannot lock the owner out.

// verifyDevice returns the verified device token, or nil when raw is
// empty, invalid or device tokens are off.
func (s *Service) verifyDevice(raw string) *token.Verified {
	if raw == "" || s.cfg.DeviceTTL <= 0 {
		return nil
	}
	v, err := s.tokens.Verify(raw, token.TypeDevice)
	if err != nil {
		return nil
	}
	return v
}

// signDevice issues the device token of a successful login: the same
// device id again when the login presented a valid one, else a new one.
func (s *Service) signDevice(user *authevents.User, known *token.Verified, now time.Time) (string, error) {
	if s.cfg.DeviceTTL <= 0 {
		return "", nil
	}
	id := newID()
	if known != nil {
		id = known.ID
	}
	raw, err := s.tokens.Sign(token.Spec{Type: token.TypeDevice, UserID: user.ID, SessionID: id, ID: id, IssuedAt: now, TTL: s.cfg.DeviceTTL})
	if err != nil {
		return "", fmt.Errorf("sign device token: %w", err)
	}
	return raw, nil
}
