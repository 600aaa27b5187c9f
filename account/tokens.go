package account

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/token"
)

// Authenticate verifies an access token and checks the denylist. If the
// denylist cannot be read the request fails closed with ErrUnavailable.
func (s *Service) Authenticate(ctx context.Context, raw string) (*token.Verified, error) {
	v, err := s.tokens.Verify(raw, token.TypeAccess)
	if err != nil {
		return nil, authevents.ErrUnauthorized
	}
	revoked, err := s.deny.Revoked(ctx, v.SessionID, v.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", authevents.ErrUnavailable, err)
	}
	if revoked {
		return nil, authevents.ErrUnauthorized
	}
	return v, nil
}

// JWKS returns the public keys that verify this service's tokens.
func (s *Service) JWKS() token.JWKS { return s.tokens.JWKS() }

// newSession makes a session for user and signs its token pair.
func (s *Service) newSession(user *authevents.User, c authevents.Client, now time.Time) (*Result, *authevents.Session, error) {
	sess := &authevents.Session{
		ID: newID(), UserID: user.ID, ExpiresAt: now.Add(s.cfg.SessionMaxAge),
		IP: c.IP, UserAgent: truncate(c.UserAgent, MaxUserAgentBytes),
	}
	refresh, id := s.tokens.NewRefresh(sess.ID, user.ID)
	s.nextRefresh(sess, id, now)
	res, err := s.pair(sess, refresh, now)
	if err != nil {
		return nil, nil, err
	}
	res.User = user
	return res, sess, nil
}

// nextRefresh sets the session's current refresh token: jti, issue time
// (whole seconds, as in the JWT) and expiry, which never passes the
// session's absolute lifetime.
func (s *Service) nextRefresh(sess *authevents.Session, jti uuid.UUID, now time.Time) {
	sess.RefreshJTI = jti
	sess.RefreshIssuedAt = now.Truncate(time.Second)
	sess.RefreshExpiresAt = sess.RefreshIssuedAt.Add(s.cfg.RefreshTTL)
	if sess.RefreshExpiresAt.After(sess.ExpiresAt) {
		sess.RefreshExpiresAt = sess.ExpiresAt
	}
}

// pair signs a fresh access token for the session and pairs it with the
// session's current refresh token.
func (s *Service) pair(sess *authevents.Session, refresh string, now time.Time) (*Result, error) {
	access, err := s.tokens.Sign(token.Spec{Type: token.TypeAccess, UserID: sess.UserID, SessionID: sess.ID, ID: newID(), IssuedAt: now, TTL: s.cfg.AccessTTL})
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &Result{Session: sess, AccessToken: access, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTTL}, nil
}

// legacyRefresh re-signs the session's current refresh token as the JWT
// it was when the session last rotated before opaque refresh tokens (no
// child box): Ed25519 is deterministic, so it comes out byte for byte the
// same. Only the grace window of such a rotation uses it.
func (s *Service) legacyRefresh(sess *authevents.Session) (string, error) {
	refresh, err := s.tokens.Sign(token.Spec{Type: token.TypeRefresh, UserID: sess.UserID, SessionID: sess.ID, ID: sess.RefreshJTI,
		IssuedAt: sess.RefreshIssuedAt, TTL: sess.RefreshExpiresAt.Sub(sess.RefreshIssuedAt)})
	if err != nil {
		return "", fmt.Errorf("sign refresh token: %w", err)
	}
	return refresh, nil
}
