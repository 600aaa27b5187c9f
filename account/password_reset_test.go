package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/outbox/outboxtest"
)

const newPassword = "a brand new passphrase for ada"

// TestPasswordReset: a reset link for a known address sets the new
// password, ends every session (refresh and access tokens alike), ends
// the other reset links, and appends user.password_changed {reason:
// "reset"} with one user.logged_out per session, in one transaction. An
// unknown address gets the same answer and no event.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, false)
	reg := l.register(t, "reset@example.com")
	second := l.login(t, "reset@example.com")

	if err := l.Service.ForgotPassword(ctx, "nobody@example.com", client); err != nil {
		t.Fatalf("forgot, unknown address: %v, want nil", err)
	}
	outboxtest.RequireCount(t, l.Pool, authevents.EventPasswordResetRequested, 0)
	if err := l.Service.ForgotPassword(ctx, " RESET@example.com", client); err != nil {
		t.Fatal(err)
	}
	older := l.link(t, authevents.EventPasswordResetRequested)
	if err := l.Service.ForgotPassword(ctx, "reset@example.com", client); err != nil {
		t.Fatal(err)
	}
	raw := l.link(t, authevents.EventPasswordResetRequested)
	wantErr(t, l.Service.ResetPassword(ctx, older, newPassword, client), authevents.ErrInvalidLinkToken)

	// A refused password leaves the link usable.
	wantFields(t, l.Service.ResetPassword(ctx, raw, "reset@example.com", client), "newPassword")
	wantFields(t, l.Service.ResetPassword(ctx, raw, "short", client), "newPassword")

	if err := l.Service.ResetPassword(ctx, raw, newPassword, client); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.Service.ResetPassword(ctx, raw, newPassword+"!", client), authevents.ErrInvalidLinkToken)

	for _, r := range []*account.Result{reg, second} {
		if l.works(t, r.AccessToken) {
			t.Error("an access token from before the reset still works")
		}
		_, err := l.refresh(r.RefreshToken)
		wantErr(t, err, authevents.ErrInvalidRefreshToken)
	}
	_, err := l.Service.Login(ctx, account.LoginInput{Email: "reset@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrInvalidCredentials)
	_, err = l.Service.Login(ctx, account.LoginInput{Email: "reset@example.com", Password: newPassword, Client: client})
	if err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	id := reg.User.ID.String()
	if got, want := l.events(t, authevents.EventPasswordChanged, id), []map[string]any{{"userId": id, "email": "reset@example.com",
		"reason": "reset", "sessionsEnded": float64(2), "ip": client.IP, "userAgent": client.UserAgent}}; !cmp.Equal(got, want) {
		t.Fatalf("user.password_changed = %v, want %v", got, want)
	}
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserLoggedOut, 2)
	if n := l.count(t, `SELECT count(*) FROM users WHERE id = $1 AND email_verified_at IS NOT NULL`, reg.User.ID); n != 1 {
		t.Error("a used reset link does not count as proof of the address")
	}
	l.noSecrets(t, raw, older, newPassword)
}

// TestForgotPasswordLimitsTellNothing: the limits per address and per IP
// refuse an unknown address exactly as a known one.
func TestForgotPasswordLimitsTellNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := func(n int) ratelimit.Limit { return ratelimit.Limit{Rate: n, Burst: n, Period: time.Minute} }
	l := setupLifecycle(t, false, func(o *accounttest.Options) {
		o.Limits = map[string]ratelimit.Limit{account.LimitRegisterIP: lim(100), account.LimitResetIP: lim(100), account.LimitResetEmail: lim(2),
			account.LimitLoginIP: lim(100), account.LimitLoginAccount: lim(100)}
	})
	l.register(t, "known@example.com")
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		for i := range 2 {
			if err := l.Service.ForgotPassword(ctx, email, client); err != nil {
				t.Fatalf("%s, request %d: %v", email, i+1, err)
			}
		}
		wantLimited(t, l.Service.ForgotPassword(ctx, email, client))
	}
	outboxtest.RequireCount(t, l.Pool, authevents.EventPasswordResetRequested, 2)
}

// TestEnumerationFloor: with a floor, the answers for a known and an
// unknown address both take at least the floor.
func TestEnumerationFloor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const floor = 150 * time.Millisecond
	l := setupLifecycle(t, true, func(o *accounttest.Options) { o.Config.EnumerationFloor = floor })
	l.register(t, "floor@example.com")
	for _, email := range []string{"floor@example.com", "other@example.com"} {
		start := time.Now()
		if err := l.Service.ForgotPassword(ctx, email, client); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < floor {
			t.Errorf("forgot %s answered after %s, under the %s floor", email, d, floor)
		}
		start = time.Now()
		if _, err := l.Service.Register(ctx, account.RegisterInput{Email: email, Password: goodPassword, Name: "X", Client: client}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < floor {
			t.Errorf("register %s answered after %s, under the %s floor", email, d, floor)
		}
	}
}

// TestNoSealKeyIsUnavailableForEveryAddress: without a key to seal links
// to, the requests that would mail one answer 503 for known and unknown
// addresses alike.
func TestNoSealKeyIsUnavailableForEveryAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	res := f.register(t, "nokey@example.com")
	v := f.authenticate(t, res.AccessToken)
	for _, email := range []string{"nokey@example.com", "nobody@example.com"} {
		wantErr(t, f.Service.ForgotPassword(ctx, email, client), authevents.ErrUnavailable)
		wantErr(t, f.Service.ResendVerification(ctx, email, client), authevents.ErrUnavailable)
	}
	wantErr(t, f.Service.ChangeEmail(ctx, v, "new@example.com", goodPassword, client), authevents.ErrUnavailable)
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
}
