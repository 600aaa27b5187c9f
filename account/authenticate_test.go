package account_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/token"
)

// TestMeAndTokenAttacks: Authenticate accepts the account's access token
// and Me returns its user; every other bearer string is ErrUnauthorized:
// garbage, a refresh or device token, an expired, tampered or unsigned
// token, and a well-signed token of a user that does not exist (refused
// by Me, which every bearer use case reads through).
func TestMeAndTokenAttacks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	reg := f.register(t, "me@example.com")
	login := f.login(t, "me@example.com")
	a := f.authenticate(t, reg.AccessToken)
	if a.UserID != reg.User.ID || a.SessionID != reg.Session.ID {
		t.Fatalf("Authenticate = %+v", a)
	}
	u, err := f.Service.Me(ctx, a.UserID)
	if err != nil || u.ID != reg.User.ID || u.Email != "me@example.com" || u.Name != "Ada Lovelace" {
		t.Fatalf("Me = %+v, %v", u, err)
	}
	sign := func(s token.Spec) string {
		raw, err := f.Tokens.Sign(s)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	base := token.Spec{Type: token.TypeAccess, UserID: a.UserID, SessionID: a.SessionID, ID: uuid.New(), IssuedAt: time.Now(), TTL: time.Minute}
	expired := base
	expired.IssuedAt = time.Now().Add(-time.Hour)
	ghost := base
	ghost.UserID = uuid.New()
	parts := strings.Split(reg.AccessToken, ".")
	for name, raw := range map[string]string{
		"empty":         "",
		"garbage":       "garbage",
		"refresh token": reg.RefreshToken,
		"device token":  login.DeviceToken,
		"expired":       sign(expired),
		"tampered":      parts[0] + "." + parts[1] + "x." + parts[2],
		"alg none":      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.Service.Authenticate(ctx, raw)
			wantErr(t, err, authevents.ErrUnauthorized)
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		if f.works(t, sign(ghost)) {
			t.Fatal("a token of a user that does not exist works")
		}
	})
}

// TestJWKS publishes the one signing key's public half under its key id,
// never the private key.
func TestJWKS(t *testing.T) {
	t.Parallel()
	f := setup(t)
	jwks := f.Service.JWKS()
	if len(jwks.Keys) != 1 || jwks.Keys[0].KeyID != f.Tokens.KeyID() || jwks.Keys[0].KeyType != "OKP" || jwks.Keys[0].Curve != "Ed25519" || jwks.Keys[0].Algorithm != "EdDSA" {
		t.Fatalf("JWKS = %+v", jwks)
	}
	var doc struct{ Keys []map[string]any }
	b, _ := json.Marshal(jwks)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Keys[0]["d"]; ok {
		t.Fatal("JWKS exposes the private key")
	}
}
