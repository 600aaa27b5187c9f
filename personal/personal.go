// Package personal protects the personal fields of events (email, name, IP
// address, user agent) by crypto-shredding: each field is encrypted with
// its user's data key, and erasing the user destroys the key, so that
// every copy of the field (stream, dead letters, audit log, backups)
// becomes unreadable at once. Design: docs/privacy.md.
//
// A data key (DEK) is created in the transaction that creates its user
// (Keys.Create) and stored wrapped under a key-encryption key (KEK) from
// configuration (Keyring). Producers encrypt with DataKey.Encrypt;
// consumers decrypt with Keys.Decrypt, which caches unwrapped keys.
// Keys.Erase destroys a key for good: decrypting then fails with
// ErrErased, and no key is ever created again for that user.
//
// Format of a protected field: "pd1." + base64url(nonce || ciphertext),
// XChaCha20-Poly1305 with a random 24-byte nonce, bound by its associated
// data to the user, the event id and the field name.
package personal

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/crypto/chacha20poly1305"
)

// Field names a personal field: the JSON property of the event data that
// carries it. It is part of the associated data, so a ciphertext does not
// open as another field.
type Field string

// The personal fields of today's events (docs/privacy.md lists which event
// carries which).
const (
	FieldEmail     Field = "email"
	FieldNewEmail  Field = "newEmail"
	FieldOldEmail  Field = "oldEmail"
	FieldName      Field = "name"
	FieldIP        Field = "ip"
	FieldUserAgent Field = "userAgent"
)

// Prefix starts every protected field; a JSON Schema matches one with
// Pattern.
const Prefix = "pd1."

// Pattern is the JSON Schema pattern of a protected field.
const Pattern = `^pd1\.[A-Za-z0-9_-]{54,}$`

var (
	// ErrErased: the user's key was destroyed; the field is gone for good.
	// Consumers show "[erased]" (Erased) and must not store anything
	// personal of that user again.
	ErrErased = errors.New("personal data erased")
	// ErrNoKey: no key exists for the user (an account made before keys
	// existed, or a field that was never protected).
	ErrNoKey = errors.New("no personal data key")
	// ErrUnreadable wraps every failure to open a protected field: not
	// one, malformed, tampered, or moved to another user, event or field.
	ErrUnreadable = errors.New("protected field does not open")
)

// Erased is what a reader shows in place of an erased field.
const Erased = "[erased]"

// IsProtected reports whether s has the form of a protected field (v2
// events carry them; v1 events carry clear values).
func IsProtected(s string) bool { return strings.HasPrefix(s, Prefix) }

const keySize = chacha20poly1305.KeySize

// DataKey is one user's unwrapped data key. It is safe for concurrent use.
// It never leaves the process: LogValue and String show the user id only.
type DataKey struct {
	user   uuid.UUID
	aead   cipher.AEAD
	pseudo []byte // HMAC key of the user's pseudonyms, derived from the DEK
}

func newDataKey(user uuid.UUID, dek []byte) (*DataKey, error) {
	if len(dek) != keySize {
		return nil, fmt.Errorf("data key of %s: %d bytes, want %d", user, len(dek), keySize)
	}
	aead, err := chacha20poly1305.NewX(dek)
	if err != nil {
		return nil, err
	}
	// Separate keys for separate jobs: the pseudonym key is derived, so a
	// pseudonym says nothing about the encryption key, and both die with
	// the DEK.
	pseudo, err := hkdf.Key(sha256.New, dek, nil, "authevents personal pseudonym v1", 32)
	if err != nil {
		return nil, err
	}
	return &DataKey{user: user, aead: aead, pseudo: pseudo}, nil
}

// UserID returns the user the key belongs to.
func (k *DataKey) UserID() uuid.UUID { return k.user }

// String hides the key.
func (k *DataKey) String() string { return "personal.DataKey(" + k.user.String() + ")" }

// Encrypt protects the value of field f in the event eventID.
func (k *DataKey) Encrypt(eventID string, f Field, value string) string {
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(value)+chacha20poly1305.Overhead)
	_, _ = rand.Read(nonce) // crypto/rand never fails on supported platforms
	sealed := k.aead.Seal(nonce, nonce, []byte(value), k.associatedData(eventID, f))
	return Prefix + base64.RawURLEncoding.EncodeToString(sealed)
}

// Decrypt opens a protected field of the event eventID. It fails with
// ErrUnreadable when s is not a field that k encrypted for that event and
// field name.
func (k *DataKey) Decrypt(eventID string, f Field, s string) (string, error) {
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return "", fmt.Errorf("%w: not a protected field", ErrUnreadable)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(b) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", fmt.Errorf("%w: malformed", ErrUnreadable)
	}
	nonce, ct := b[:chacha20poly1305.NonceSizeX], b[chacha20poly1305.NonceSizeX:]
	clear, err := k.aead.Open(nil, nonce, ct, k.associatedData(eventID, f))
	if err != nil {
		return "", fmt.Errorf("%w: %s of event %s", ErrUnreadable, f, eventID)
	}
	return string(clear), nil
}

// associatedData binds a ciphertext to its format, user, event and field;
// each part is length-prefixed so no two tuples encode alike.
func (k *DataKey) associatedData(eventID string, f Field) []byte {
	ad := make([]byte, 0, 64+len(eventID)+len(f))
	ad = append(ad, Prefix...)
	ad = appendPart(ad, k.user[:])
	ad = appendPart(ad, []byte(eventID))
	return appendPart(ad, []byte(f))
}

func appendPart(b, part []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(part)))
	return append(b, part...)
}
