package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/token"
)

// TestDomainErrorsMapToOneStatusEach is the error table as a client sees
// it: every domain error the use cases return, its status, code and
// headers, and that a cause never leaks into the body.
func TestDomainErrorsMapToOneStatusEach(t *testing.T) {
	t.Parallel()
	secret := "pq: connection to 10.0.0.7 refused (password=hunter2)"
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		fields     map[string]string
	}{
		{"email taken", authevents.ErrEmailTaken, 409, api.CodeEmailTaken, "", nil}, // sent to register
		{"not found", authevents.ErrNotFound, 404, api.CodeNotFound, "", nil},       // sent to DELETE /auth/sessions/{id}
		{"bad credentials", authevents.ErrInvalidCredentials, 401, api.CodeInvalidCreds, "", nil},
		{"account disabled", authevents.ErrAccountDisabled, 403, api.CodeAccountDisabled, "", nil},     // sent to login
		{"bad refresh token", authevents.ErrInvalidRefreshToken, 401, api.CodeInvalidRefresh, "", nil}, // sent to refresh
		{"dependency down", fmt.Errorf("deny: %w: %s", authevents.ErrUnavailable, secret), 503, api.CodeUnavailable, "1", nil},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, api.CodeUnavailable, "1", nil},
		{"rate limited", &authevents.RateLimitedError{Limit: "login_ip", RetryAfter: 1500 * time.Millisecond}, 429, api.CodeRateLimited, "2", nil},
		{"rate limited for less than a second", &authevents.RateLimitedError{Limit: "login_ip", RetryAfter: 0}, 429, api.CodeRateLimited, "1", nil},
		{"validation", &authevents.ValidationError{Fields: map[string]string{"email": "is required", "password": "is required"}},
			400, api.CodeValidation, "", map[string]string{"email": "is required", "password": "is required"}},
		{"unknown", errors.New(secret), 500, api.CodeInternal, "", map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, api.Config{})
			// Each error goes through a route that can return it
			// (the contract documents each route's statuses).
			tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return nil, tc.err }
			tr.fake.register = func(context.Context, account.RegisterInput) (*account.Result, error) { return nil, tc.err }
			tr.fake.endSession = func(context.Context, *token.Verified, uuid.UUID) error { return tc.err }
			tr.fake.refresh = func(context.Context, string, authevents.Client) (*account.Result, error) { return nil, tc.err }
			var r reply
			switch tc.err {
			case authevents.ErrEmailTaken:
				r = tr.call(t, "POST", "/auth/register", `{"email":"a@example.com","password":"a fine password","name":"A"}`)
			case authevents.ErrInvalidRefreshToken:
				r = tr.call(t, "POST", "/auth/refresh", `{"refreshToken":"rt_x"}`)
			case authevents.ErrNotFound:
				r = tr.call(t, "DELETE", "/auth/sessions/"+fakeSession.String(), "", "Authorization", "Bearer "+goodAccess)
			default:
				r = tr.call(t, "POST", "/auth/login", loginBody)
			}
			wantErr(t, r, tc.status, tc.code, tc.fields)
			if got := r.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			if got := r.header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate %q on a %s answer; only a refused access token carries it", got, tc.name)
			}
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "10.0.0.7") {
				t.Errorf("the cause leaked to the client: %s", r.body)
			}
			if strings.Contains(tc.err.Error(), secret) && !strings.Contains(tr.logs.String(), secret) {
				// The cause of a 5xx is logged for operators (the
				// request logger); the client only sees the code.
				t.Errorf("the cause of the %d was not logged: %s", tc.status, tr.logs.String())
			}
		})
	}
}
