package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/token"
)

// TestLeavingRoutes: DELETE /auth/account passes the password to the use
// case and answers 204 with no body; a refused password is the 401 of a
// password change; the export names every part and no secret.
func TestLeavingRoutes(t *testing.T) {
	t.Parallel()
	auth := []string{"Authorization", "Bearer " + goodAccess}
	t.Run("delete", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		var args []string
		tr.fake.lifecycle = func(name string, a ...string) error {
			args = append([]string{name}, a...)
			if a[1] != "correct horse battery staple" {
				return authevents.ErrInvalidCredentials
			}
			return nil
		}
		r := tr.call(t, "DELETE", "/auth/account", `{"password":"correct horse battery staple"}`, auth...)
		if r.status != 204 || len(r.body) != 0 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("delete: %d %q", r.status, r.body)
		}
		if want := []string{"DeleteAccount", fakeUser.String(), "correct horse battery staple", "192.0.2.1"}; !slices.Equal(args, want) {
			t.Errorf("DeleteAccount(%q), want %q", args, want)
		}
		wantErr(t, tr.call(t, "DELETE", "/auth/account", `{"password":"wrong"}`, auth...), 401, api.CodeInvalidCreds, nil)
		wantErr(t, tr.call(t, "DELETE", "/auth/account", `{"password":"x"}`), 401, api.CodeUnauthorized, nil)
		wantErr(t, tr.call(t, "DELETE", "/auth/account", `{"password":1}`, auth...), 400, api.CodeValidation, map[string]string{"password": "must be a string"})
		wantErr(t, tr.call(t, "DELETE", "/auth/account", `[]`, auth...), 400, api.CodeInvalidJSON, nil)
	})
	t.Run("export", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		at := time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC)
		tr.fake.export = func(_ context.Context, v *token.Verified) (*authevents.Export, error) {
			if v.UserID != fakeUser {
				t.Errorf("export of %s", v.UserID)
			}
			return &authevents.Export{
				User:     &authevents.User{ID: fakeUser, Email: "a@example.com", Name: "A", CreatedAt: at, PasswordHash: "$argon2id$secret", LastLoginAt: &at},
				Sessions: []authevents.Session{{ID: fakeSession, CreatedAt: at, LastUsedAt: at, ExpiresAt: at, IP: "192.0.2.1", UserAgent: "ua", RevokedAt: &at, RevokeReason: "logout"}},
				Links:    []authevents.PendingLink{{Purpose: "reset_password", Email: "a@example.com", CreatedAt: at, ExpiresAt: at}},
				Alerts:   []authevents.SecurityAlert{{EventID: uuid.New(), Rule: "new_ip", Severity: "medium", IP: "192.0.2.1", Details: json.RawMessage(`{"ip":"192.0.2.1"}`), CreatedAt: at}},
				Audit:    []authevents.AuditEntry{{EventID: uuid.New(), Type: "user.logged_in", OccurredAt: at, Envelope: json.RawMessage(`{"type":"user.logged_in"}`)}},
			}, nil
		}
		r := tr.call(t, "GET", "/auth/account/export", "", auth...)
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("export: %d %s", r.status, r.body)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"exportedAt", "profile", "sessions", "pendingLinks", "securityAlerts", "auditEntries"} {
			if len(got[k]) < 3 {
				t.Errorf("export %s = %s", k, got[k])
			}
		}
		if strings.Contains(string(r.body), "argon2id") {
			t.Errorf("the export holds the password hash: %s", r.body)
		}
		tr.fake.export = func(context.Context, *token.Verified) (*authevents.Export, error) {
			return nil, &authevents.RateLimitedError{Limit: "export_user", RetryAfter: time.Hour}
		}
		r = tr.call(t, "GET", "/auth/account/export", "", auth...)
		wantErr(t, r, 429, api.CodeRateLimited, nil)
		if r.header.Get("Retry-After") != "3600" {
			t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	})
}
