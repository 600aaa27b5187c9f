package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// A one-time token travels to the email service inside its event, sealed
// to a key only the email service holds (a NaCl anonymous sealed box:
// X25519 + XSalsa20-Poly1305). Every other reader of the stream (the
// analytics, security and audit consumers, the DLQ, other teams) sees a
// ciphertext it cannot open, and the stream's retention keeps nothing
// usable. The sealed text names the key it was sealed to, so the email
// service can hold the previous key during a rotation, and it is bound to
// its link (Binding): its event, the event's type, the recipient and the
// expiry, so a sealed token moved into another event, or into an event
// rewritten to name another recipient, does not open.
//
// Format: "s1." + key id (8 bytes, base64url) + "." + base64url(box).

const sealVersion = "s1"

// ErrSealed wraps every failure to open a sealed token.
var ErrSealed = errors.New("cannot open sealed token")

// GenerateSealKey returns a new X25519 key pair, base64url-encoded: the
// public key goes to the API (MAIL_SEAL_PUBLIC_KEY), the private key to
// the email service only (MAIL_SEAL_PRIVATE_KEY).
func GenerateSealKey() (public, private string) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(pub[:]), base64.RawURLEncoding.EncodeToString(priv[:])
}

// Sealer seals one-time tokens to the email service's public key.
type Sealer struct {
	pub *[32]byte
	kid string
}

// NewSealer parses a base64url X25519 public key.
func NewSealer(public string) (*Sealer, error) {
	pub, err := parseKey(public)
	if err != nil {
		return nil, fmt.Errorf("seal public key: %w", err)
	}
	return &Sealer{pub: pub, kid: sealKeyID(pub)}, nil
}

// Binding is what a sealed token is bound to: the link it travels in.
type Binding struct {
	EventID   string
	EventType string
	To        string    // the recipient's address; compared lower-cased
	ExpiresAt time.Time // compared to the second
}

// bytes is the binding's canonical form: a line per field.
func (b Binding) bytes() string {
	return b.EventID + "\n" + b.EventType + "\n" + strings.ToLower(b.To) + "\n" + strconv.FormatInt(b.ExpiresAt.Unix(), 10) + "\n"
}

// digest is what a sealed token carries of its binding: a SHA-256 of it,
// not the binding itself. The box outlives the user (stream, DLQ, audit
// log, backups) and opens with a key that is never erased: holding the
// recipient's address in it kept a deleted user's address readable to
// whoever holds that key (review finding). The digest still binds the
// token to its event, type, recipient and expiry.
func (b Binding) digest() []byte {
	d := sha256.Sum256([]byte(b.bytes()))
	return d[:]
}

// Seal seals raw for the link b.
func (s *Sealer) Seal(b Binding, raw string) (string, error) {
	sealed, err := box.SealAnonymous(nil, append(b.digest(), raw...), s.pub, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	return sealVersion + "." + s.kid + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Opener opens sealed tokens with the email service's private keys: the
// current one first, then any previous one still accepted.
type Opener struct {
	keys map[string][2]*[32]byte // key id → public, private
}

// NewOpener parses base64url X25519 private keys.
func NewOpener(private ...string) (*Opener, error) {
	if len(private) == 0 {
		return nil, errors.New("seal private key: none given")
	}
	o := &Opener{keys: map[string][2]*[32]byte{}}
	for i, p := range private {
		priv, err := parseKey(p)
		if err != nil {
			return nil, fmt.Errorf("seal private key %d: %w", i+1, err)
		}
		pub := new([32]byte)
		curve25519.ScalarBaseMult(pub, priv)
		o.keys[sealKeyID(pub)] = [2]*[32]byte{pub, priv}
	}
	return o, nil
}

// Open returns the token sealed for the link b.
func (o *Opener) Open(b Binding, sealed string) (string, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != sealVersion {
		return "", fmt.Errorf("%w: not a sealed token", ErrSealed)
	}
	k, ok := o.keys[parts[1]]
	if !ok {
		return "", fmt.Errorf("%w: sealed to key %s, which this service does not hold", ErrSealed, parts[1])
	}
	boxed, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		return "", fmt.Errorf("%w: malformed", ErrSealed)
	}
	msg, ok := box.OpenAnonymous(nil, boxed, k[0], k[1])
	if !ok {
		return "", fmt.Errorf("%w: does not open", ErrSealed)
	}
	if d := b.digest(); len(msg) >= len(d) && subtle.ConstantTimeCompare(msg[:len(d)], d) == 1 {
		return string(msg[len(d):]), nil
	}
	// Sealed before the digest: the binding in clear.
	if raw, ok := strings.CutPrefix(string(msg), b.bytes()); ok {
		return raw, nil
	}
	return "", fmt.Errorf("%w: sealed for another link (event, type, recipient or expiry)", ErrSealed)
}

func parseKey(s string) (*[32]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("want 32 bytes, base64url without padding")
	}
	k := new([32]byte)
	copy(k[:], b)
	return k, nil
}

func sealKeyID(pub *[32]byte) string {
	sum := sha256.Sum256(pub[:])
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// ReadSealKeyFile reads a seal key from a file: either the key alone, or
// the environment lines `authctl mailkey` writes, of which the line
// name=... is taken (MAIL_SEAL_PUBLIC_KEY or MAIL_SEAL_PRIVATE_KEY).
func ReadSealKeyFile(path, name string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(string(b))
	if !strings.Contains(text, "=") || !strings.Contains(text, "\n") && !strings.HasPrefix(text, name+"=") {
		return text, nil
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no %s line", path, name)
}
