package api_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/faultproxy"
)

// pipelineStarted signals each time a Redis pipeline that writes (the
// denylist) starts, so a test knows a request is stuck on that write.
type pipelineStarted chan struct{}

func (h pipelineStarted) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h pipelineStarted) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h pipelineStarted) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "set" {
				select {
				case h <- struct{}{}:
				default:
				}
				return next(ctx, cmds)
			}
		}
		return next(ctx, cmds)
	}
}

// TestSlowRedisDoesNotHoldTheUser: the denylist write of a logout and of a
// reuse detection used to run inside the PostgreSQL transaction, holding a
// pool connection and the user's advisory lock for as long as Redis took,
// so the user's logins queued behind it. With Redis answering after a 2 s
// latency toxic (toxiproxy in front of a private redis-server), while the
// write is stuck no pool connection is held and a login of the same user
// finishes in well under the toxic's latency.
func TestSlowRedisDoesNotHoldTheUser(t *testing.T) {
	t.Parallel()
	const latency = 2 * time.Second
	for _, tc := range []struct {
		name string
		// stuck starts the request that writes the denylist and returns
		// its response.
		stuck func(t *testing.T, f *fixture, s api.TokenResponse) response
		want  int
	}{
		{"logout", func(t *testing.T, f *fixture, s api.TokenResponse) response {
			return f.do(t, "POST", "/auth/logout", nil, "Authorization", "Bearer "+s.AccessToken)
		}, http.StatusOK},
		{"reuse detection", func(t *testing.T, f *fixture, s api.TokenResponse) response {
			return f.refresh(t, s.RefreshToken) // s.RefreshToken was already rotated
		}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			px := faultproxy.Start(t, srv.Addr)
			f := setup(t, api.Config{}, func(o *accounttest.Options) { o.RedisURL = "redis://" + px.Addr + "/0" })
			f.register(t, "slow@example.com")
			l := f.do(t, "POST", "/auth/login", map[string]string{"email": "slow@example.com", "password": goodPassword})
			var s api.TokenResponse
			l.json(t, &s)
			if tc.name == "reuse detection" {
				// Rotate twice: the first token is then outside any grace.
				f.mustRefresh(t, f.mustRefresh(t, s.RefreshToken).RefreshToken)
			}
			started := make(pipelineStarted, 1)
			f.Redis.AddHook(started)
			px.Latency(t, latency)

			done := make(chan response, 1)
			go func() { done <- tc.stuck(t, f, s) }()
			select {
			case <-started:
			case <-time.After(15 * latency):
				t.Fatal("the denylist write never started")
			}
			if n := f.Pool.Stat().AcquiredConns(); n != 0 {
				t.Errorf("%d pool connections held while the request waits on Redis, want 0", n)
			}
			begin := time.Now()
			r := f.do(t, "POST", "/auth/login", map[string]string{"email": "slow@example.com", "password": goodPassword})
			took := time.Since(begin)
			t.Logf("login took %s while the %s waited on Redis", took, tc.name)
			if r.status != http.StatusOK {
				t.Fatalf("login during the slow Redis write: %d %s", r.status, r.body)
			}
			if took > latency/2 {
				t.Errorf("login of the same user took %s while Redis was slow (latency %s): it waited for the %s", took, latency, tc.name)
			}
			select {
			case <-started:
				t.Error("login touched Redis; the measurement is void")
			default:
			}
			got := <-done
			if got.status != tc.want {
				t.Fatalf("%s: %d %s, want %d", tc.name, got.status, got.body, tc.want)
			}
			px.Heal()
			if row := f.sessionRow(t, f.session(t, s.AccessToken)); !row.revoked {
				t.Errorf("session not revoked by the %s: %+v", tc.name, row)
			}
			if f.me(t, s.AccessToken) != http.StatusUnauthorized {
				t.Errorf("access token still works after the %s", tc.name)
			}
			n := len(f.events(t, authevents.EventUserLoggedOut)) + len(f.events(t, authevents.EventTokenReuseDetected))
			if n != 1 {
				t.Errorf("%d logged_out/reuse events, want 1", n)
			}
		})
	}
}

// failWrites makes every Redis pipeline that writes (the denylist) fail,
// while reads keep working.
type failWrites struct{}

func (failWrites) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (failWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (failWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "set" {
				return errors.New("injected: denylist write failed")
			}
		}
		return next(ctx, cmds)
	}
}

// TestDenylistWriteFailureChangesNothing: the denylist is written before
// the transaction begins; when that write fails, logout and reuse
// detection answer 503 with Retry-After and revoke nothing, write no
// event.
func TestDenylistWriteFailureChangesNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := setup(t, api.Config{}, func(o *accounttest.Options) { o.RedisURL = srv.URL() })
	reg := f.register(t, "nowrite@example.com")
	sid := f.session(t, reg.AccessToken)
	t1 := f.mustRefresh(t, f.mustRefresh(t, reg.RefreshToken).RefreshToken)
	f.Redis.AddHook(failWrites{})
	for name, r := range map[string]response{
		"logout":          f.do(t, "POST", "/auth/logout", nil, "Authorization", "Bearer "+t1.AccessToken),
		"logout/all":      f.do(t, "POST", "/auth/logout/all", nil, "Authorization", "Bearer "+t1.AccessToken),
		"reuse detection": f.refresh(t, reg.RefreshToken),
	} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with a failing denylist write: %d (Retry-After %q) %s, want 503 with Retry-After", name, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if row := f.sessionRow(t, sid); row.revoked || row.generation != 3 {
		t.Errorf("session changed by requests that failed closed: %+v", row)
	}
	if n := len(f.events(t, authevents.EventUserLoggedOut)) + len(f.events(t, authevents.EventTokenReuseDetected)); n != 0 {
		t.Errorf("%d logged_out/reuse events written by requests that failed closed", n)
	}
}
