// Package tokentest helps tests that seal one-time link tokens as the API
// does and open them as the email service does.
package tokentest

import (
	"testing"

	"github.com/authevents/authevents/token"
)

// SealPair returns a sealer and the opener of a fresh key pair.
func SealPair(t testing.TB) (*token.Sealer, *token.Opener) {
	t.Helper()
	pub, priv := token.GenerateSealKey()
	sealer, err := token.NewSealer(pub)
	if err != nil {
		t.Fatal(err)
	}
	opener, err := token.NewOpener(priv)
	if err != nil {
		t.Fatal(err)
	}
	return sealer, opener
}
