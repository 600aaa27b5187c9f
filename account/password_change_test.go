package account_test

import (
	"context"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestChangePassword: a wrong current password is ErrInvalidCredentials
// and a user.login_failed, and changes nothing; the right one replaces
// the password, ends every other session and keeps the caller's.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, false)
	here := l.register(t, "change@example.com")
	elsewhere := l.login(t, "change@example.com")
	v := l.authenticate(t, here.AccessToken)

	wantErr(t, l.Service.ChangePassword(ctx, v, "wrong "+goodPassword, newPassword, client), authevents.ErrInvalidCredentials)
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserLoginFailed, 1)
	outboxtest.RequireCount(t, l.Pool, authevents.EventPasswordChanged, 0)
	wantFields(t, l.Service.ChangePassword(ctx, v, goodPassword, goodPassword, client), "newPassword")
	wantFields(t, l.Service.ChangePassword(ctx, v, "", "", client), "currentPassword", "newPassword")

	if err := l.Service.ChangePassword(ctx, v, goodPassword, newPassword, client); err != nil {
		t.Fatal(err)
	}
	if !l.works(t, here.AccessToken) {
		t.Error("the caller's own session ended")
	}
	if _, err := l.refresh(here.RefreshToken); err != nil {
		t.Errorf("the caller's refresh token: %v", err)
	}
	if l.works(t, elsewhere.AccessToken) {
		t.Error("another session's access token still works")
	}
	_, err := l.refresh(elsewhere.RefreshToken)
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
	_, err = l.Service.Login(ctx, account.LoginInput{Email: "change@example.com", Password: newPassword, Client: client})
	if err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	rows := outboxtest.RequireCount(t, l.Pool, authevents.EventPasswordChanged, 1)
	if d := rows[0].DataMap(t); d["reason"] != "change" || d["sessionsEnded"] != float64(1) {
		t.Errorf("user.password_changed = %v", d)
	}
	l.noSecrets(t, newPassword, goodPassword)
}
