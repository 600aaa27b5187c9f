package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/token"
)

// refresh posts a refresh token and returns the response.
func (f *fixture) refresh(t *testing.T, rt string, header ...string) response {
	t.Helper()
	return f.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": rt}, header...)
}

// mustRefresh refreshes and returns the new pair.
func (f *fixture) mustRefresh(t *testing.T, rt string) api.TokenResponse {
	t.Helper()
	r := f.refresh(t, rt)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var tr api.TokenResponse
	r.json(t, &tr)
	return tr
}

func (f *fixture) me(t *testing.T, access string) int {
	t.Helper()
	return f.do(t, "GET", "/auth/me", nil, "Authorization", "Bearer "+access).status
}

func (f *fixture) session(t *testing.T, access string) uuid.UUID {
	t.Helper()
	v, err := f.Tokens.Verify(access, token.TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	return v.SessionID
}

type sessionRow struct {
	generation int
	revoked    bool
	reason     string
}

func (f *fixture) sessionRow(t *testing.T, id uuid.UUID) sessionRow {
	t.Helper()
	var r sessionRow
	var reason *string
	if err := f.Pool.QueryRow(context.Background(),
		`SELECT refresh_generation, revoked_at IS NOT NULL, revoke_reason FROM sessions WHERE id = $1`, id).Scan(&r.generation, &r.revoked, &reason); err != nil {
		t.Fatal(err)
	}
	if reason != nil {
		r.reason = *reason
	}
	return r
}

// eventData returns the data of every event of a type, with timestamps
// checked and removed.
func (f *fixture) eventData(t *testing.T, eventType, subject string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, row := range f.events(t, eventType) {
		d := envelope(t, row, eventType, subject)
		delete(d, "timestamp")
		out = append(out, d)
	}
	return out
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "rot@example.com")
	sid := f.session(t, reg.AccessToken)
	r := f.refresh(t, reg.RefreshToken)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var raw map[string]any
	r.json(t, &raw)
	if got := keys(raw); !cmp.Equal(got, []string{"accessToken", "expiresIn", "refreshToken", "tokenType"}) {
		t.Errorf("refresh response keys = %v", got)
	}
	var t1 api.TokenResponse
	r.json(t, &t1)
	if t1.RefreshToken == reg.RefreshToken || t1.AccessToken == reg.AccessToken || t1.TokenType != "Bearer" || t1.ExpiresIn != 900 {
		t.Fatalf("refresh did not rotate: %+v", t1)
	}
	if f.session(t, t1.AccessToken) != sid {
		t.Error("refresh moved to another session")
	}
	if f.me(t, t1.AccessToken) != 200 {
		t.Error("new access token rejected")
	}
	if row := f.sessionRow(t, sid); row.generation != 2 || row.revoked {
		t.Errorf("session after one rotation = %+v", row)
	}
	got := f.eventData(t, authevents.EventUserTokenRefreshed, reg.User.ID)
	want := []map[string]any{{"userId": reg.User.ID, "sessionId": sid.String()}}
	if !cmp.Equal(got, want) {
		t.Errorf("token_refreshed events = %v, want %v", got, want)
	}

	// Refresh tokens at rest: nothing in the database can be replayed.
	var dump string
	f.Pool.QueryRow(context.Background(), `SELECT string_agg(s::text, '|') FROM sessions s`).Scan(&dump)
	for _, tok := range []string{reg.RefreshToken, t1.RefreshToken} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(dump, tok) || strings.Contains(dump, sig) {
			t.Error("a refresh token (or its signature) is stored in the sessions table")
		}
	}
	f.noSecrets(t, reg.RefreshToken, t1.RefreshToken, t1.AccessToken)
}

