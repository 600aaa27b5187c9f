package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/token"
)

// TestRefreshTokensAreOpaque: refresh tokens were JWTs signed like access
// tokens. They are now opaque 256-bit secrets (with their session and
// user ids) of which the database keeps only a hash: no JOSE library even
// parses one, a rotation hands out another, the grace window the same
// child again, and the unsigned ids cannot be swapped.
func TestRefreshTokensAreOpaque(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "opaque@example.com")
	sid := f.session(t, reg.AccessToken)
	if !strings.HasPrefix(reg.RefreshToken, token.RefreshPrefix) || strings.Contains(reg.RefreshToken, ".") {
		t.Fatalf("refresh token %.20q... is not opaque", reg.RefreshToken)
	}
	if _, err := jose.ParseSignedCompact(reg.RefreshToken, []jose.SignatureAlgorithm{jose.EdDSA}); err == nil {
		t.Error("go-jose parsed a refresh token as a JWS")
	}
	t1 := f.mustRefresh(t, reg.RefreshToken)
	if !token.IsOpaqueRefresh(t1.RefreshToken) || t1.RefreshToken == reg.RefreshToken {
		t.Fatalf("rotation returned %.20q...", t1.RefreshToken)
	}
	// Grace window: the parent again gives the very same child.
	if again := f.mustRefresh(t, reg.RefreshToken); again.RefreshToken != t1.RefreshToken {
		t.Error("the grace window returned a different child")
	}
	// The ids in an opaque token are not signed: pointing one at another
	// user is refused and changes nothing.
	r, _ := token.ParseRefresh(t1.RefreshToken)
	r.UserID = uuid.MustParse(f.register(t, "victim@example.com").User.ID)
	wantError(t, f.refresh(t, r.String()), http.StatusUnauthorized, api.CodeInvalidRefresh)
	if row := f.sessionRow(t, sid); row.generation != 2 || row.revoked {
		t.Fatalf("session after a refresh with swapped ids = %+v", row)
	}
	if n := len(f.events(t, authevents.EventUserTokenRefreshed)); n != 1 {
		t.Errorf("%d token_refreshed events, want 1", n)
	}
	// Expired by its own lifetime (refresh_expires_at), not the session's.
	f.Pool.Exec(context.Background(), `UPDATE sessions SET refresh_expires_at = now() - interval '1 second' WHERE id = $1`, sid)
	wantError(t, f.refresh(t, t1.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	f.noSecrets(t, reg.RefreshToken, t1.RefreshToken)
}

// TestLegacyJWTRefreshTokenStillWorks: a JWT refresh token issued before
// opaque ones keeps working until it expires; it rotates to an opaque
// token, and inside the grace window returns that same opaque child.
func TestLegacyJWTRefreshTokenStillWorks(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "legacy@example.com")
	sid := f.session(t, reg.AccessToken)
	// Put the session in the state an old release left it in: its current
	// refresh token is a JWT with a random jti.
	jti, iat := uuid.New(), time.Now().Truncate(time.Second)
	if _, err := f.Pool.Exec(context.Background(),
		`UPDATE sessions SET refresh_jti = $2, refresh_issued_at = $3::timestamptz, refresh_expires_at = $3::timestamptz + interval '1 hour' WHERE id = $1`, sid, jti, iat); err != nil {
		t.Fatal(err)
	}
	legacy, err := f.Tokens.Sign(token.Spec{Type: token.TypeRefresh, UserID: uuid.MustParse(reg.User.ID), SessionID: sid, ID: jti, IssuedAt: iat, TTL: time.Hour})
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
	wantError(t, f.refresh(t, legacy), http.StatusUnauthorized, api.CodeInvalidRefresh) // reuse
	if row := f.sessionRow(t, sid); !row.revoked || row.reason != "token_reuse" {
		t.Errorf("session after reuse of the legacy token = %+v", row)
	}
}
