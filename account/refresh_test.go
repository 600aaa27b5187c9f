package account_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
)

// TestRefreshRotates: a refresh hands out a new access and refresh token
// of the same session, moves the session to its next generation, appends
// user.token_refreshed, and stores no token (nor signature) that could be
// replayed from the database.
func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "rot@example.com")
	sid := reg.Session.ID
	t1, err := f.refresh(reg.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t1.RefreshToken == reg.RefreshToken || t1.AccessToken == reg.AccessToken || t1.ExpiresIn != 15*time.Minute || t1.User != nil {
		t.Fatalf("refresh did not rotate: %+v", t1)
	}
	if sessionOf(t, f, t1.AccessToken) != sid {
		t.Error("refresh moved to another session")
	}
	if !f.works(t, t1.AccessToken) {
		t.Error("new access token refused")
	}
	if row := f.sessionRow(t, sid); row.generation != 2 || row.revoked {
		t.Errorf("session after one rotation = %+v", row)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserTokenRefreshed)
	got := f.events(t, authevents.EventUserTokenRefreshed, reg.User.ID.String())
	if want := []map[string]any{{"userId": reg.User.ID.String(), "sessionId": sid.String()}}; !cmp.Equal(got, want) {
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

// TestRefusedRefreshChangesNothing: tokens that were never the session's
// are refused with ErrInvalidRefreshToken and change nothing: not the
// session, not the denylist, no event, and the owner's own token still
// rotates afterwards. A forged opaque token (rt_ + the session and user
// ids, which are in clear in every access token, + random bytes) used to
// be judged "reuse" and revoke the victim's session (issue 8).
func TestRefusedRefreshChangesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		token func(t *testing.T, f *fixture, victim *account.Result) string
	}{
		{"garbage", func(*testing.T, *fixture, *account.Result) string { return "garbage" }},
		{"empty", func(*testing.T, *fixture, *account.Result) string { return "" }},
		{"NUL", func(*testing.T, *fixture, *account.Result) string { return "\x00" }},
		{"access token", func(_ *testing.T, _ *fixture, v *account.Result) string { return v.AccessToken }},
		{"truncated opaque", func(_ *testing.T, _ *fixture, v *account.Result) string {
			return v.RefreshToken[:len(v.RefreshToken)-4]
		}},
		{"JWT refresh of an unknown session", func(t *testing.T, f *fixture, v *account.Result) string {
			raw, err := f.Tokens.Sign(token.Spec{Type: token.TypeRefresh, UserID: v.User.ID, SessionID: uuid.New(), ID: uuid.New(), IssuedAt: time.Now(), TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}},
		{"forged opaque token of the victim's session", func(t *testing.T, _ *fixture, v *account.Result) string {
			// All an attacker can make: the ids from the access token
			// (no key needed) and random bytes.
			parts := strings.Split(v.AccessToken, ".")
			raw, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var claims struct{ Sub, Sid string }
			if err := json.Unmarshal(raw, &claims); err != nil {
				t.Fatal(err)
			}
			sid, sub := uuid.MustParse(claims.Sid), uuid.MustParse(claims.Sub)
			junk := make([]byte, 48)
			rand.Read(junk)
			forged := token.RefreshPrefix + base64.RawURLEncoding.EncodeToString(append(append(sid[:], sub[:]...), junk...))
			if _, err := token.ParseRefresh(forged); err != nil {
				t.Fatalf("the forged token is not even well-formed: %v", err)
			}
			return forged
		}},
		{"victim's token pointed at another user", func(t *testing.T, f *fixture, v *account.Result) string {
			// The ids in an opaque token are not signed.
			r, err := token.ParseRefresh(v.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			r.UserID = f.register(t, "other-"+uuid.NewString()+"@example.com").User.ID
			return r.String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			victim := f.register(t, "victim@example.com")
			_, err := f.refresh(tc.token(t, f, victim), authevents.Client{IP: "203.0.113.9", UserAgent: "attacker/1.0"})
			wantErr(t, err, authevents.ErrInvalidRefreshToken)
			if row := f.sessionRow(t, victim.Session.ID); row.generation != 1 || row.revoked {
				t.Errorf("a refused refresh changed the victim's session: %+v", row)
			}
			if n := f.Redis.Exists(context.Background(), f.Prefix+"deny:sid:"+victim.Session.ID.String()).Val(); n != 0 {
				t.Error("a refused refresh denylisted the victim's session")
			}
			outboxtest.RequireCount(t, f.Pool, authevents.EventTokenReuseDetected, 0)
			outboxtest.RequireCount(t, f.Pool, authevents.EventUserTokenRefreshed, 0)
			if !f.works(t, victim.AccessToken) {
				t.Error("victim's access token refused after a refused refresh")
			}
			f.mustRefresh(t, victim.RefreshToken)
		})
	}
}

// TestParallelRefresh: 20 refreshes of one token at once rotate exactly
// once; every one succeeds with the same child; nothing is revoked.
func TestParallelRefresh(t *testing.T) {
	t.Parallel()
	f := setup(t)
	reg := f.register(t, "parallel@example.com")
	const n = 20
	var wg sync.WaitGroup
	res := make([]*account.Result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res[i], errs[i] = f.refresh(reg.RefreshToken)
		})
	}
	close(start)
	wg.Wait()
	children := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		children[res[i].RefreshToken]++
	}
	if len(children) != 1 {
		t.Fatalf("%d different children, want exactly 1", len(children))
	}
	if row := f.sessionRow(t, reg.Session.ID); row.generation != 2 || row.revoked {
		t.Fatalf("session = %+v, want exactly one rotation and no revocation", row)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserTokenRefreshed)
	for child := range children {
		f.mustRefresh(t, child) // the one child is live
	}
}

