package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
)

// TestRegisterRequiredAnswersAlikeForNewAndTakenAddresses: under
// EMAIL_VERIFICATION=required a new and a taken address get the same
// result and no error; the new one gets an unverified account and a
// link, the taken one's owner a notice, and no session exists.
func TestRegisterRequiredAnswersAlikeForNewAndTakenAddresses(t *testing.T) {
	t.Parallel()
	l := setupLifecycle(t, true)
	ctx := context.Background()
	in := account.RegisterInput{Email: "new@example.com", Password: goodPassword, Name: "Ada", Client: client}
	first, err := l.Service.Register(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Name = "Mallory"
	again, err := l.Service.Register(ctx, in)
	if err != nil {
		t.Fatalf("registering a taken address: %v, want the same answer as a new one", err)
	}
	if want := (&account.Result{VerificationPending: true}); !cmp.Equal(first, want) || !cmp.Equal(again, want) {
		t.Fatalf("results %+v and %+v, want both %+v", first, again, want)
	}
	if n := l.count(t, `SELECT count(*) FROM sessions`); n != 0 {
		t.Fatalf("%d sessions, want none before verification", n)
	}
	if n := l.count(t, `SELECT count(*) FROM users WHERE email = 'new@example.com' AND name = 'Ada' AND email_verified_at IS NULL`); n != 1 {
		t.Fatal("the new account is not stored unverified, or the second registration changed it")
	}
	outboxtest.RequireTypes(t, l.Pool, authevents.EventUserRegistered, authevents.EventEmailVerificationRequested, authevents.EventRegistrationAttempted)
	raw := l.link(t, authevents.EventEmailVerificationRequested)
	l.noSecrets(t, raw, goodPassword)
	// The second registration ended the first one's link (a
	// pre-registration's, for all the service can tell): see below.
	if n := l.count(t, `SELECT count(*) FROM one_time_tokens WHERE purpose = 'verify_email' AND email = 'new@example.com'`); n != 0 {
		t.Fatalf("%d stored verification tokens, want 0", n)
	}
}

// TestLoginWaitsForVerification: before verification the right password
// gets ErrEmailNotVerified and a wrong one the usual ErrInvalidCredentials;
// after it, login works.
func TestLoginWaitsForVerification(t *testing.T) {
	t.Parallel()
	l := setupLifecycle(t, true)
	ctx := context.Background()
	l.register(t, "wait@example.com")
	_, err := l.Service.Login(ctx, account.LoginInput{Email: "wait@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrEmailNotVerified)
	_, err = l.Service.Login(ctx, account.LoginInput{Email: "wait@example.com", Password: "wrong " + goodPassword, Client: client})
	wantErr(t, err, authevents.ErrInvalidCredentials)
	if err := l.Service.VerifyEmail(ctx, l.link(t, authevents.EventEmailVerificationRequested)); err != nil {
		t.Fatal(err)
	}
	l.login(t, "wait@example.com")
	var id string
	if err := l.Pool.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'wait@example.com'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	got := l.events(t, authevents.EventEmailVerified, id)
	if want := []map[string]any{{"userId": id, "email": "wait@example.com"}}; !cmp.Equal(got, want) {
		t.Fatalf("user.email_verified = %v, want %v", got, want)
	}
}

// TestRefusedVerificationLinks: a used, superseded, expired, made-up or
// malformed token gets ErrInvalidLinkToken, and nothing changes.
func TestRefusedVerificationLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, true)
	l.register(t, "links@example.com")
	superseded := l.link(t, authevents.EventEmailVerificationRequested)
	if err := l.Service.ResendVerification(ctx, "links@example.com", client); err != nil {
		t.Fatal(err)
	}
	current := l.link(t, authevents.EventEmailVerificationRequested)
	made, _ := token.NewOneTime()
	before := len(outboxtest.Pending(t, l.Pool))
	for name, raw := range map[string]string{"superseded": superseded, "made up": made, "malformed": current + "x", "empty": "", "refresh-like": "rt_" + current[3:]} {
		wantErrNamed(t, name, l.Service.VerifyEmail(ctx, raw), authevents.ErrInvalidLinkToken)
	}
	if n := l.count(t, `SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL`); n != 0 || len(outboxtest.Pending(t, l.Pool)) != before {
		t.Fatal("a refused link changed something")
	}
	if err := l.Service.VerifyEmail(ctx, current); err != nil {
		t.Fatal(err)
	}
	wantErrNamed(t, "used", l.Service.VerifyEmail(ctx, current), authevents.ErrInvalidLinkToken)
	outboxtest.RequireCount(t, l.Pool, authevents.EventEmailVerified, 1)

	expiring := setupLifecycle(t, true, func(o *accounttest.Options) { o.Config.VerificationTTL = time.Millisecond })
	expiring.register(t, "late@example.com")
	raw := expiring.link(t, authevents.EventEmailVerificationRequested)
	time.Sleep(5 * time.Millisecond) // the link's whole lifetime
	wantErrNamed(t, "expired", expiring.Service.VerifyEmail(ctx, raw), authevents.ErrInvalidLinkToken)
}

// TestResendVerificationTellsNothing: unknown, verified and rate-limited
// addresses answer as an unverified one does; only the last gets a link.
func TestResendVerificationTellsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, true, func(o *accounttest.Options) {
		o.Limits = map[string]ratelimit.Limit{account.LimitRegisterIP: {Rate: 100, Burst: 100, Period: time.Minute}, account.LimitVerifyIP: {Rate: 100, Burst: 100, Period: time.Minute}, account.LimitVerifyEmail: {Rate: 2, Burst: 2, Period: time.Minute}}
	})
	l.register(t, "unverified@example.com")
	l.registerVerified(t, "verified@example.com")
	sent := func() int { return len(outboxtest.Events(t, l.Pool, authevents.EventEmailVerificationRequested)) }
	base := sent()
	for _, email := range []string{"nobody@example.com", "verified@example.com"} {
		if err := l.Service.ResendVerification(ctx, email, client); err != nil {
			t.Fatalf("resend to %s: %v, want nil", email, err)
		}
	}
	if sent() != base {
		t.Fatal("a link went to an unknown or verified address")
	}
	for range 4 { // 2 allowed per minute and address, then dropped silently
		if err := l.Service.ResendVerification(ctx, "unverified@example.com", client); err != nil {
			t.Fatalf("resend: %v, want nil even over the limit", err)
		}
	}
	if got := sent() - base; got != 2 {
		t.Fatalf("%d links sent for 4 resends with a limit of 2, want 2", got)
	}
	wantFields(t, l.Service.ResendVerification(ctx, "not an address", client), "email")
}

