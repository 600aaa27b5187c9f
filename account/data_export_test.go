package account_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/ratelimit"
)

// TestExportHoldsEverythingAndNoSecret: the export has the profile, every
// session (ended ones too), the pending links, and the security alerts and
// audit entries of the user (not another user's), and no hash or token;
// it is rate limited per user.
func TestExportHoldsEverythingAndNoSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, false, func(o *accounttest.Options) {
		o.Limits = map[string]ratelimit.Limit{
			account.LimitLoginAccount:   {Rate: 100, Burst: 100, Period: time.Minute},
			account.LimitLoginIP:        {Rate: 100, Burst: 100, Period: time.Minute},
			account.LimitRegisterIP:     {Rate: 100, Burst: 100, Period: time.Minute},
			account.LimitResetIP:        {Rate: 100, Burst: 100, Period: time.Minute},
			account.LimitResetEmail:     {Rate: 100, Burst: 100, Period: time.Minute},
			account.LimitRefreshSession: {Rate: 100, Burst: 100, Period: time.Minute},
			account.LimitExportUser:     {Rate: 2, Burst: 2, Period: time.Hour},
		}
	})
	res := l.register(t, "export@example.com")
	other := l.register(t, "someone-else@example.com")
	ended := l.login(t, "export@example.com")
	if err := l.Service.Logout(ctx, l.authenticate(t, ended.AccessToken)); err != nil {
		t.Fatal(err)
	}
	l.mustRefresh(t, res.RefreshToken) // a rotated session stores its child sealed
	if err := l.Service.ForgotPassword(ctx, "export@example.com", client); err != nil {
		t.Fatal(err)
	}
	// What the security and audit consumers wrote about both users.
	for _, u := range []*account.Result{res, other} {
		if _, err := l.Pool.Exec(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id, email, ip, details)
			VALUES (gen_random_uuid(), 'new_ip', 'medium', $1, $2, '203.0.113.9', '{"ip":"203.0.113.9"}')`, u.User.ID, u.User.Email); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, ip, user_agent, envelope)
			VALUES (gen_random_uuid(), 'user.logged_in', $1, now(), '203.0.113.9', 'curl/8', $2)`, u.User.ID, `{"data":{"email":"`+u.User.Email+`"}}`); err != nil {
			t.Fatal(err)
		}
	}

	v := l.authenticate(t, res.AccessToken)
	ex, err := l.Service.Export(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if ex.User.ID != res.User.ID || ex.User.Email != "export@example.com" {
		t.Errorf("profile = %+v", ex.User)
	}
	if len(ex.Sessions) != 2 || ex.Sessions[0].RevokedAt == nil || ex.Sessions[1].RevokedAt != nil {
		t.Errorf("sessions = %+v, want the ended one (newest) and the live one", ex.Sessions)
	}
	if len(ex.Links) != 2 || ex.Links[0].Purpose != "verify_email" || ex.Links[1].Purpose != "reset_password" {
		t.Errorf("links = %+v, want the pending verification and reset links", ex.Links)
	}
	if len(ex.Alerts) != 1 || ex.Alerts[0].Email != "export@example.com" {
		t.Errorf("alerts = %+v, want the user's one", ex.Alerts)
	}
	if len(ex.Audit) != 1 || !strings.Contains(string(ex.Audit[0].Envelope), "export@example.com") {
		t.Errorf("audit = %+v, want the user's one", ex.Audit)
	}
	if ex.User.PasswordHash != "" {
		t.Error("the export holds the password hash")
	}
	for _, s := range ex.Sessions {
		if s.RefreshChildBox != nil || s.RefreshJTI != uuid.Nil || s.PrevRefreshJTI != uuid.Nil {
			t.Error("the export holds a refresh token, sealed or hashed")
		}
	}

	if _, err := l.Service.Export(ctx, v); err != nil {
		t.Fatal(err)
	}
	_, err = l.Service.Export(ctx, v)
	wantLimited(t, err)
	// Another user has a limit of their own.
	if _, err := l.Service.Export(ctx, l.authenticate(t, other.AccessToken)); err != nil {
		t.Errorf("another user's export: %v", err)
	}
}
