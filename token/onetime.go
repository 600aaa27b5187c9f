package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// OneTimePrefix starts every one-time token (address verification,
// password reset, email change): "ot_" + base64url of 256 random bits.
const OneTimePrefix = "ot_"

// oneTimeBytes is a one-time token's entropy: 256 bits from crypto/rand.
const oneTimeBytes = 32

// NewOneTime returns a fresh one-time token, as it goes into a link, and
// its hash, the only form that is stored. The token itself is a
// credential: it is handed to the mail and never kept.
func NewOneTime() (raw string, hash []byte) {
	b := make([]byte, oneTimeBytes)
	rand.Read(b)
	raw = OneTimePrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256(b)
	return raw, sum[:]
}

// HashOneTime checks raw's format strictly (its prefix, exactly 256 bits,
// the one spelling base64url allows) and returns the hash to look it up
// by. Any other input is ErrInvalid: a caller answers a malformed token
// exactly as it answers an unknown one.
//
// A plain SHA-256 is enough: the input has 256 bits of entropy, so the
// stored hash cannot be turned back into a token by guessing, and the
// lookup by hash compares no secret byte by byte in Go.
func HashOneTime(raw string) ([]byte, error) {
	enc, ok := strings.CutPrefix(raw, OneTimePrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not a one-time token", ErrInvalid)
	}
	// The length check comes first: the decoder skips \r and \n, so a
	// token with a line break inside would otherwise be a second spelling.
	if len(enc) != base64.RawURLEncoding.EncodedLen(oneTimeBytes) {
		return nil, fmt.Errorf("%w: malformed one-time token", ErrInvalid)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(b) != oneTimeBytes {
		return nil, fmt.Errorf("%w: malformed one-time token", ErrInvalid)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}
