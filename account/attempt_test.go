package account_test

import (
	"context"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
)

// TestLoginAfterRegistrationTellsNotWhetherTheAddressWasTaken: under
// EMAIL_VERIFICATION=required, registering an address and then logging in
// with the password just chosen must answer alike whether the address was
// free (an unverified account: 403 email_not_verified) or had an account
// (whose password the caller does not know). Before, the taken address
// answered 401, and register-then-login told which addresses are
// customers. The newer registration's password is the one that answers,
// as for a free address registered twice; a wrong one gets 401 on both.
func TestLoginAfterRegistrationTellsNotWhetherTheAddressWasTaken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, true)
	l.registerVerified(t, "owned@example.com")
	const first, second = "the prober's first passphrase", "the prober's second passphrase"
	login := func(email, pw string) error {
		_, err := l.Service.Login(ctx, account.LoginInput{Email: email, Password: pw, Client: client})
		return err
	}
	register := func(email, pw string) {
		t.Helper()
		if _, err := l.Service.Register(ctx, account.RegisterInput{Email: email, Password: pw, Name: "Prober", Client: client}); err != nil {
			t.Fatalf("register %s: %v", email, err)
		}
	}
	for _, email := range []string{"owned@example.com", "free@example.com"} {
		register(email, first)
		wantErrNamed(t, email+", the password just registered", login(email, first), authevents.ErrEmailNotVerified)
		wantErrNamed(t, email+", a wrong password", login(email, "not "+first), authevents.ErrInvalidCredentials)
		register(email, second)
		wantErrNamed(t, email+", the newer registration's password", login(email, second), authevents.ErrEmailNotVerified)
		wantErrNamed(t, email+", the older registration's password", login(email, first), authevents.ErrInvalidCredentials)
	}
	// The owner is not disturbed, and the prober's password gives no
	// session anywhere.
	l.login(t, "owned@example.com")
	if n := l.count(t, `SELECT count(*) FROM sessions`); n != 1 {
		t.Fatalf("%d sessions, want the owner's one", n)
	}
}
