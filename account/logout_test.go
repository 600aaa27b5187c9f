package account_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
)

// TestLogout ends the whole session: its refresh token is refused, the
// session row is revoked, its access tokens are denylisted for longer
// than they live, and one user.logged_out is appended. A second logout
// with the same token is harmless and appends nothing.
func TestLogout(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "out@example.com")
	sid := reg.Session.ID
	v := f.authenticate(t, reg.AccessToken)
	if err := f.Service.Logout(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if f.works(t, reg.AccessToken) {
		t.Error("access token works after logout")
	}
	_, err := f.refresh(reg.RefreshToken)
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
	if row := f.sessionRow(t, sid); !row.revoked || row.reason != account.RevokedLogout {
		t.Errorf("session = %+v, want revoked by logout", row)
	}
	// The denylist entry outlives the access token it blocks.
	ttl := f.Redis.TTL(context.Background(), f.Prefix+"deny:sid:"+sid.String()).Val()
	if remaining := time.Until(v.ExpiresAt); ttl < remaining {
		t.Errorf("denylist TTL %s shorter than the token's remaining %s", ttl, remaining)
	}
	got := f.events(t, authevents.EventUserLoggedOut, reg.User.ID.String())
	if want := []map[string]any{{"userId": reg.User.ID.String(), "sessionId": sid.String()}}; !cmp.Equal(got, want) {
		t.Errorf("logged_out events = %v, want %v", got, want)
	}
	if err := f.Service.Logout(context.Background(), v); err != nil {
		t.Errorf("second logout: %v", err)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserLoggedOut)
	f.noSecrets(t, reg.AccessToken, reg.RefreshToken)
}

// TestLogoutRacesRefresh: a logout and a refresh of the same session at
// once; whichever wins, no token of the session survives.
func TestLogoutRacesRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.register(t, "race@example.com")
	for i := range 15 {
		s0 := f.login(t, "race@example.com")
		v := f.authenticate(t, s0.AccessToken)
		var wg sync.WaitGroup
		var logoutErr, refreshErr error
		var s1 *account.Result
		start := make(chan struct{})
		wg.Go(func() { <-start; logoutErr = f.Service.Logout(context.Background(), v) })
		wg.Go(func() { <-start; s1, refreshErr = f.refresh(s0.RefreshToken) })
		close(start)
		wg.Wait()
		if logoutErr != nil {
			t.Fatalf("round %d: logout: %v", i, logoutErr)
		}
		if f.works(t, s0.AccessToken) {
			t.Fatalf("round %d: access token survived logout", i)
		}
		if refreshErr == nil {
			if f.works(t, s1.AccessToken) {
				t.Fatalf("round %d: access token from the racing refresh survived", i)
			}
			_, err := f.refresh(s1.RefreshToken)
			wantErr(t, err, authevents.ErrInvalidRefreshToken)
		} else {
			wantErr(t, refreshErr, authevents.ErrInvalidRefreshToken)
		}
		_, err := f.refresh(s0.RefreshToken)
		wantErr(t, err, authevents.ErrInvalidRefreshToken)
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventUserLoggedOut, 15)
}

// TestLogoutAllSkipsEndedSessions: logout/all used to revoke every
// unrevoked row and append a user.logged_out for sessions that had already
// expired. Only live sessions are ended and reported; the access tokens of
// a session that expired moments ago are still denied.
func TestLogoutAllSkipsEndedSessions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "ended@example.com")
	var logins []*account.Result
	for range 3 {
		logins = append(logins, f.login(t, "ended@example.com"))
	}
	ctx := context.Background()
	expired, idle := logins[0].Session.ID, logins[1].Session.ID
	f.Pool.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, expired)
	f.Pool.Exec(ctx, `UPDATE sessions SET last_used_at = now() - $2::interval - interval '1 second' WHERE id = $1`, idle, accounttest.Config().IdleTimeout)

	v := f.authenticate(t, reg.AccessToken)
	wantErr(t, f.Service.EndSession(ctx, v, expired), authevents.ErrNotFound)
	n, err := f.Service.LogoutAll(ctx, v)
	if err != nil || n != 2 {
		t.Fatalf("LogoutAll = %d, %v; want 2 sessions ended (register's and the last login's)", n, err)
	}
	var got []string
	for _, d := range f.events(t, authevents.EventUserLoggedOut, reg.User.ID.String()) {
		got = append(got, d["sessionId"].(string))
	}
	want := []string{reg.Session.ID.String(), logins[2].Session.ID.String()}
	if !cmp.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("logged_out events for sessions %v, want only the live ones %v", got, want)
	}
	if f.works(t, logins[0].AccessToken) {
		t.Error("an access token of the just-expired session survived logout/all")
	}
}

// TestDeletedUserTokenIsRefused: an access token of a deleted user still
// listed sessions until it expired. Every use case that reads the user
// returns ErrUnauthorized once the user is gone.
func TestDeletedUserTokenIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "gone@example.com")
	a := f.authenticate(t, reg.AccessToken)
	if _, err := f.Pool.Exec(context.Background(), `DELETE FROM users WHERE id = $1`, reg.User.ID); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, call := range map[string]func(v *token.Verified) error{
		"Me":         func(v *token.Verified) error { _, err := f.Service.Me(ctx, v.UserID); return err },
		"Sessions":   func(v *token.Verified) error { _, err := f.Service.Sessions(ctx, v.UserID); return err },
		"EndSession": func(v *token.Verified) error { return f.Service.EndSession(ctx, v, v.SessionID) },
		"LogoutAll":  func(v *token.Verified) error { _, err := f.Service.LogoutAll(ctx, v); return err },
		"Logout":     func(v *token.Verified) error { return f.Service.Logout(ctx, v) },
	} {
		t.Run(name, func(t *testing.T) {
			// A fresh token each time: a logout denies the one it is given.
			access, err := f.Tokens.Sign(token.Spec{Type: token.TypeAccess, UserID: a.UserID, SessionID: a.SessionID,
				ID: uuid.New(), IssuedAt: time.Now(), TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, call(f.authenticate(t, access)), authevents.ErrUnauthorized)
		})
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
}
