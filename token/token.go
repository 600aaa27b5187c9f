// Package token issues and verifies the service's JWTs: EdDSA (Ed25519)
// signatures with a "kid" header, claims iss, aud, sub, iat, exp, jti, sid
// and typ. Verification pins the algorithm, requires every claim, and looks
// the key up by kid among the signing key and the verify-only previous keys,
// so keys can rotate without logging anyone out.
package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token types, carried in the "typ" claim.
const (
	TypeAccess  = "access"
	TypeRefresh = "refresh"
	// TypeDevice marks a device token: proof that a device has signed in
	// to the account (sub) before; sid and jti are the device id.
	TypeDevice = "device"
)

// ErrInvalid wraps every verification failure. Callers map it to 401
// without telling the client which check failed.
var ErrInvalid = errors.New("invalid token")

// Claims are the claims of an access or refresh token.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	Type      string `json:"typ"`
}

// Config configures a Manager.
type Config struct {
	Issuer   string
	Audience string
	// Leeway tolerates clock skew between replicas for exp and iat.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Manager signs tokens with one key and verifies them against that key
// and any previous keys.
type Manager struct {
	cfg     Config
	signing ed25519.PrivateKey
	kid     string
	keys    map[string]ed25519.PublicKey
	order   []Key
	parser  *jwt.Parser
	// refreshKeys tag opaque refresh tokens: the current signing key's
	// first, then those of previous private keys (AcceptRefreshFrom).
	refreshKeys [][]byte
}

// NewManager returns a Manager that signs with signing and also accepts
// tokens signed by previous.
func NewManager(cfg Config, signing ed25519.PrivateKey, previous ...ed25519.PublicKey) (*Manager, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("token: issuer and audience are required")
	}
	if len(signing) != ed25519.PrivateKeySize {
		return nil, errors.New("token: signing key is not an Ed25519 private key")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{cfg: cfg, signing: signing, keys: map[string]ed25519.PublicKey{},
		refreshKeys: [][]byte{refreshMACKey(signing)}}
	pub := signing.Public().(ed25519.PublicKey)
	m.kid = KeyID(pub)
	for _, k := range append([]ed25519.PublicKey{pub}, previous...) {
		id := KeyID(k)
		if _, dup := m.keys[id]; dup {
			continue
		}
		m.keys[id] = k
		m.order = append(m.order, Key{ID: id, Public: k})
	}
	m.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	return m, nil
}

// AcceptRefreshFrom keeps accepting the refresh tokens tagged under a
// previous signing key (given as its private key) after a key rotation.
// A previous key given as a public key keeps access tokens verifiable, but
// its refresh tokens are refused: their holders log in again.
func (m *Manager) AcceptRefreshFrom(previous ed25519.PrivateKey) {
	if len(previous) == ed25519.PrivateKeySize {
		m.refreshKeys = append(m.refreshKeys, refreshMACKey(previous))
	}
}

// KeyID returns the kid of the signing key.
func (m *Manager) KeyID() string { return m.kid }

// Spec describes a token to sign.
type Spec struct {
	Type      string
	UserID    uuid.UUID
	SessionID uuid.UUID
	ID        uuid.UUID // jti
	IssuedAt  time.Time
	TTL       time.Duration
}

// Sign returns the compact JWT for s. Ed25519 signatures are deterministic,
// so signing the same Spec twice yields the same token.
func (m *Manager) Sign(s Spec) (string, error) {
	if s.Type != TypeAccess && s.Type != TypeRefresh && s.Type != TypeDevice {
		return "", fmt.Errorf("token: unknown type %q", s.Type)
	}
	iat := s.IssuedAt.Truncate(time.Second)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.cfg.Issuer,
			Audience:  jwt.ClaimStrings{m.cfg.Audience},
			Subject:   s.UserID.String(),
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(iat.Add(s.TTL)),
			ID:        s.ID.String(),
		},
		SessionID: s.SessionID.String(),
		Type:      s.Type,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = m.kid
	if s.Type == TypeAccess {
		// RFC 9068: a resource server using any standard JOSE library
		// tells access tokens from every other JWT of ours by this header.
		t.Header["typ"] = AccessHeaderType
	}
	return t.SignedString(m.signing)
}

// AccessHeaderType is the JOSE header typ of access tokens (RFC 9068).
// Refresh and device tokens keep "JWT".
const AccessHeaderType = "at+jwt"

// headerTypeOK checks the JOSE header typ against the wanted token type:
// at+jwt (or application/at+jwt) only on access tokens. Access tokens
// signed before at+jwt was introduced carry "JWT"; they are accepted on
// their claim typ until they expire (ACCESS_TOKEN_TTL).
func headerTypeOK(typ, want string) bool {
	at := strings.EqualFold(typ, AccessHeaderType) || strings.EqualFold(typ, "application/"+AccessHeaderType)
	if want == TypeAccess {
		return at || typ == "JWT"
	}
	return !at
}

// Verified is what a valid token proves.
type Verified struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	ID        uuid.UUID // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Verify checks signature, algorithm, kid, issuer, audience, expiry,
// issued-at and that the token is of type want.
func (m *Manager) Verify(raw, want string) (*Verified, error) {
	var c Claims
	var headerType string
	_, err := m.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		headerType, _ = t.Header["typ"].(string)
		kid, ok := t.Header["kid"].(string)
		if !ok {
			return nil, errors.New("missing kid")
		}
		k, ok := m.keys[kid]
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Type != want {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrInvalid, c.Type, want)
	}
	if !headerTypeOK(headerType, want) {
		return nil, fmt.Errorf("%w: header typ %q on a %s token", ErrInvalid, headerType, want)
	}
	if c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: missing iat", ErrInvalid)
	}
	v := &Verified{IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time}
	for _, f := range []struct {
		dst  *uuid.UUID
		val  string
		name string
	}{{&v.UserID, c.Subject, "sub"}, {&v.SessionID, c.SessionID, "sid"}, {&v.ID, c.ID, "jti"}} {
		id, err := uuid.Parse(f.val)
		if err != nil || id == uuid.Nil {
			return nil, fmt.Errorf("%w: bad %s", ErrInvalid, f.name)
		}
		*f.dst = id
	}
	return v, nil
}

// JWKS returns the public keys that verify tokens, signing key first.
func (m *Manager) JWKS() JWKS {
	out := JWKS{Keys: make([]JWK, 0, len(m.order))}
	for _, k := range m.order {
		out.Keys = append(out.Keys, JWK{
			KeyType: "OKP", Curve: "Ed25519", Algorithm: "EdDSA", Use: "sig",
			X: b64url(k.Public), KeyID: k.ID,
		})
	}
	return out
}
