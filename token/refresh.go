package token

import (
	"crypto/aes"
	"crypto/cipher"
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

// Refresh is an opaque refresh token: the ids of its session and user
// (not secret, not signed) and a 256-bit secret. Only RefreshID(secret),
// a hash, is ever stored.
type Refresh struct {
	SessionID uuid.UUID
	UserID    uuid.UUID
	secret    []byte
}

// NewRefresh makes a refresh token for the session with a fresh secret
// and returns it with its id (the hash the database stores).
func NewRefresh(sessionID, userID uuid.UUID) (raw string, id uuid.UUID) {
	r := Refresh{SessionID: sessionID, UserID: userID, secret: make([]byte, refreshSecretBytes)}
	rand.Read(r.secret)
	return r.String(), r.ID()
}

// String is the token as handed to the client:
// "rt_" + base64url(session id ‖ user id ‖ secret).
func (r Refresh) String() string {
	b := make([]byte, 0, 32+len(r.secret))
	b = append(b, r.SessionID[:]...)
	b = append(b, r.UserID[:]...)
	b = append(b, r.secret...)
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

// ParseRefresh decodes an opaque refresh token. It checks only the
// format: whether the token is the session's current one is the
// database's compare-and-set on ID().
func ParseRefresh(raw string) (Refresh, error) {
	enc, ok := strings.CutPrefix(raw, RefreshPrefix)
	if !ok {
		return Refresh{}, fmt.Errorf("%w: not an opaque refresh token", ErrInvalid)
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) != 32+refreshSecretBytes {
		return Refresh{}, fmt.Errorf("%w: malformed refresh token", ErrInvalid)
	}
	r := Refresh{secret: b[32:]}
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
