package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/token"
)

// TestUnusableStoredHashCostsOneVerify: an account whose stored hash is
// empty or undecodable answered a wrong password without hashing (about
// 1 ms instead of 28), which reveals such accounts by timing. It now
// costs exactly one argon2id verification, against the dummy hash, like
// an unknown email. Counted on the hash-duration metric, not a clock.
func TestUnusableStoredHashCostsOneVerify(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "broken@example.com")
	for name, stored := range map[string]string{
		"empty":         "",
		"not PHC":       "plaintext-or-bcrypt",
		"bad base64":    "$argon2id$v=19$m=256,t=1,p=1$!!!$!!!",
		"unsafe params": "$argon2id$v=19$m=4000000,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.Pool.Exec(context.Background(), `UPDATE users SET password_hash = $2 WHERE id = $1`, reg.User.ID, stored); err != nil {
				t.Fatal(err)
			}
			before := hashOps(t, f.reg)
			r := f.do(t, "POST", "/auth/login", map[string]string{"email": "broken@example.com", "password": goodPassword})
			wantError(t, r, http.StatusUnauthorized, api.CodeInvalidCreds)
			if got := hashOps(t, f.reg) - before; got != 1 {
				t.Errorf("login against a %s stored hash ran %v verifications, want 1 (as for any other account)", name, got)
			}
		})
	}
}

// TestDeletedUserTokenIsRefused: an access token of a deleted user still
// listed sessions (200, empty) until it expired. Every route that reads
// the user answers 401 once the user is gone.
func TestDeletedUserTokenIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "gone@example.com")
	a, err := f.Tokens.Verify(reg.AccessToken, token.TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Pool.Exec(context.Background(), `DELETE FROM users WHERE id = $1`, reg.User.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/auth/me"},
		{"GET", "/auth/sessions"},
		{"DELETE", "/auth/sessions/" + f.session(t, reg.AccessToken).String()},
		{"POST", "/auth/logout/all"},
		{"POST", "/auth/logout"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			// A fresh token each time: a logout denies the one it is given.
			access, err := f.Tokens.Sign(token.Spec{Type: token.TypeAccess, UserID: a.UserID, SessionID: a.SessionID,
				ID: uuid.New(), IssuedAt: time.Now(), TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, f.do(t, tc.method, tc.path, nil, "Authorization", "Bearer "+access), http.StatusUnauthorized, api.CodeUnauthorized)
		})
	}
}

// TestDeviceTokenPassesAccountLimit: an attacker sending wrong passwords
// kept the per-account limit exhausted and so locked the owner out. A
// login from a device that has signed in before (it presents the
// deviceToken of that login as X-Device-Token) is limited per device
// instead of per account (OWASP "device cookies"). A device token of
// another account, or garbage, changes nothing.
func TestDeviceTokenPassesAccountLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{TrustedProxies: []string{"127.0.0.1/32"}}, func(o *accounttest.Options) { o.Limits = limits(100, 3, 100, 100) })
	f.register(t, "owner@example.com")
	f.register(t, "other@example.com")
	login := func(email, pw, device, ip string) response {
		return f.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": pw}, "X-Device-Token", device, "X-Forwarded-For", ip)
	}
	var owner, other struct {
		DeviceToken string `json:"deviceToken"`
	}
	r := login("owner@example.com", goodPassword, "", "198.51.100.1")
	if r.status != 200 {
		t.Fatalf("owner login: %d %s", r.status, r.body)
	}
	r.json(t, &owner)
	login("other@example.com", goodPassword, "", "198.51.100.2").json(t, &other)
	if owner.DeviceToken == "" || other.DeviceToken == "" {
		t.Fatalf("successful logins returned no deviceToken: %q %q", owner.DeviceToken, other.DeviceToken)
	}
	// The attacker exhausts the account's bucket (3 per minute) from
	// addresses of their own.
	for i := range 3 {
		login("owner@example.com", "wrong password!", "", fmt.Sprintf("203.0.113.%d", i+1))
	}
	wantError(t, login("owner@example.com", goodPassword, "", "198.51.100.1"), http.StatusTooManyRequests, api.CodeRateLimited)
	wantError(t, login("owner@example.com", goodPassword, other.DeviceToken, "198.51.100.1"), http.StatusTooManyRequests, api.CodeRateLimited)
	wantError(t, login("owner@example.com", goodPassword, "garbage", "198.51.100.1"), http.StatusTooManyRequests, api.CodeRateLimited)
	r = login("owner@example.com", goodPassword, owner.DeviceToken, "198.51.100.1")
	if r.status != 200 {
		t.Fatalf("owner's login from a known device while the account is limited: %d %s", r.status, r.body)
	}
	// The device has its own bucket (3 per minute): one success so far,
	// two wrong passwords, then it is limited too.
	for range 2 {
		wantError(t, login("owner@example.com", "wrong password!", owner.DeviceToken, "198.51.100.1"), http.StatusUnauthorized, api.CodeInvalidCreds)
	}
	wantError(t, login("owner@example.com", goodPassword, owner.DeviceToken, "198.51.100.1"), http.StatusTooManyRequests, api.CodeRateLimited)
}
