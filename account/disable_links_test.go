package account_test

import (
	"context"
	"testing"

	"github.com/authevents/authevents"
)

// Found in review: a disabled account's links outlived the disable: an email change asked
// for before (e.g. by whoever had the password, the reason to disable)
// moves the disabled account to the new address, and a reset link is
// issued to, and sets the password of, a disabled account.
func TestLinksDieWithADisable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, false)
	res := l.register(t, "disabled@example.com")
	v := l.authenticate(t, res.AccessToken)
	if err := l.Service.ChangeEmail(ctx, v, "attacker@example.com", goodPassword, client); err != nil {
		t.Fatal(err)
	}
	change := l.link(t, authevents.EventEmailChangeRequested)
	if _, err := l.Service.DisableUser(ctx, res.User.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := l.Service.ForgotPassword(ctx, "disabled@example.com", client); err != nil {
		t.Fatal(err)
	}
	resets := l.count(t, `SELECT count(*) FROM one_time_tokens WHERE user_id = $1 AND purpose = 'reset_password'`, res.User.ID)
	err := l.Service.VerifyEmail(ctx, change)
	moved := l.count(t, `SELECT count(*) FROM users WHERE id = $1 AND email = 'attacker@example.com'`, res.User.ID)
	if err == nil || moved != 0 || resets != 0 {
		t.Fatalf("disabled account: change link confirmed = %v (moved %d), reset links issued after the disable = %d", err == nil, moved, resets)
	}
}
