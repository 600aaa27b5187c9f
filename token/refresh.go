package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// RefreshPrefix starts every opaque refresh token; a JWT never does.
const RefreshPrefix = "rt_"

// refreshSecretBytes is the size of a refresh token's random secret (256
// bits from crypto/rand).
const refreshSecretBytes = 32

// refreshMACBytes is the size of the tag that authenticates a refresh
// token as one this service issued (HMAC-SHA256, truncated to 128 bits).
const refreshMACBytes = 16

// refreshBytes is the decoded size: session id, user id, secret, tag.
const refreshBytes = 16 + 16 + refreshSecretBytes + refreshMACBytes

// Refresh is an opaque refresh token: the ids of its session and user (not
// secret), a 256-bit secret, and a tag by a key of this service over all
// three. Only ID(), a hash of the secret, is ever stored.
//
// The tag is what makes reuse detection safe: a token that is neither the
// session's current one nor its parent is judged a replay of a rotated
// token, which revokes the session. Without the tag anyone who knows a
// session's ids (they are in every access token, and in events) could
// make up such a token and end someone else's session.
type Refresh struct {
	SessionID uuid.UUID
	UserID    uuid.UUID
	secret    []byte
	mac       []byte
}

// refreshMACKey derives the key that tags refresh tokens from a signing
// key's seed, so no further secret needs configuring: the signing key is
// the one secret the API holds.
func refreshMACKey(signing ed25519.PrivateKey) []byte {
	h := hmac.New(sha256.New, signing.Seed())
	h.Write([]byte("authevents refresh-token tag v1"))
	return h.Sum(nil)
}

func (r Refresh) tag(key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(r.SessionID[:])
	h.Write(r.UserID[:])
	h.Write(r.secret)
	return h.Sum(nil)[:refreshMACBytes]
}

// NewRefresh makes a refresh token for the session with a fresh secret,
// tagged with the current signing key, and returns it with its id (the
// hash the database stores).
func (m *Manager) NewRefresh(sessionID, userID uuid.UUID) (raw string, id uuid.UUID) {
	r := Refresh{SessionID: sessionID, UserID: userID, secret: make([]byte, refreshSecretBytes)}
	rand.Read(r.secret)
	r.mac = r.tag(m.refreshKeys[0])
	return r.String(), r.ID()
}

// VerifyRefresh decodes an opaque refresh token and checks, in constant
// time, that this service issued it (its tag, under the current signing
// key or a previous private one). Whether it is the session's current
// token is the database's compare-and-set on ID().
func (m *Manager) VerifyRefresh(raw string) (Refresh, error) {
	r, err := ParseRefresh(raw)
	if err != nil {
		return Refresh{}, err
	}
	for _, k := range m.refreshKeys {
		if hmac.Equal(r.mac, r.tag(k)) {
			return r, nil
		}
	}
	return Refresh{}, fmt.Errorf("%w: refresh token not issued by this service", ErrInvalid)
}

// String is the token as handed to the client:
// "rt_" + base64url(session id ‖ user id ‖ secret ‖ tag).
func (r Refresh) String() string {
	b := make([]byte, 0, refreshBytes)
	b = append(b, r.SessionID[:]...)
	b = append(b, r.UserID[:]...)
	b = append(b, r.secret...)
	b = append(b, r.mac...)
	return RefreshPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ID is the token's identity as stored in sessions.refresh_jti: the first
// 128 bits of SHA-256 over the secret. A database dump cannot be turned
// back into a token.
func (r Refresh) ID() uuid.UUID {
	sum := sha256.Sum256(r.secret)
	var id uuid.UUID
	copy(id[:], sum[:16])
	return id
}

// IsOpaqueRefresh reports whether raw has the opaque refresh format (as
// opposed to a legacy JWT refresh token).
func IsOpaqueRefresh(raw string) bool { return strings.HasPrefix(raw, RefreshPrefix) }

// ParseRefresh decodes an opaque refresh token's format only, without
// checking its tag (tests, tools); the API uses Manager.VerifyRefresh.
func ParseRefresh(raw string) (Refresh, error) {
	enc, ok := strings.CutPrefix(raw, RefreshPrefix)
	if !ok {
		return Refresh{}, fmt.Errorf("%w: not an opaque refresh token", ErrInvalid)
	}
	// Strict: the trailing bits of the last character must be zero, so
	// that a token has exactly one spelling (a re-spelt token would
	// otherwise decode to the same bytes and pass for the issued one).
	// The decoder also skips \r and \n, strict or not: the length check
	// refuses a token with a line break inside, another spelling.
	if len(enc) != base64.RawURLEncoding.EncodedLen(refreshBytes) {
		return Refresh{}, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(b) != refreshBytes {
		return Refresh{}, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	r := Refresh{secret: b[32 : 32+refreshSecretBytes], mac: b[32+refreshSecretBytes:]}
	copy(r.SessionID[:], b[:16])
	copy(r.UserID[:], b[16:32])
	if r.SessionID == uuid.Nil || r.UserID == uuid.Nil {
		return Refresh{}, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	return r, nil
}

// SealChild encrypts the child token a rotation issued under a key
// derived from the parent token, so that the grace window can hand the
// same child again to whoever presents the parent, while the database
// (which never sees the parent) cannot recover it. AES-256-GCM.
func SealChild(parentRaw, childRaw string) []byte {
	aead := childAEAD(parentRaw)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(childRaw), nil)
}

// OpenChild recovers the child sealed by SealChild with the same parent.
func OpenChild(parentRaw string, box []byte) (string, error) {
	aead := childAEAD(parentRaw)
	if len(box) < aead.NonceSize() {
		return "", errors.New("token: child box too short")
	}
	plain, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("token: open child: %w", err)
	}
	return string(plain), nil
}

func childAEAD(parentRaw string) cipher.AEAD {
	key := sha256.Sum256([]byte("authevents refresh child v1\x00" + parentRaw))
	block, _ := aes.NewCipher(key[:]) // a 32-byte key never fails
	aead, _ := cipher.NewGCM(block)
	return aead
}
