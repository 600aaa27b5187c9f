package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/password"
)

// gauge reads an unlabelled gauge from the registry.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("gauge %s not found", name)
	return 0
}

// TestInFlightGaugeSurvivesPanics: the in-flight gauge was decremented
// after c.Next() returned, so a panic that the recovery middleware passes
// on (http.ErrAbortHandler, which net/http uses to abort a response) left
// it one higher for ever. A panic of either kind leaves it at zero.
func TestInFlightGaugeSurvivesPanics(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	e := f.h.(*gin.Engine)
	e.GET("/test/panic", func(*gin.Context) { panic("boom") })
	e.GET("/test/abort", func(*gin.Context) { panic(http.ErrAbortHandler) })

	wantError(t, f.do(t, "GET", "/test/panic", nil), http.StatusInternalServerError, api.CodeInternal)
	if res, err := http.Get(f.srv.URL + "/test/abort"); err == nil {
		res.Body.Close()
		t.Fatalf("aborted handler answered %d, want the connection aborted", res.StatusCode)
	}
	testenv.WaitFor(t, "the in-flight gauge back at 0", 5*time.Second, func() bool {
		return gauge(t, f.reg, "authevents_http_requests_in_flight") == 0
	})
}

// TestRequestTimeout: a request that exceeds REQUEST_TIMEOUT (here a login
// stuck on a row lock another transaction holds) answers 503
// service_unavailable with Retry-After, and its transaction is rolled
// back: no session, no last_login_at, no event.
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	f := setup(t, api.Config{RequestTimeout: timeout})
	reg := f.register(t, "slowdb@example.com")
	ctx := context.Background()
	tx, err := f.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, reg.User.ID); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the lock goes after a generous bound so a missing
	// timeout fails the test instead of hanging it.
	release := time.AfterFunc(20*timeout, func() { tx.Rollback(ctx) })
	begin := time.Now()
	r := f.do(t, "POST", "/auth/login", map[string]string{"email": "slowdb@example.com", "password": goodPassword})
	took := time.Since(begin)
	release.Stop()
	tx.Rollback(ctx)
	wantError(t, r, http.StatusServiceUnavailable, api.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if took > 10*timeout {
		t.Errorf("login answered after %s, REQUEST_TIMEOUT is %s", took, timeout)
	}
	var sessions, logins int
	f.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM users WHERE last_login_at IS NOT NULL)`).Scan(&sessions, &logins)
	if sessions != 1 || logins != 0 || len(f.events(t, authevents.EventUserLoggedIn)) != 0 {
		t.Errorf("a timed-out login left sessions=%d (want 1, register's), last_login_at set=%d, logged_in events=%d",
			sessions, logins, len(f.events(t, authevents.EventUserLoggedIn)))
	}
	// The service is fine afterwards.
	if r := f.do(t, "POST", "/auth/login", map[string]string{"email": "slowdb@example.com", "password": goodPassword}); r.status != 200 {
		t.Fatalf("login after the lock was released: %d %s", r.status, r.body)
	}
}

// TestHashQueueIsBounded: the password-hash queue was unbounded. With one
// hashing slot held and the queue full (depth 2), further registrations
// answer 503 at once, while the slot is still held, and write nothing;
// the queued ones complete when the slot frees.
func TestHashQueueIsBounded(t *testing.T) {
	t.Parallel()
	const depth = 2
	holding := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	var hasher *password.Hasher
	f := setup(t, api.Config{}, func(o *accounttest.Options) {
		observe := o.ObserveOp
		o.HashConcurrency, o.HashQueueDepth = 1, depth
		// The observer runs inside the hashing slot: the first hash holds
		// the slot until the test releases it.
		o.ObserveOp = func(op string, d time.Duration) {
			observe(op, d)
			once.Do(func() { close(holding); <-release })
		}
	})
	hasher = f.Hasher
	body := func(i int) map[string]string {
		return map[string]string{"email": "flood" + string(rune('a'+i)) + "@example.com", "password": goodPassword, "name": "F"}
	}
	results := make(chan response, 1+depth)
	go func() { results <- f.do(t, "POST", "/auth/register", body(0)) }()
	<-holding
	for i := range depth {
		go func() { results <- f.do(t, "POST", "/auth/register", body(1+i)) }()
	}
	testenv.WaitFor(t, "the queue to fill", 10*time.Second, func() bool { return hasher.Queued() == depth })
	// The slot is still held: a refused request must answer now, not
	// after the slot frees (a bound, not a sleep: the old code queued them).
	refused := make(chan response, 5)
	for i := range 5 {
		go func() { refused <- f.do(t, "POST", "/auth/register", body(10+i)) }()
	}
	for range 5 {
		select {
		case r := <-refused:
			wantError(t, r, http.StatusServiceUnavailable, api.CodeUnavailable)
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("a registration past the queue depth waited for the held slot instead of being refused")
		}
	}
	close(release)
	for range 1 + depth {
		if r := <-results; r.status != http.StatusCreated {
			t.Errorf("queued registration: %d %s", r.status, r.body)
		}
	}
	var users int
	f.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&users)
	if users != 1+depth || len(f.events(t, authevents.EventUserRegistered)) != 1+depth {
		t.Errorf("users=%d registered events=%d, want %d each: the refused requests must write nothing",
			users, len(f.events(t, authevents.EventUserRegistered)), 1+depth)
	}
}