func wantErrNamed(t *testing.T, name string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", name, err, target)
	}
}

// TestRegistrationByTheOwnerEndsAPreRegistrationsLinks: someone registers
// another person's address first (an account pre-hijack): the owner gets
// the verification mail of an account whose password the other person
// chose. Once the owner registers the address themselves, that older link
// is dead, so a later click cannot hand the other person a verified
// account; the owner is offered a reset instead (registration_attempted).
func TestRegistrationByTheOwnerEndsAPreRegistrationsLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, true)
	l.register(t, "owner@example.com") // by someone else, with their password
	early := l.link(t, authevents.EventEmailVerificationRequested)
	if _, err := l.Service.Register(ctx, account.RegisterInput{Email: "owner@example.com", Password: newPassword, Name: "Owner", Client: client}); err != nil {
		t.Fatal(err)
	}
	outboxtest.RequireCount(t, l.Pool, authevents.EventRegistrationAttempted, 1)
	wantErr(t, l.Service.VerifyEmail(ctx, early), authevents.ErrInvalidLinkToken)
	if n := l.count(t, `SELECT count(*) FROM users WHERE email = 'owner@example.com' AND email_verified_at IS NOT NULL`); n != 0 {
		t.Error("the pre-registered account got verified")
	}
	// Nor can a fresh link hand it over: the owner asks for one and
	// follows it; the password the other person chose no longer works,
	// and the owner's own comes from the reset the mail offers.
	if err := l.Service.ResendVerification(ctx, "owner@example.com", client); err != nil {
		t.Fatal(err)
	}
	if err := l.Service.VerifyEmail(ctx, l.link(t, authevents.EventEmailVerificationRequested)); err != nil {
		t.Fatal(err)
	}
	_, err := l.Service.Login(ctx, account.LoginInput{Email: "owner@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrInvalidCredentials)
	if err := l.Service.ForgotPassword(ctx, "owner@example.com", client); err != nil {
		t.Fatal(err)
	}
	if err := l.Service.ResetPassword(ctx, l.link(t, authevents.EventPasswordResetRequested), newPassword, client); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Service.Login(ctx, account.LoginInput{Email: "owner@example.com", Password: newPassword, Client: client}); err != nil {
		t.Errorf("the owner's password after the reset: %v", err)
	}
}
