package personal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
)

// Pseudonyms are stable keyed hashes (HMAC-SHA256, 128 bits, base64url)
// for consumers that need to compare a value without reading it: has this
// user logged in from this address before, how many accounts did this
// address try. Two scopes (docs/privacy.md, "Pseudonyms"):
//
//   - per user, "pu1.": keyed by the user's data key (DataKey.Pseudonym).
//     The producer computes it beside the encrypted field, so a consumer
//     that only compares (security's baselines) needs no decryption
//     right. Erasing the key makes every such pseudonym unlinkable, even
//     by someone who guesses the value.
//   - global, "pg1.": keyed by a Pseudonymizer key, the same for all
//     users, for comparisons across users (failed logins per address).
//     Whoever holds the key can test guesses (all IPv4 addresses take
//     minutes), so global pseudonyms stay where the key is, in tables of
//     bounded retention, and never go into events, the stream or the
//     audit log.

const (
	userPseudonymPrefix   = "pu1."
	globalPseudonymPrefix = "pg1."
)

// Pseudonym returns the user-scoped pseudonym of value as field f: equal
// values give equal pseudonyms for this user only.
func (k *DataKey) Pseudonym(f Field, value string) string {
	return userPseudonymPrefix + tag(k.pseudo, f, value)
}

// Pseudonymizer makes global pseudonyms. It is safe for concurrent use.
type Pseudonymizer struct{ key []byte }

// NewPseudonymizer parses a base64url key of 32 bytes (PSEUDONYM_KEY;
// GenerateKEK makes one). Every process that must compare pseudonyms with
// another's uses the same key.
func NewPseudonymizer(key string) (*Pseudonymizer, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(key))
	if err != nil || len(b) != keySize {
		return nil, errors.New("pseudonym key: want 32 bytes, base64url without padding")
	}
	return &Pseudonymizer{key: b}, nil
}

// NewEphemeralPseudonymizer returns a Pseudonymizer with a random key that
// is never stored: its pseudonyms match within this process's life only,
// and nobody can link them to a value afterwards. It is the one for log
// lines (client IPs, addresses at info level): erasure then does not
// depend on how long logs are kept.
func NewEphemeralPseudonymizer() *Pseudonymizer { return &Pseudonymizer{key: randomKey()} }

// Pseudonym returns the global pseudonym of value as field f.
func (p *Pseudonymizer) Pseudonym(f Field, value string) string {
	return globalPseudonymPrefix + tag(p.key, f, value)
}

// tag is HMAC-SHA256(key, field, canonical value), cut to 128 bits.
func tag(key []byte, f Field, value string) string {
	if f == FieldIP {
		value = canonicalIP(value)
	}
	m := hmac.New(sha256.New, key)
	m.Write(appendPart(appendPart(nil, []byte(f)), []byte(value)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// canonicalIP writes one address one way (an IPv4-mapped IPv6 address
// as IPv4, IPv6 compressed), so that its pseudonym does not depend on how
// a proxy wrote it; what does not parse is taken as it is.
func canonicalIP(s string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	return a.Unmap().WithZone("").String()
}

// logPseudonyms is this process's one key for log lines.
var logPseudonyms = NewEphemeralPseudonymizer()

// ForLog returns value's pseudonym for a log line of this process: the
// same for every package of the process (the access log and a warning
// about the same client match), unlinkable once the process is gone.
func ForLog(f Field, value string) string { return logPseudonyms.Pseudonym(f, value) }