func TestRefreshTokenTypesAndGarbage(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "types@example.com")
	wantError(t, f.refresh(t, reg.AccessToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	wantError(t, f.refresh(t, "garbage"), http.StatusUnauthorized, api.CodeInvalidRefresh)
	wantError(t, f.do(t, "POST", "/auth/refresh", map[string]string{}), http.StatusBadRequest, api.CodeValidation, "refreshToken")
	wantError(t, f.do(t, "POST", "/auth/refresh", "{", "Content-Type", "application/json"), http.StatusBadRequest, api.CodeInvalidJSON)
	// A refresh token whose session does not exist.
	ghost, _ := f.Tokens.Sign(token.Spec{Type: token.TypeRefresh, UserID: uuid.MustParse(reg.User.ID), SessionID: uuid.New(), ID: uuid.New(), IssuedAt: time.Now(), TTL: time.Hour})
	wantError(t, f.refresh(t, ghost), http.StatusUnauthorized, api.CodeInvalidRefresh)
	wantError(t, f.do(t, "GET", "/auth/me", nil, "Authorization", "Bearer "+reg.RefreshToken), http.StatusUnauthorized, api.CodeUnauthorized)
	if row := f.sessionRow(t, f.session(t, reg.AccessToken)); row.generation != 1 || row.revoked {
		t.Errorf("refused refreshes changed the session: %+v", row)
	}
}

// TestReuseChain: T0→T1→T2→T3, then T0 again. The whole session is
// revoked: T3 and every access token of the session stop working, and
// user.token_reuse_detected is appended with the replayer's ip and agent.
func TestReuseChain(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "chain@example.com")
	sid := f.session(t, reg.AccessToken)
	t1 := f.mustRefresh(t, reg.RefreshToken)
	t2 := f.mustRefresh(t, t1.RefreshToken)
	t3 := f.mustRefresh(t, t2.RefreshToken)

	wantError(t, f.refresh(t, reg.RefreshToken, "User-Agent", "attacker/1.0"), http.StatusUnauthorized, api.CodeInvalidRefresh)

	if row := f.sessionRow(t, sid); !row.revoked || row.reason != account.RevokedTokenReuse {
		t.Fatalf("session after reuse = %+v, want revoked for token_reuse", row)
	}
	// No resurrection: neither the newest token nor the one inside the
	// grace window, nor any access token of the session, works any more.
	wantError(t, f.refresh(t, t3.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	wantError(t, f.refresh(t, t2.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	for i, a := range []string{reg.AccessToken, t1.AccessToken, t2.AccessToken, t3.AccessToken} {
		if code := f.me(t, a); code != 401 {
			t.Errorf("access token %d of the revoked session: /auth/me = %d, want 401", i, code)
		}
	}
	got := f.eventData(t, authevents.EventTokenReuseDetected, reg.User.ID)
	want := []map[string]any{{"userId": reg.User.ID, "sessionId": sid.String(), "ip": "127.0.0.1", "userAgent": "attacker/1.0"}}
	if !cmp.Equal(got, want) {
		t.Errorf("token_reuse_detected events = %v, want %v", got, want)
	}
	if n := len(f.events(t, authevents.EventUserTokenRefreshed)); n != 3 {
		t.Errorf("%d token_refreshed events, want 3", n)
	}
	// Another session of the same user is unaffected.
	other := f.do(t, "POST", "/auth/login", map[string]string{"email": "chain@example.com", "password": goodPassword})
	var o api.TokenResponse
	other.json(t, &o)
	if f.me(t, o.AccessToken) != 200 {
		t.Error("reuse in one session revoked another")
	}
}

// TestLostResponse: the client never saw T1 and retries with T0 inside the
// grace window: it gets the very same T1, no new branch, no revocation.
// Once T1 has been used, T0 is plain reuse.
func TestLostResponse(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "lost@example.com")
	sid := f.session(t, reg.AccessToken)
	first := f.mustRefresh(t, reg.RefreshToken)
	again := f.mustRefresh(t, reg.RefreshToken)
	if again.RefreshToken != first.RefreshToken {
		t.Fatal("retry inside the grace window returned a different refresh token")
	}
	if f.me(t, again.AccessToken) != 200 {
		t.Error("access token from the retry rejected")
	}
	if row := f.sessionRow(t, sid); row.generation != 2 || row.revoked {
		t.Fatalf("session after retry = %+v, want generation 2, live", row)
	}
	if n := len(f.events(t, authevents.EventUserTokenRefreshed)); n != 1 {
		t.Errorf("%d token_refreshed events, want 1 (the retry changed nothing)", n)
	}
	t2 := f.mustRefresh(t, first.RefreshToken)
	wantError(t, f.refresh(t, reg.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	if row := f.sessionRow(t, sid); !row.revoked {
		t.Fatal("T0 after T1 was used did not revoke the session")
	}
	wantError(t, f.refresh(t, t2.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
}

func TestGraceWindowEnds(t *testing.T) {
	t.Parallel()
	cfg := accounttest.Config
	cfg.GraceWindow = 0
	f := setup(t, api.Config{}, func(o *accounttest.Options) { o.Config = &cfg })
	reg := f.register(t, "nograce@example.com")
	f.mustRefresh(t, reg.RefreshToken)
	wantError(t, f.refresh(t, reg.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	if row := f.sessionRow(t, f.session(t, reg.AccessToken)); !row.revoked {
		t.Fatal("parent replay outside the grace window did not revoke")
	}
}

// TestParallelRefresh: 20 refreshes of one token at once rotate exactly
// once; every one succeeds with the same child; nothing is revoked.
func TestParallelRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "parallel@example.com")
	sid := f.session(t, reg.AccessToken)
	const n = 20
	var wg sync.WaitGroup
	res := make([]response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res[i] = f.refresh(t, reg.RefreshToken)
		})
	}
	close(start)
	wg.Wait()
	children := map[string]int{}
	for i, r := range res {
		if r.status != 200 {
			t.Fatalf("refresh %d: %d %s", i, r.status, r.body)
		}
		var tr api.TokenResponse
		r.json(t, &tr)
		children[tr.RefreshToken]++
	}
	if len(children) != 1 {
		t.Fatalf("%d different children, want exactly 1", len(children))
	}
	if row := f.sessionRow(t, sid); row.generation != 2 || row.revoked {
		t.Fatalf("session = %+v, want exactly one rotation and no revocation", row)
	}
	if n := len(f.events(t, authevents.EventUserTokenRefreshed)); n != 1 {
		t.Errorf("%d token_refreshed events, want 1", n)
	}
	if n := len(f.events(t, authevents.EventTokenReuseDetected)); n != 0 {
		t.Errorf("%d reuse events, want 0", n)
	}
	for child := range children {
		f.mustRefresh(t, child) // the one child is live
	}
}

// TestSubSecondDoubleRotation: two rotations inside one second, then the
// original: reuse, whatever the clock's granularity.
func TestSubSecondDoubleRotation(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "fast@example.com")
	start := time.Now()
	t1 := f.mustRefresh(t, reg.RefreshToken)
	f.mustRefresh(t, t1.RefreshToken)
	if time.Since(start) > time.Second {
		t.Logf("the two rotations took %s; the check below still holds", time.Since(start))
	}
	wantError(t, f.refresh(t, reg.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	if row := f.sessionRow(t, f.session(t, reg.AccessToken)); !row.revoked || row.generation != 3 {
		t.Fatalf("session = %+v, want revoked after generation 3", row)
	}
}

// TestLogoutRacesRefresh: whichever wins, no token of the session
// survives.
func TestLogoutRacesRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	f.register(t, "race@example.com")
	for i := range 15 {
		r := f.do(t, "POST", "/auth/login", map[string]string{"email": "race@example.com", "password": goodPassword})
		var s0 api.TokenResponse
		r.json(t, &s0)
		var wg sync.WaitGroup
		var lo, rf response
		wg.Go(func() { lo = f.do(t, "POST", "/auth/logout", nil, "Authorization", "Bearer "+s0.AccessToken) })
		wg.Go(func() { rf = f.refresh(t, s0.RefreshToken) })
		wg.Wait()
		if lo.status != 200 {
			t.Fatalf("round %d: logout %d %s", i, lo.status, lo.body)
		}
		if f.me(t, s0.AccessToken) != 401 {
			t.Fatalf("round %d: access token survived logout", i)
		}
		if rf.status == 200 {
			var s1 api.TokenResponse
			rf.json(t, &s1)
			if f.me(t, s1.AccessToken) != 401 {
				t.Fatalf("round %d: access token from the racing refresh survived", i)
			}
			wantError(t, f.refresh(t, s1.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
		} else {
			wantError(t, rf, http.StatusUnauthorized, api.CodeInvalidRefresh)
		}
		wantError(t, f.refresh(t, s0.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "out@example.com")
	sid := f.session(t, reg.AccessToken)
	wantError(t, f.do(t, "POST", "/auth/logout", nil), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, f.do(t, "POST", "/auth/logout", nil, "Authorization", "Bearer junk"), http.StatusUnauthorized, api.CodeUnauthorized)
	r := f.do(t, "POST", "/auth/logout", nil, "Authorization", "Bearer "+reg.AccessToken)
	var msg map[string]any
	r.json(t, &msg)
	if r.status != 200 || msg["message"] == "" {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if f.me(t, reg.AccessToken) != 401 {
		t.Error("access token works after logout")
	}
	wantError(t, f.refresh(t, reg.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	if row := f.sessionRow(t, sid); !row.revoked || row.reason != account.RevokedLogout {
		t.Errorf("session = %+v, want revoked by logout", row)
	}
	// The denylist entry outlives the access token it blocks.
	ttl := f.Redis.TTL(context.Background(), f.Prefix+"deny:sid:"+sid.String()).Val()
	a, _ := f.Tokens.Verify(reg.AccessToken, token.TypeAccess)
	if remaining := time.Until(a.ExpiresAt); ttl < remaining {
		t.Errorf("denylist TTL %s shorter than the token's remaining %s", ttl, remaining)
	}
	got := f.eventData(t, authevents.EventUserLoggedOut, reg.User.ID)
	if want := []map[string]any{{"userId": reg.User.ID, "sessionId": sid.String()}}; !cmp.Equal(got, want) {
		t.Errorf("logged_out events = %v, want %v", got, want)
	}
	f.noSecrets(t, reg.AccessToken, reg.RefreshToken)
}

func TestLogoutAllAndSessions(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "all@example.com")
	var pairs []api.TokenResponse
	pairs = append(pairs, reg)
	for range 2 {
		r := f.do(t, "POST", "/auth/login", map[string]string{"email": "all@example.com", "password": goodPassword}, "User-Agent", "phone/2.0")
		var tr api.TokenResponse
		r.json(t, &tr)
		pairs = append(pairs, tr)
	}
	other := setupOtherUser(t, f)

	r := f.do(t, "GET", "/auth/sessions", nil, "Authorization", "Bearer "+pairs[1].AccessToken)
	var list api.SessionsResponse
	r.json(t, &list)
	if r.status != 200 || len(list.Sessions) != 3 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	current := 0
	for _, s := range list.Sessions {
		if s.Current {
			current++
			if s.ID != f.session(t, pairs[1].AccessToken).String() || s.UserAgent != "phone/2.0" || s.IP != "127.0.0.1" {
				t.Errorf("current session = %+v", s)
			}
		}
	}
	if current != 1 {
		t.Errorf("%d sessions marked current, want 1", current)
	}

	// End one session by id; another user's session id is not found.
	target := f.session(t, pairs[2].AccessToken)
	wantError(t, f.do(t, "DELETE", "/auth/sessions/"+other.String(), nil, "Authorization", "Bearer "+pairs[1].AccessToken), http.StatusNotFound, api.CodeNotFound)
	wantError(t, f.do(t, "DELETE", "/auth/sessions/not-a-uuid", nil, "Authorization", "Bearer "+pairs[1].AccessToken), http.StatusNotFound, api.CodeNotFound)
	if r := f.do(t, "DELETE", "/auth/sessions/"+target.String(), nil, "Authorization", "Bearer "+pairs[1].AccessToken); r.status != 200 {
		t.Fatalf("delete session: %d %s", r.status, r.body)
	}
	if f.me(t, pairs[2].AccessToken) != 401 || f.me(t, pairs[1].AccessToken) != 200 {
		t.Error("ending one session affected the wrong tokens")
	}
	wantError(t, f.do(t, "DELETE", "/auth/sessions/"+target.String(), nil, "Authorization", "Bearer "+pairs[1].AccessToken), http.StatusNotFound, api.CodeNotFound)

	r = f.do(t, "POST", "/auth/logout/all", nil, "Authorization", "Bearer "+pairs[0].AccessToken)
	var out map[string]any
	r.json(t, &out)
	if r.status != 200 || out["sessionsEnded"] != float64(2) {
		t.Fatalf("logout/all: %d %s, want 2 sessions ended", r.status, r.body)
	}
	for i, p := range pairs {
		if f.me(t, p.AccessToken) != 401 {
			t.Errorf("access token %d survived logout/all", i)
		}
		wantError(t, f.refresh(t, p.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	}
	// One user.logged_out per session ended: the DELETE, then two.
	got := f.eventData(t, authevents.EventUserLoggedOut, reg.User.ID)
	if len(got) != 3 {
		t.Fatalf("%d logged_out events, want 3: %v", len(got), got)
	}
	seen := map[any]bool{}
	for _, d := range got {
		seen[d["sessionId"]] = true
	}
	if len(seen) != 3 {
		t.Errorf("logged_out events name %d distinct sessions, want 3", len(seen))
	}
}

// setupOtherUser registers a second user and returns their session id.
func setupOtherUser(t *testing.T, f *fixture) uuid.UUID {
	t.Helper()
	o := f.register(t, "someone-else@example.com")
	return f.session(t, o.AccessToken)
}

func TestLifetimes(t *testing.T) {
	t.Parallel()
	cfg := accounttest.Config
	cfg.SessionMaxAge = time.Hour // shorter than REFRESH_TOKEN_TTL
	f := setup(t, api.Config{}, func(o *accounttest.Options) { o.Config = &cfg })
	reg := f.register(t, "life@example.com")
	sid := f.session(t, reg.AccessToken)
	var expires time.Time
	f.Pool.QueryRow(context.Background(), `SELECT expires_at FROM sessions WHERE id = $1`, sid).Scan(&expires)
	var refreshExpires time.Time
	f.Pool.QueryRow(context.Background(), `SELECT refresh_expires_at FROM sessions WHERE id = $1`, sid).Scan(&refreshExpires)
	t1 := f.mustRefresh(t, reg.RefreshToken)
	var rotatedExpires time.Time
	f.Pool.QueryRow(context.Background(), `SELECT refresh_expires_at FROM sessions WHERE id = $1`, sid).Scan(&rotatedExpires)
	for _, e := range []time.Time{refreshExpires, rotatedExpires} {
		if e.After(expires) {
			t.Errorf("refresh token expires %s, after the session's absolute end %s", e, expires)
		}
	}
	// Absolute lifetime reached: refused even though the token is valid.
	f.Pool.Exec(context.Background(), `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, sid)
	wantError(t, f.refresh(t, t1.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)

	// Idle timeout.
	l := f.do(t, "POST", "/auth/login", map[string]string{"email": "life@example.com", "password": goodPassword})
	var s2 api.TokenResponse
	l.json(t, &s2)
	f.Pool.Exec(context.Background(), `UPDATE sessions SET last_used_at = now() - $2::interval - interval '1 second' WHERE id = $1`, f.session(t, s2.AccessToken), cfg.IdleTimeout)
	wantError(t, f.refresh(t, s2.RefreshToken), http.StatusUnauthorized, api.CodeInvalidRefresh)
	if n := len(f.events(t, authevents.EventTokenReuseDetected)); n != 0 {
		t.Errorf("expired sessions were reported as reuse (%d events)", n)
	}
}

// TestRedisDownFailsClosed runs against a private redis-server that the
// test stops: authenticated requests and refresh get 503, never
// acceptance, and work again when Redis is back.
func TestRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := setup(t, api.Config{}, func(o *accounttest.Options) { o.RedisURL = srv.URL() })
	reg := f.register(t, "down@example.com")
	if f.me(t, reg.AccessToken) != 200 {
		t.Fatal("me before the outage")
	}
	srv.Stop()
	wantError(t, f.do(t, "GET", "/auth/me", nil, "Authorization", "Bearer "+reg.AccessToken), http.StatusServiceUnavailable, api.CodeUnavailable)
	r := f.refresh(t, reg.RefreshToken)
	wantError(t, r, http.StatusServiceUnavailable, api.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	wantError(t, f.do(t, "POST", "/auth/logout", nil, "Authorization", "Bearer "+reg.AccessToken), http.StatusServiceUnavailable, api.CodeUnavailable)
	if row := f.sessionRow(t, f.session(t, reg.AccessToken)); row.generation != 1 || row.revoked {
		t.Fatalf("a failed-closed request changed the session: %+v", row)
	}
	if n := len(f.events(t, authevents.EventUserLoggedOut)) + len(f.events(t, authevents.EventUserTokenRefreshed)); n != 0 {
		t.Fatalf("%d events written by requests that failed", n)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for f.me(t, reg.AccessToken) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not serving again after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mustRefresh(t, reg.RefreshToken)
}

func limits(loginIP, loginAccount, register, refresh int) map[string]ratelimit.Limit {
	l := func(n int) ratelimit.Limit { return ratelimit.Limit{Rate: n, Burst: n, Period: time.Minute} }
	return map[string]ratelimit.Limit{
		account.LimitLoginIP: l(loginIP), account.LimitLoginAccount: l(loginAccount),
		account.LimitRegisterIP: l(register), account.LimitRefreshSession: l(refresh),
		account.LimitLoginDevice: l(loginAccount),
	}
}

// TestRateLimitsAcrossReplicas: two API instances share one Redis; the
// limit is global, the 429 is the same for known and unknown accounts,
// and a forged X-Forwarded-For from an untrusted peer resets nothing.
func TestRateLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := setup(t, api.Config{}, func(o *accounttest.Options) { o.Limits = limits(100, 3, 100, 100) })
	b := setup(t, api.Config{}, func(o *accounttest.Options) { o.Limits = limits(100, 3, 100, 100); o.Share = a.Env })
	known := a.register(t, "limited@example.com")
	var statuses []int
	for i, f := range []*fixture{a, b, a} {
		r := f.do(t, "POST", "/auth/login", map[string]string{"email": "limited@example.com", "password": "wrong password!"}, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		statuses = append(statuses, r.status)
	}
	if !cmp.Equal(statuses, []int{401, 401, 401}) {
		t.Fatalf("first three attempts = %v", statuses)
	}
	over := b.do(t, "POST", "/auth/login", map[string]string{"email": "limited@example.com", "password": goodPassword}, "X-Forwarded-For", "198.51.100.7")
	wantError(t, over, http.StatusTooManyRequests, api.CodeRateLimited)
	if ra := over.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	// More limited attempts through both replicas: still one event per window.
	for _, f := range []*fixture{a, b, a, b} {
		wantError(t, f.do(t, "POST", "/auth/login", map[string]string{"email": "limited@example.com", "password": goodPassword}), http.StatusTooManyRequests, api.CodeRateLimited)
	}
	var limited []map[string]any
	for _, d := range a.eventData(t, authevents.EventUserLoginFailed, known.User.ID) {
		if d["reason"] == authevents.ReasonRateLimited {
			limited = append(limited, d)
		}
	}
	want := []map[string]any{{"email": "limited@example.com", "userId": known.User.ID, "ip": "127.0.0.1",
		"userAgent": "authevents-test/1.0", "reason": "rate_limited"}}
	if !cmp.Equal(limited, want) {
		t.Fatalf("rate_limited login_failed events = %v, want exactly %v (one per window)", limited, want)
	}

	// Unknown account, same limit and the same response body.
	for range 3 {
		a.do(t, "POST", "/auth/login", map[string]string{"email": "ghost@example.com", "password": "wrong password!"})
	}
	ghost := b.do(t, "POST", "/auth/login", map[string]string{"email": "ghost@example.com", "password": "wrong password!"})
	wantError(t, ghost, http.StatusTooManyRequests, api.CodeRateLimited)
	if string(ghost.body) != string(over.body) {
		t.Errorf("429 bodies differ for known and unknown accounts:\n%s\n%s", over.body, ghost.body)
	}
}

func TestRateLimitsPerIPAndRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{}, func(o *accounttest.Options) { o.Limits = limits(2, 100, 2, 2) })
	f.register(t, "ip1@example.com")
	f.register(t, "ip2@example.com")
	wantError(t, f.do(t, "POST", "/auth/register", map[string]string{"email": "ip3@example.com", "password": goodPassword, "name": "x"}, "X-Forwarded-For", "10.9.8.7"), http.StatusTooManyRequests, api.CodeRateLimited)

	// Login per IP counts across accounts; the forged header changes nothing.
	for _, e := range []string{"ip1@example.com", "ip2@example.com"} {
		if r := f.do(t, "POST", "/auth/login", map[string]string{"email": e, "password": goodPassword}); r.status != 200 {
			t.Fatalf("login %s: %d", e, r.status)
		}
	}
	wantError(t, f.do(t, "POST", "/auth/login", map[string]string{"email": "ip1@example.com", "password": goodPassword}, "X-Forwarded-For", "192.0.2.1"), http.StatusTooManyRequests, api.CodeRateLimited)

	// Refresh per session, and a limited refresh rotates nothing.
	g := setup(t, api.Config{}, func(o *accounttest.Options) { o.Limits = limits(100, 100, 100, 2) })
	reg := g.register(t, "refresh@example.com")
	t1 := g.mustRefresh(t, reg.RefreshToken)
	t2 := g.mustRefresh(t, t1.RefreshToken)
	wantError(t, g.refresh(t, t2.RefreshToken), http.StatusTooManyRequests, api.CodeRateLimited)
	if row := g.sessionRow(t, g.session(t, reg.AccessToken)); row.generation != 3 || row.revoked {
		t.Fatalf("session after a limited refresh = %+v", row)
	}
	// Login is limited separately: refresh exhaustion does not block it.
	if r := g.do(t, "POST", "/auth/login", map[string]string{"email": "refresh@example.com", "password": goodPassword}); r.status != 200 {
		t.Fatalf("login after refresh limit: %d", r.status)
	}
}

// TestLogoutAllSkipsEndedSessions: logout/all used to revoke every
// unrevoked row and append a user.logged_out for sessions that had already
// expired. Only live sessions are ended and reported; the access tokens of
// a session that expired moments ago are still denied.
func TestLogoutAllSkipsEndedSessions(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "ended@example.com")
	var pairs []api.TokenResponse
	for range 3 {
		r := f.do(t, "POST", "/auth/login", map[string]string{"email": "ended@example.com", "password": goodPassword})
		var tr api.TokenResponse
		r.json(t, &tr)
		pairs = append(pairs, tr)
	}
	ctx := context.Background()
	expired, idle := f.session(t, pairs[0].AccessToken), f.session(t, pairs[1].AccessToken)
	f.Pool.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, expired)
	f.Pool.Exec(ctx, `UPDATE sessions SET last_used_at = now() - $2::interval - interval '1 second' WHERE id = $1`, idle, accounttest.Config.IdleTimeout)

	wantError(t, f.do(t, "DELETE", "/auth/sessions/"+expired.String(), nil, "Authorization", "Bearer "+reg.AccessToken), http.StatusNotFound, api.CodeNotFound)
	r := f.do(t, "POST", "/auth/logout/all", nil, "Authorization", "Bearer "+reg.AccessToken)
	var out map[string]any
	r.json(t, &out)
	if r.status != 200 || out["sessionsEnded"] != float64(2) {
		t.Fatalf("logout/all: %d %s, want 2 sessions ended (register's and the last login's)", r.status, r.body)
	}
	var got []string
	for _, d := range f.eventData(t, authevents.EventUserLoggedOut, reg.User.ID) {
		got = append(got, d["sessionId"].(string))
	}
	want := []string{f.session(t, reg.AccessToken).String(), f.session(t, pairs[2].AccessToken).String()}
	if !cmp.Equal(sortStrings(got), sortStrings(want)) {
		t.Errorf("logged_out events for sessions %v, want only the live ones %v", got, want)
	}
	if f.me(t, pairs[0].AccessToken) != http.StatusUnauthorized {
		t.Error("an access token of the just-expired session survived logout/all")
	}
}

// TestLoginLimitKeysIPv6OnItsPrefix: the per-IP key was the full address,
// so twelve addresses of one IPv6 /64 (what one host usually gets) were
// twelve fresh buckets. IPv6 clients now share a bucket per /64; IPv4 and
// IPv4-mapped IPv6 addresses keep one bucket per address.
func TestLoginLimitKeysIPv6OnItsPrefix(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{TrustedProxies: []string{"127.0.0.1/32"}}, func(o *accounttest.Options) { o.Limits = limits(5, 100, 100, 100) })
	f.register(t, "v6@example.com")
	var statuses []int
	for i := range 12 {
		r := f.do(t, "POST", "/auth/login", map[string]string{"email": "v6@example.com", "password": "wrong password!"},
			"X-Forwarded-For", fmt.Sprintf("2001:db8:1:2:%x::%x", i*7, i+1))
		statuses = append(statuses, r.status)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429}
	if !cmp.Equal(statuses, want) {
		t.Fatalf("12 failed logins from one /64 = %v, want %v", statuses, want)
	}
	// Another /64 has its own bucket.
	if r := f.do(t, "POST", "/auth/login", map[string]string{"email": "v6@example.com", "password": goodPassword}, "X-Forwarded-For", "2001:db8:1:3::1"); r.status != 200 {
		t.Fatalf("login from another /64: %d %s", r.status, r.body)
	}
	// IPv4-mapped addresses are IPv4: ::ffff:198.51.100.7 and 198.51.100.7
	// share a bucket, 198.51.100.8 is another.
	for range 3 {
		f.do(t, "POST", "/auth/login", map[string]string{"email": "v6@example.com", "password": "wrong password!"}, "X-Forwarded-For", "::ffff:198.51.100.7")
	}
	for range 2 {
		f.do(t, "POST", "/auth/login", map[string]string{"email": "v6@example.com", "password": "wrong password!"}, "X-Forwarded-For", "198.51.100.7")
	}
	wantError(t, f.do(t, "POST", "/auth/login", map[string]string{"email": "v6@example.com", "password": goodPassword}, "X-Forwarded-For", "198.51.100.7"), http.StatusTooManyRequests, api.CodeRateLimited)
	if r := f.do(t, "POST", "/auth/login", map[string]string{"email": "v6@example.com", "password": goodPassword}, "X-Forwarded-For", "198.51.100.8"); r.status != 200 {
		t.Fatalf("login from the neighbouring IPv4 address: %d %s", r.status, r.body)
	}
}
