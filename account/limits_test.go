package account_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox/outboxtest"
)

func limits(loginIP, loginAccount, register, refresh int) func(*accounttest.Options) {
	l := func(n int) ratelimit.Limit { return ratelimit.Limit{Rate: n, Burst: n, Period: time.Minute} }
	return func(o *accounttest.Options) {
		o.Limits = map[string]ratelimit.Limit{
			account.LimitLoginIP: l(loginIP), account.LimitLoginAccount: l(loginAccount),
			account.LimitRegisterIP: l(register), account.LimitRefreshSession: l(refresh),
			account.LimitLoginDevice: l(loginAccount),
		}
	}
}

func from(ip string) authevents.Client { return authevents.Client{IP: ip, UserAgent: client.UserAgent} }

// loginErr attempts a login and returns its error.
func (f *fixture) loginErr(email, password, ip, device string) error {
	_, err := f.Service.Login(context.Background(), account.LoginInput{Email: email, Password: password, Client: from(ip), DeviceToken: device})
	return err
}

// TestRateLimitsAcrossReplicas: two services (API replicas) share one
// Redis; the per-account limit is global across them and across client
// addresses, over the limit even the right password is refused with the
// same *RateLimitedError for known and unknown accounts, and one
// user.login_failed with reason rate_limited is appended per window, not
// one per refused attempt.
func TestRateLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := setup(t, limits(100, 3, 100, 100))
	b := setup(t, limits(100, 3, 100, 100), func(o *accounttest.Options) { o.Share = a.Env })
	known := a.register(t, "limited@example.com")
	for i, f := range []*fixture{a, b, a} {
		wantErr(t, f.loginErr("limited@example.com", "wrong password!", fmt.Sprintf("203.0.113.%d", i), ""), authevents.ErrInvalidCredentials)
	}
	over := wantLimited(t, b.loginErr("limited@example.com", goodPassword, "198.51.100.7", ""))
	if over.Limit != account.LimitLoginAccount || over.RetryAfter > time.Minute {
		t.Errorf("limited by %s for %s, want %s for at most a minute", over.Limit, over.RetryAfter, account.LimitLoginAccount)
	}
	for _, f := range []*fixture{a, b, a, b} {
		wantLimited(t, f.loginErr("limited@example.com", goodPassword, "127.0.0.1", ""))
	}
	var limited []map[string]any
	for _, d := range a.events(t, authevents.EventUserLoginFailed, known.User.ID.String()) {
		if d["reason"] == authevents.ReasonRateLimited {
			limited = append(limited, d)
		}
	}
	want := []map[string]any{{"email": "limited@example.com", "userId": known.User.ID.String(), "ip": "198.51.100.7",
		"userAgent": "authevents-test/1.0", "reason": "rate_limited"}}
	if !cmp.Equal(limited, want) {
		t.Fatalf("rate_limited login_failed events = %v, want exactly %v (one per window)", limited, want)
	}
	if n := a.count(t, `SELECT count(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions: a limited login opened one", n)
	}

	// Unknown account: the same limit, the same error.
	for range 3 {
		a.loginErr("ghost@example.com", "wrong password!", "127.0.0.1", "")
	}
	ghost := wantLimited(t, b.loginErr("ghost@example.com", "wrong password!", "127.0.0.1", ""))
	if ghost.Limit != over.Limit {
		t.Errorf("unknown account limited by %s, known one by %s: the error tells them apart", ghost.Limit, over.Limit)
	}
}

// TestRateLimitsPerIPAndRefresh: registrations and logins are limited per
// client address across accounts; refreshes per session, and a limited
// refresh rotates nothing; the limits are separate buckets.
func TestRateLimitsPerIPAndRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t, limits(2, 100, 2, 2))
	f.register(t, "ip1@example.com")
	f.register(t, "ip2@example.com")
	_, err := f.Service.Register(context.Background(), account.RegisterInput{Email: "ip3@example.com", Password: goodPassword, Name: "x", Client: client})
	if rl := wantLimited(t, err); rl.Limit != account.LimitRegisterIP {
		t.Errorf("limited by %s, want %s", rl.Limit, account.LimitRegisterIP)
	}
	if n := f.count(t, `SELECT count(*) FROM users`); n != 2 {
		t.Errorf("%d users: a limited registration wrote one", n)
	}
	// A registration from another address is not limited.
	if _, err := f.Service.Register(context.Background(), account.RegisterInput{Email: "ip3@example.com", Password: goodPassword, Name: "x", Client: from("10.9.8.7")}); err != nil {
		t.Fatalf("registration from another address: %v", err)
	}
	// Login per IP counts across accounts.
	f.login(t, "ip1@example.com")
	f.login(t, "ip2@example.com")
	if rl := wantLimited(t, f.loginErr("ip1@example.com", goodPassword, client.IP, "")); rl.Limit != account.LimitLoginIP {
		t.Errorf("limited by %s, want %s", rl.Limit, account.LimitLoginIP)
	}

	g := setup(t, limits(100, 100, 100, 2))
	reg := g.register(t, "refresh@example.com")
	t1 := g.mustRefresh(t, reg.RefreshToken)
	t2 := g.mustRefresh(t, t1.RefreshToken)
	_, err = g.refresh(t2.RefreshToken)
	if rl := wantLimited(t, err); rl.Limit != account.LimitRefreshSession {
		t.Errorf("limited by %s, want %s", rl.Limit, account.LimitRefreshSession)
	}
	if row := g.sessionRow(t, reg.Session.ID); row.generation != 3 || row.revoked {
		t.Fatalf("session after a limited refresh = %+v", row)
	}
	outboxtest.RequireCount(t, g.Pool, authevents.EventUserTokenRefreshed, 2)
	// Another session of the user has its own refresh bucket, and login
	// is limited separately.
	other := g.login(t, "refresh@example.com")
	g.mustRefresh(t, other.RefreshToken)
}

// TestLoginLimitKeysIPv6OnItsPrefix: the per-IP key was the full address,
// so twelve addresses of one IPv6 /64 (what one host usually gets) were
// twelve fresh buckets. IPv6 clients now share a bucket per /64; IPv4 and
// IPv4-mapped IPv6 addresses keep one bucket per address.
func TestLoginLimitKeysIPv6OnItsPrefix(t *testing.T) {
	t.Parallel()
	f := setup(t, limits(5, 100, 100, 100))
	f.register(t, "v6@example.com")
	var got []string
	for i := range 12 {
		err := f.loginErr("v6@example.com", "wrong password!", fmt.Sprintf("2001:db8:1:2:%x::%x", i*7, i+1), "")
		var rl *authevents.RateLimitedError
		switch {
		case errors.Is(err, authevents.ErrInvalidCredentials):
			got = append(got, "refused")
		case errors.As(err, &rl):
			got = append(got, "limited")
		default:
			t.Fatalf("login %d: %v", i, err)
		}
	}
	want := []string{"refused", "refused", "refused", "refused", "refused", "limited", "limited", "limited", "limited", "limited", "limited", "limited"}
	if !cmp.Equal(got, want) {
		t.Fatalf("12 failed logins from one /64 = %v, want %v", got, want)
	}
	if err := f.loginErr("v6@example.com", goodPassword, "2001:db8:1:3::1", ""); err != nil {
		t.Fatalf("login from another /64: %v", err)
	}
	// ::ffff:198.51.100.7 and 198.51.100.7 share a bucket, 198.51.100.8 is another.
	for range 3 {
		f.loginErr("v6@example.com", "wrong password!", "::ffff:198.51.100.7", "")
	}
	for range 2 {
		f.loginErr("v6@example.com", "wrong password!", "198.51.100.7", "")
	}
	wantLimited(t, f.loginErr("v6@example.com", goodPassword, "198.51.100.7", ""))
	if err := f.loginErr("v6@example.com", goodPassword, "198.51.100.8", ""); err != nil {
		t.Fatalf("login from the neighbouring IPv4 address: %v", err)
	}
}

// TestDeviceTokenPassesAccountLimit: an attacker sending wrong passwords
// kept the per-account limit exhausted and so locked the owner out. A
// login presenting the device token of an earlier successful login of
// that account is limited per device instead (OWASP "device cookies"). A
// device token of another account, or garbage, changes nothing.
func TestDeviceTokenPassesAccountLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, limits(100, 3, 100, 100))
	f.register(t, "owner@example.com")
	f.register(t, "other@example.com")
	owner := f.login(t, "owner@example.com", from("198.51.100.1")).DeviceToken
	other := f.login(t, "other@example.com", from("198.51.100.2")).DeviceToken
	if owner == "" || other == "" {
		t.Fatalf("successful logins returned no device token: %q %q", owner, other)
	}
	// The attacker exhausts the account's bucket (3 per minute; one
	// success already spent) from addresses of their own.
	for i := range 2 {
		f.loginErr("owner@example.com", "wrong password!", fmt.Sprintf("203.0.113.%d", i+1), "")
	}
	for name, device := range map[string]string{"none": "", "another account's": other, "garbage": "garbage"} {
		if rl := wantLimited(t, f.loginErr("owner@example.com", goodPassword, "198.51.100.1", device)); rl.Limit != account.LimitLoginAccount {
			t.Errorf("device token %s: limited by %s, want %s", name, rl.Limit, account.LimitLoginAccount)
		}
	}
	res, err := f.Service.Login(context.Background(), account.LoginInput{Email: "owner@example.com", Password: goodPassword, Client: from("198.51.100.1"), DeviceToken: owner})
	if err != nil {
		t.Fatalf("owner's login from a known device while the account is limited: %v", err)
	}
	if res.DeviceToken == "" {
		t.Error("no device token returned")
	}
	// The device has its own bucket (3 per minute): one success so far,
	// two wrong passwords, then it is limited too.
	for range 2 {
		wantErr(t, f.loginErr("owner@example.com", "wrong password!", "198.51.100.1", owner), authevents.ErrInvalidCredentials)
	}
	if rl := wantLimited(t, f.loginErr("owner@example.com", goodPassword, "198.51.100.1", owner)); rl.Limit != account.LimitLoginDevice {
		t.Errorf("limited by %s, want %s", rl.Limit, account.LimitLoginDevice)
	}
}

// TestHashQueueIsBounded: the password-hash queue was unbounded. With one
// hashing slot held and the queue full (depth 2), further registrations
// fail at once with ErrUnavailable, while the slot is still held, and
// write nothing; the queued ones complete when the slot frees.
func TestHashQueueIsBounded(t *testing.T) {
	t.Parallel()
	const depth = 2
	holding := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	f := setup(t, func(o *accounttest.Options) {
		o.HashConcurrency, o.HashQueueDepth = 1, depth
		// The observer runs inside the hashing slot: the first hash holds
		// the slot until the test releases it.
		o.ObserveOp = func(string, time.Duration) { once.Do(func() { close(holding); <-release }) }
	})
	register := func(i int) error {
		_, err := f.Service.Register(context.Background(), account.RegisterInput{
			Email: fmt.Sprintf("flood%d@example.com", i), Password: goodPassword, Name: "F", Client: client})
		return err
	}
	results := make(chan error, 1+depth)
	go func() { results <- register(0) }()
	<-holding
	for i := range depth {
		go func() { results <- register(1 + i) }()
	}
	testenv.WaitFor(t, "the queue to fill", 10*time.Second, func() bool { return f.Hasher.Queued() == depth })
	// The slot is still held: a refused registration must return now,
	// not after the slot frees (a bound, not a sleep: the old code
	// queued them).
	refused := make(chan error, 5)
	for i := range 5 {
		go func() { refused <- register(10 + i) }()
	}
	for range 5 {
		select {
		case err := <-refused:
			wantErr(t, err, authevents.ErrUnavailable)
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("a registration past the queue depth waited for the held slot instead of being refused")
		}
	}
	close(release)
	for range 1 + depth {
		if err := <-results; err != nil {
			t.Errorf("queued registration: %v", err)
		}
	}
	if users := f.count(t, `SELECT count(*) FROM users`); users != 1+depth {
		t.Errorf("users=%d, want %d: the refused registrations must write nothing", users, 1+depth)
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventUserRegistered, 1+depth)
}