// TestRefreshRefusedWhenSessionEnded: a session past its absolute
// lifetime, idle too long, or whose current refresh token is past its own
// expiry refuses the refresh, and this is not reported as reuse. The
// refresh token never outlives the session.
func TestRefreshRefusedWhenSessionEnded(t *testing.T) {
	t.Parallel()
	f := setup(t, withConfig(func(c *account.Config) { c.SessionMaxAge = time.Hour })) // shorter than the refresh TTL
	f.register(t, "life@example.com")
	for _, tc := range []struct{ name, update string }{
		{"absolute lifetime", `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`},
		{"idle timeout", `UPDATE sessions SET last_used_at = now() - interval '168 hours' - interval '1 second' WHERE id = $1`},
		{"refresh token expired", `UPDATE sessions SET refresh_expires_at = now() - interval '1 second' WHERE id = $1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.login(t, "life@example.com")
			t1 := f.mustRefresh(t, s.RefreshToken)
			if n := f.count(t, `SELECT count(*) FROM sessions WHERE id = $1 AND refresh_expires_at <= expires_at`, s.Session.ID); n != 1 {
				t.Error("the refresh token expires after the session's absolute end")
			}
			if _, err := f.Pool.Exec(context.Background(), tc.update, s.Session.ID); err != nil {
				t.Fatal(err)
			}
			_, err := f.refresh(t1.RefreshToken)
			wantErr(t, err, authevents.ErrInvalidRefreshToken)
		})
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventTokenReuseDetected, 0)
	if n := f.count(t, `SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL`); n != 0 {
		t.Errorf("%d ended sessions were revoked as if reused", n)
	}
}

// TestRefreshBatchIsAtomic makes the outbox insert of a refresh fail (a
// trigger raises on it): the pipelined rotation must roll back with it,
// leaving the session on its old token, and the refresh must fail.
func TestRefreshBatchIsAtomic(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	res := f.register(t, "atomic@example.com")
	_, err := f.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_refresh_event() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.subject = 'auth.user.token_refreshed' THEN
				RAISE EXCEPTION 'forced outbox failure';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_refresh_event BEFORE INSERT ON outbox
			FOR EACH ROW EXECUTE FUNCTION refuse_refresh_event();`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.refresh(res.RefreshToken); err == nil {
		t.Fatal("refresh succeeded although its event could not be written")
	}
	var jti string
	f.Pool.QueryRow(ctx, `SELECT refresh_jti::text FROM sessions WHERE id = $1`, res.Session.ID).Scan(&jti)
	if row := f.sessionRow(t, res.Session.ID); row.generation != 1 || jti != res.Session.RefreshJTI.String() {
		t.Fatalf("session moved to generation %d (jti %s) without its event", row.generation, jti)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
	// Once the insert works again the same token rotates normally.
	f.Pool.Exec(ctx, `DROP TRIGGER refuse_refresh_event ON outbox`)
	f.mustRefresh(t, res.RefreshToken)
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered, authevents.EventUserTokenRefreshed)
}
