package account_test

import (
	"context"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestGraceRetryReturnsTheSameRefreshTokenAndANewAccessToken is the
// grace-window answer as api/openapi.yaml documents it for POST
// /auth/refresh: the same refreshToken as the first answer, a newly
// signed accessToken each time (new jti, same session), every one valid,
// and no event appended.
func TestGraceRetryReturnsTheSameRefreshTokenAndANewAccessToken(t *testing.T) {
	t.Parallel()
	env := accounttest.New(t, accounttest.Options{})
	ctx := context.Background()
	reg, err := env.Service.Register(ctx, account.RegisterInput{Email: "grace@example.com", Password: "a fine password", Name: "G"})
	if err != nil {
		t.Fatal(err)
	}
	c := authevents.Client{IP: "192.0.2.1", UserAgent: "t"}
	first, err := env.Service.Refresh(ctx, reg.RefreshToken, c)
	if err != nil {
		t.Fatal(err)
	}
	events := count(t, env, `SELECT count(*) FROM outbox`)
	access := map[string]bool{first.AccessToken: true}
	jtis := map[string]bool{}
	var session string
	for i := range 3 {
		again, err := env.Service.Refresh(ctx, reg.RefreshToken, c)
		if err != nil {
			t.Fatalf("retry %d inside the grace window: %v", i, err)
		}
		if again.RefreshToken != first.RefreshToken {
			t.Errorf("retry %d: a different refresh token", i)
		}
		if access[again.AccessToken] {
			t.Errorf("retry %d: the same access token again; the contract says a new one", i)
		}
		access[again.AccessToken] = true
	}
	for at := range access {
		v, err := env.Service.Authenticate(ctx, at)
		if err != nil {
			t.Fatalf("an access token of the grace window is refused: %v", err)
		}
		jtis[v.ID.String()] = true
		if session != "" && v.SessionID.String() != session {
			t.Errorf("access tokens of two sessions")
		}
		session = v.SessionID.String()
	}
	if len(jtis) != len(access) {
		t.Errorf("%d access tokens, %d jtis", len(access), len(jtis))
	}
	if n := count(t, env, `SELECT count(*) FROM outbox`); n != events {
		t.Errorf("grace retries appended %d events", n-events)
	}
}

// TestLostResponse: the client never saw T1 and retries with T0 inside the
// grace window: it gets the very same T1, no new branch, no revocation,
// no event (nothing changed). Once T1 has been used, T0 is plain reuse.
func TestLostResponse(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "lost@example.com")
	sid := reg.Session.ID
	first := f.mustRefresh(t, reg.RefreshToken)
	again := f.mustRefresh(t, reg.RefreshToken)
	if again.RefreshToken != first.RefreshToken {
		t.Fatal("retry inside the grace window returned a different refresh token")
	}
	if !f.works(t, again.AccessToken) {
		t.Error("access token from the retry refused")
	}
	if row := f.sessionRow(t, sid); row.generation != 2 || row.revoked {
		t.Fatalf("session after retry = %+v, want generation 2, live", row)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserTokenRefreshed)
	t2 := f.mustRefresh(t, first.RefreshToken)
	_, err := f.refresh(reg.RefreshToken)
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
	if row := f.sessionRow(t, sid); !row.revoked || row.reason != account.RevokedTokenReuse {
		t.Fatalf("T0 after T1 was used: session %+v, want revoked for reuse", row)
	}
	_, err = f.refresh(t2.RefreshToken)
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
}
