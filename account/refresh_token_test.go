package account_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/token"
)

// TestRefreshTokensAreOpaque: refresh tokens are opaque 256-bit secrets
// (with their session and user ids) of which the database keeps only a
// hash: no JOSE library even parses one, and a rotation hands out another.
func TestRefreshTokensAreOpaque(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "opaque@example.com")
	if !token.IsOpaqueRefresh(reg.RefreshToken) || strings.Contains(reg.RefreshToken, ".") {
		t.Fatalf("refresh token %.20q... is not opaque", reg.RefreshToken)
	}
	if _, err := jose.ParseSignedCompact(reg.RefreshToken, []jose.SignatureAlgorithm{jose.EdDSA}); err == nil {
		t.Error("go-jose parsed a refresh token as a JWS")
	}
	t1 := f.mustRefresh(t, reg.RefreshToken)
	if !token.IsOpaqueRefresh(t1.RefreshToken) || t1.RefreshToken == reg.RefreshToken {
		t.Fatalf("rotation returned %.20q...", t1.RefreshToken)
	}
	if again := f.mustRefresh(t, reg.RefreshToken); again.RefreshToken != t1.RefreshToken {
		t.Error("the grace window returned a different child")
	}
}

// TestLegacyJWTRefreshTokenStillWorks: a JWT refresh token issued before
// opaque ones keeps working until it expires; it rotates to an opaque
// token, and inside the grace window returns that same opaque child.
func TestLegacyJWTRefreshTokenStillWorks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "legacy@example.com")
	sid := reg.Session.ID
	// Put the session in the state an old release left it in: its current
	// refresh token is a JWT with a random jti.
	jti, iat := uuid.New(), time.Now().Truncate(time.Second)
	if _, err := f.Pool.Exec(context.Background(),
		`UPDATE sessions SET refresh_jti = $2, refresh_issued_at = $3::timestamptz, refresh_expires_at = $3::timestamptz + interval '1 hour' WHERE id = $1`, sid, jti, iat); err != nil {
		t.Fatal(err)
	}
	legacy, err := f.Tokens.Sign(token.Spec{Type: token.TypeRefresh, UserID: reg.User.ID, SessionID: sid, ID: jti, IssuedAt: iat, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t1 := f.mustRefresh(t, legacy)
	if !token.IsOpaqueRefresh(t1.RefreshToken) {
		t.Fatalf("a legacy refresh rotated to %.20q..., want an opaque token", t1.RefreshToken)
	}
	if again := f.mustRefresh(t, legacy); again.RefreshToken != t1.RefreshToken {
		t.Error("the grace window of a legacy parent returned a different child")
	}
	f.mustRefresh(t, t1.RefreshToken)
	_, err = f.refresh(legacy)
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
	if row := f.sessionRow(t, sid); !row.revoked || row.reason != account.RevokedTokenReuse {
		t.Errorf("session after reuse of the legacy token = %+v", row)
	}
}
