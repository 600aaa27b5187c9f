package api_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/token"
)

// Found in review (issue 8): opaque refresh tokens carry the session and user ids
// unsigned, and any presented token of a live session that is neither its
// current token nor the parent inside the grace window is judged "reuse".
// So anyone who learns a session's ids (they are in clear in every access
// token's JWT payload, and in events) can forge rt_ + ids + random secret
// and revoke the victim's session, appending a spoofed
// user.token_reuse_detected. A forged token was never issued: it must be
// refused (401) without touching the session.
func TestForgedRefreshTokenChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	victim := f.register(t, "victim@example.com")

	// The attacker reads sid and sub from the access token, no key needed.
	parts := strings.Split(victim.AccessToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub string `json:"sub"`
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	// rt_ + sid + sub + a random secret and a random tag: all an attacker can make.
	sid, sub := uuid.MustParse(claims.Sid), uuid.MustParse(claims.Sub)
	junk := make([]byte, 48)
	rand.Read(junk)
	forged := token.RefreshPrefix + base64.RawURLEncoding.EncodeToString(append(append(sid[:], sub[:]...), junk...))
	if _, err := token.ParseRefresh(forged); err != nil {
		t.Fatalf("the forged token is not even well-formed: %v", err)
	}
	wantError(t, f.refresh(t, forged, "User-Agent", "attacker/1.0"), http.StatusUnauthorized, api.CodeInvalidRefresh)

	sid = f.session(t, victim.AccessToken)
	if row := f.sessionRow(t, sid); row.revoked {
		t.Errorf("a forged refresh token (never issued) revoked the victim's session: %+v", row)
	}
	if f.me(t, victim.AccessToken) != 200 {
		t.Errorf("victim's access token refused after a forged refresh")
	}
	if r := f.refresh(t, victim.RefreshToken); r.status != http.StatusOK {
		t.Errorf("victim's own refresh token: status %d after a forged refresh, want 200", r.status)
	}
	if evs := f.eventData(t, authevents.EventTokenReuseDetected, victim.User.ID); len(evs) != 0 {
		t.Errorf("spoofed token_reuse_detected events: %v", evs)
	}
}
