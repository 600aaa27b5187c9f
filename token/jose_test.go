package token_test

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/authevents/authevents/token"
)

// verifyRFC9068 is a resource server that knows nothing of this project:
// go-jose/v4 checks the EdDSA signature and the registered claims, and,
// as RFC 9068 §4 requires, the header typ must be at+jwt.
func verifyRFC9068(raw string, pub ed25519.PublicKey, iss, aud string, now time.Time) error {
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return err
	}
	var c josejwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return err
	}
	if err := c.Validate(josejwt.Expected{Issuer: iss, AnyAudience: josejwt.Audience{aud}, Time: now}); err != nil {
		return err
	}
	typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return fmt.Errorf("header typ %q is not at+jwt", typ)
	}
	return nil
}

// TestThirdPartyVerifierRefusesRefreshTokens: a refresh token was a JWT
// signed by the same key with the same iss and aud as an access token, so
// a standard JOSE verifier that ignores our private "typ" claim accepted
// it as an access token. Access tokens now carry the RFC 9068 header
// typ at+jwt; a verifier that checks it accepts access tokens and refuses
// refresh tokens.
func TestThirdPartyVerifierRefusesRefreshTokens(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	m, err := token.NewManager(token.Config{Issuer: "https://auth.test", Audience: "authevents-test"}, key)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(typ string) string {
		raw, err := m.Sign(token.Spec{Type: typ, UserID: uuid.New(), SessionID: uuid.New(), ID: uuid.New(), IssuedAt: now, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	pub := key.Public().(ed25519.PublicKey)
	access, refresh, device := sign(token.TypeAccess), sign(token.TypeRefresh), sign(token.TypeDevice)
	if err := verifyRFC9068(access, pub, "https://auth.test", "authevents-test", now); err != nil {
		t.Fatalf("go-jose RFC 9068 verifier refused an access token: %v", err)
	}
	for name, raw := range map[string]string{"refresh": refresh, "device": device} {
		if err := verifyRFC9068(raw, pub, "https://auth.test", "authevents-test", now); err == nil {
			t.Errorf("go-jose RFC 9068 verifier accepted a %s token as an access token", name)
		}
	}
	// Our own verifier keeps the types apart in both directions.
	if _, err := m.Verify(access, token.TypeRefresh); err == nil {
		t.Error("an access token verified as a refresh token")
	}
	if _, err := m.Verify(refresh, token.TypeAccess); err == nil {
		t.Error("a refresh token verified as an access token")
	}
}
