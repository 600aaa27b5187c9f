package personal

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/crypto/chacha20poly1305"
)

// Keyring holds the key-encryption keys (KEKs) that wrap data keys: the
// current one wraps new keys, the previous ones still unwrap keys made
// before a rotation. KEKs live in configuration (PERSONAL_DATA_KEY, or
// PERSONAL_DATA_KEY_FILE), never in the database, so that a dump or a
// backup of the database alone reveals no data key.
//
// Rotation (docs/privacy.md, "Key rotation"): generate a key (GenerateKEK),
// make it current and keep the old one as previous, restart; run
// Keys.Rewrap until it reports 0; once no backup that needs the old KEK is
// kept, drop it from configuration and destroy it.
type Keyring struct {
	current string
	keks    map[string]cipher.AEAD // KEK id → AEAD
}

// GenerateKEK returns a new random KEK, base64url-encoded (32 bytes).
func GenerateKEK() string {
	return base64.RawURLEncoding.EncodeToString(randomKey())
}

// randomKey returns 32 random bytes.
func randomKey() []byte {
	k := make([]byte, keySize)
	_, _ = rand.Read(k) // crypto/rand never fails on supported platforms
	return k
}

// NewKeyring parses base64url KEKs of 32 bytes: the current one first,
// then the previous ones.
func NewKeyring(current string, previous ...string) (*Keyring, error) {
	r := &Keyring{keks: map[string]cipher.AEAD{}}
	for i, s := range append([]string{current}, previous...) {
		b, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != keySize {
			return nil, fmt.Errorf("personal data key %d: want 32 bytes, base64url without padding", i+1)
		}
		aead, err := chacha20poly1305.NewX(b)
		if err != nil {
			return nil, err
		}
		id := kekID(b)
		if i == 0 {
			r.current = id
		}
		r.keks[id] = aead
	}
	return r, nil
}

// ReadKeyringFile reads KEKs from a file, one a line, the current one
// first; blank lines and lines starting with # are skipped.
func ReadKeyringFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key", path)
	}
	r, err := NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// CurrentID returns the id of the KEK that wraps new keys.
func (r *Keyring) CurrentID() string { return r.current }

// LogValue shows the KEK ids only.
func (r *Keyring) LogValue() slog.Value {
	ids := make([]string, 0, len(r.keks))
	for id := range r.keks {
		ids = append(ids, id)
	}
	return slog.GroupValue(slog.String("current", r.current), slog.Any("ids", ids))
}

// kekID names a KEK by a hash of it: stable, chosen by no one, and
// revealing nothing of a random 256-bit key.
func kekID(kek []byte) string {
	sum := sha256.Sum256(append([]byte("authevents personal kek id\x00"), kek...))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// wrap encrypts dek under the current KEK, bound to its user and KEK id,
// so that a wrapped key copied to another user's row does not unwrap.
func (r *Keyring) wrap(user uuid.UUID, dek []byte) (kekID string, wrapped []byte) {
	aead := r.keks[r.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dek)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return r.current, aead.Seal(nonce, nonce, dek, wrapAD(user, r.current))
}

// unwrap is the inverse of wrap.
func (r *Keyring) unwrap(user uuid.UUID, kekID string, wrapped []byte) ([]byte, error) {
	aead, ok := r.keks[kekID]
	if !ok {
		return nil, fmt.Errorf("key of %s is wrapped under KEK %s, which is not configured", user, kekID)
	}
	if len(wrapped) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("wrapped key too short")
	}
	n := aead.NonceSize()
	dek, err := aead.Open(nil, wrapped[:n], wrapped[n:], wrapAD(user, kekID))
	if err != nil {
		return nil, fmt.Errorf("key of %s does not unwrap under KEK %s", user, kekID)
	}
	return dek, nil
}

func wrapAD(user uuid.UUID, kekID string) []byte {
	ad := appendPart([]byte("authevents personal key v1"), user[:])
	return appendPart(ad, []byte(kekID))
}

// KeyringFromConfig is the keyring a service configures with
// PERSONAL_DATA_KEY (key: one KEK) or PERSONAL_DATA_KEY_FILE (file: one a
// line, current first), or nil when neither is set.
func KeyringFromConfig(key, file string) (*Keyring, error) {
	switch {
	case key != "" && file != "":
		return nil, errors.New("set PERSONAL_DATA_KEY or PERSONAL_DATA_KEY_FILE, not both")
	case file != "":
		r, err := ReadKeyringFile(file)
		if err != nil {
			return nil, fmt.Errorf("PERSONAL_DATA_KEY_FILE: %w", err)
		}
		return r, nil
	case key != "":
		r, err := NewKeyring(key)
		if err != nil {
			return nil, fmt.Errorf("PERSONAL_DATA_KEY: %w", err)
		}
		return r, nil
	}
	return nil, nil
}
