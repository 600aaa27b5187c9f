package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestReuseChain: T0→T1→T2→T3, then T0 again. The whole session is
// revoked: T3 and every access token of the session stop working (the
// session is denylisted), and user.token_reuse_detected is appended with
// the replayer's address and agent. Other sessions of the user live on.
func TestReuseChain(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "chain@example.com")
	sid := reg.Session.ID
	t1 := f.mustRefresh(t, reg.RefreshToken)
	t2 := f.mustRefresh(t, t1.RefreshToken)
	t3 := f.mustRefresh(t, t2.RefreshToken)
	other := f.login(t, "chain@example.com")

	_, err := f.refresh(reg.RefreshToken, authevents.Client{IP: "203.0.113.9", UserAgent: "attacker/1.0"})
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
	if row := f.sessionRow(t, sid); !row.revoked || row.reason != account.RevokedTokenReuse || row.generation != 4 {
		t.Fatalf("session after reuse = %+v, want revoked for token_reuse at generation 4", row)
	}
	if ttl := f.Redis.TTL(context.Background(), f.Prefix+"deny:sid:"+sid.String()).Val(); ttl <= 0 {
		t.Errorf("the reused session is not denylisted (TTL %s)", ttl)
	}
	// No resurrection: neither the newest token nor the one inside the
	// grace window, nor any access token of the session, works any more.
	for name, rt := range map[string]string{"T3 (newest)": t3.RefreshToken, "T2 (inside the grace window)": t2.RefreshToken} {
		_, err := f.refresh(rt)
		if err != authevents.ErrInvalidRefreshToken {
			t.Errorf("%s after reuse: %v, want ErrInvalidRefreshToken", name, err)
		}
	}
	for i, a := range []string{reg.AccessToken, t1.AccessToken, t2.AccessToken, t3.AccessToken} {
		if f.works(t, a) {
			t.Errorf("access token %d of the revoked session still works", i)
		}
	}
	got := f.events(t, authevents.EventTokenReuseDetected, reg.User.ID.String())
	want := []map[string]any{{"userId": reg.User.ID.String(), "sessionId": sid.String(), "ip": "203.0.113.9", "userAgent": "attacker/1.0"}}
	if !cmp.Equal(got, want) {
		t.Errorf("token_reuse_detected events = %v, want %v", got, want)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserTokenRefreshed, authevents.EventUserTokenRefreshed,
		authevents.EventUserTokenRefreshed, authevents.EventUserLoggedIn, authevents.EventTokenReuseDetected)
	if !f.works(t, other.AccessToken) {
		t.Error("reuse in one session revoked another")
	}
	f.mustRefresh(t, other.RefreshToken)
}

// TestParentReplayIsReuse: the parent presented again is reuse (session
// revoked, one user.token_reuse_detected) whenever the grace window does
// not cover it: the window is over, or the child was already rotated,
// even both rotations inside one second.
func TestParentReplayIsReuse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		grace     time.Duration
		rotations int
	}{
		{"grace window over", 0, 1},
		{"child rotated within the second", 10 * time.Second, 2},
		{"child rotated twice", 10 * time.Second, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, withConfig(func(c *account.Config) { c.GraceWindow = tc.grace }))
			reg := f.register(t, "replay@example.com")
			start := time.Now()
			rt := reg.RefreshToken
			for range tc.rotations {
				rt = f.mustRefresh(t, rt).RefreshToken
			}
			if took := time.Since(start); took > time.Second {
				t.Logf("the rotations took %s; the check below still holds", took)
			}
			_, err := f.refresh(reg.RefreshToken)
			wantErr(t, err, authevents.ErrInvalidRefreshToken)
			if row := f.sessionRow(t, reg.Session.ID); !row.revoked || row.reason != account.RevokedTokenReuse || row.generation != 1+tc.rotations {
				t.Fatalf("session = %+v, want revoked for reuse after generation %d", row, 1+tc.rotations)
			}
			outboxtest.RequireCount(t, f.Pool, authevents.EventTokenReuseDetected, 1)
			_, err = f.refresh(rt)
			wantErr(t, err, authevents.ErrInvalidRefreshToken)
		})
	}
}
