package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/faultproxy"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// The denylist and the rate limits live in Redis. These tests run against
// a private redis-server (or a fault proxy in front of one) that they
// stop, slow down or break.

// TestRedisDownFailsClosed: with Redis unreachable, Authenticate, Refresh
// and Logout fail with ErrUnavailable, never acceptance, and change
// nothing; they work again when Redis is back.
func TestRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := setup(t, func(o *accounttest.Options) { o.RedisURL = srv.URL() })
	reg := f.register(t, "down@example.com")
	v := f.authenticate(t, reg.AccessToken)
	srv.Stop()
	ctx := context.Background()
	_, err := f.Service.Authenticate(ctx, reg.AccessToken)
	wantErr(t, err, authevents.ErrUnavailable)
	_, err = f.refresh(reg.RefreshToken)
	wantErr(t, err, authevents.ErrUnavailable)
	wantErr(t, f.Service.Logout(ctx, v), authevents.ErrUnavailable)
	_, err = f.Service.LogoutAll(ctx, v)
	wantErr(t, err, authevents.ErrUnavailable)
	if row := f.sessionRow(t, reg.Session.ID); row.generation != 1 || row.revoked {
		t.Fatalf("a failed-closed call changed the session: %+v", row)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
	srv.Restart()
	testenv.WaitFor(t, "Authenticate to work again after Redis came back", 10*time.Second, func() bool {
		_, err := f.Service.Authenticate(ctx, reg.AccessToken)
		return err == nil
	})
	f.mustRefresh(t, reg.RefreshToken)
}

// pipelineStarted signals each time a Redis pipeline that writes (the
// denylist) starts, so a test knows a call is stuck on that write.
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
				break
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
		// stuck makes the call that writes the denylist.
		stuck func(f *fixture, s *account.Result) error
		want  error
	}{
		{"logout", func(f *fixture, s *account.Result) error {
			v, err := f.Service.Authenticate(context.Background(), s.AccessToken)
			if err != nil {
				return err
			}
			return f.Service.Logout(context.Background(), v)
		}, nil},
		{"reuse detection", func(f *fixture, s *account.Result) error {
			_, err := f.refresh(s.RefreshToken) // s.RefreshToken was already rotated twice
			return err
		}, authevents.ErrInvalidRefreshToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			px := faultproxy.Start(t, srv.Addr)
			f := setup(t, func(o *accounttest.Options) { o.RedisURL = "redis://" + px.Addr + "/0" })
			f.register(t, "slow@example.com")
			s := f.login(t, "slow@example.com")
			if tc.name == "reuse detection" {
				// Rotate twice: the first token is then outside any grace.
				f.mustRefresh(t, f.mustRefresh(t, s.RefreshToken).RefreshToken)
			}
			started := make(pipelineStarted, 1)
			f.Redis.AddHook(started)
			px.Latency(t, latency)

			done := make(chan error, 1)
			go func() { done <- tc.stuck(f, s) }()
			select {
			case <-started:
			case <-time.After(15 * latency):
				t.Fatal("the denylist write never started")
			}
			if n := f.Pool.Stat().AcquiredConns(); n != 0 {
				t.Errorf("%d pool connections held while the call waits on Redis, want 0", n)
			}
			begin := time.Now()
			f.login(t, "slow@example.com")
			took := time.Since(begin)
			t.Logf("login took %s while the %s waited on Redis", took, tc.name)
			if took > latency/2 {
				t.Errorf("login of the same user took %s while Redis was slow (latency %s): it waited for the %s", took, latency, tc.name)
			}
			select {
			case <-started:
				t.Error("login touched Redis; the measurement is void")
			default:
			}
			if err := <-done; !errors.Is(err, tc.want) {
				t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
			}
			px.Heal()
			if row := f.sessionRow(t, s.Session.ID); !row.revoked {
				t.Errorf("session not revoked by the %s: %+v", tc.name, row)
			}
			if f.works(t, s.AccessToken) {
				t.Errorf("access token still works after the %s", tc.name)
			}
			if n := len(outboxtest.Events(t, f.Pool, authevents.EventUserLoggedOut)) + len(outboxtest.Events(t, f.Pool, authevents.EventTokenReuseDetected)); n != 1 {
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
// the transaction begins; when that write fails, logout, logout of all
// sessions and reuse detection fail with ErrUnavailable and revoke
// nothing, write no event.
func TestDenylistWriteFailureChangesNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := setup(t, func(o *accounttest.Options) { o.RedisURL = srv.URL() })
	reg := f.register(t, "nowrite@example.com")
	t1 := f.mustRefresh(t, f.mustRefresh(t, reg.RefreshToken).RefreshToken)
	v := f.authenticate(t, t1.AccessToken)
	f.Redis.AddHook(failWrites{})
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"logout":          func() error { return f.Service.Logout(ctx, v) },
		"logout/all":      func() error { _, err := f.Service.LogoutAll(ctx, v); return err },
		"end session":     func() error { return f.Service.EndSession(ctx, v, v.SessionID) },
		"reuse detection": func() error { _, err := f.refresh(reg.RefreshToken); return err },
	} {
		if err := call(); !errors.Is(err, authevents.ErrUnavailable) {
			t.Errorf("%s with a failing denylist write: %v, want ErrUnavailable", name, err)
		}
	}
	if row := f.sessionRow(t, reg.Session.ID); row.revoked || row.generation != 3 {
		t.Errorf("session changed by calls that failed closed: %+v", row)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserTokenRefreshed, authevents.EventUserTokenRefreshed)
}
