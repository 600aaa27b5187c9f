package account_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/eventschema"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/personal"
)

// protected serves the use cases with a key-encryption key: events with
// personal fields also go out as version 2.
func protected(t *testing.T, v2Only bool) (*lifecycle, *personal.Keys) {
	t.Helper()
	ring, err := personal.NewKeyring(personal.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	l := setupLifecycle(t, false, func(o *accounttest.Options) {
		o.Account = append(o.Account, account.WithPersonalKeys(ring))
		if v2Only {
			cfg := *o.Config
			cfg.V2Only = true
			o.Config = &cfg
		}
	})
	return l, personal.NewKeys(l.Pool, ring, personal.Options{})
}

// TestEventsVersion2: with a key-encryption key, each event with personal
// fields is appended in its transaction as version 1 and as version 2,
// naming each other; version 2 holds no personal value in clear, keeps
// its contract, and opens to version 1's values with the owner's key (the
// user's, the day's for an unknown address, the farewell key for
// user.deleted); after the deletion the user's fields no longer open.
func TestEventsVersion2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, keys := protected(t, false)
	res := l.register(t, "v2@example.com")
	l.login(t, "v2@example.com")
	_, err := l.Service.Login(ctx, account.LoginInput{Email: "nobody@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrInvalidCredentials)
	l.mustRefresh(t, res.RefreshToken)
	if err := l.Service.DeleteAccount(ctx, l.authenticate(t, res.AccessToken), goodPassword, client); err != nil {
		t.Fatal(err)
	}
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	rows := outboxtest.Pending(t, l.Pool)
	byID := map[string]outboxtest.Row{}
	for _, r := range rows {
		byID[r.Event.ID] = r
	}
	var twins int
	for _, r := range rows {
		if err := v.Strict([]byte(r.Payload)); err != nil {
			t.Errorf("%s breaks its contract: %v", r.Event.Type, err)
		}
		base, version := authevents.BaseType(r.Event.Type)
		if authevents.ProtectedType(base) == "" {
			continue
		}
		var ce authevents.CloudEvent
		json.Unmarshal([]byte(r.Payload), &ce)
		twin, ok := byID[ce.TwinID]
		if !ok || twin.OrderingKey != r.OrderingKey {
			t.Errorf("%s %s: twin %q not in the same transaction's rows, or another ordering key", r.Event.Type, ce.ID, ce.TwinID)
			continue
		}
		if version == 1 {
			continue
		}
		twins++
		for _, clear := range []string{"v2@example.com", "nobody@example.com", client.IP, client.UserAgent, "Ada Lovelace"} {
			if strings.Contains(r.Payload, clear) {
				t.Errorf("%s holds %q in clear", r.Event.Type, clear)
			}
		}
		opened, erased, err := keys.Open(ctx, ce.Type, ce.ID, ce.Data)
		if err != nil {
			t.Errorf("%s does not open: %v", ce.Type, err)
			continue
		}
		var got, want map[string]any
		json.Unmarshal(opened, &got)
		var v1 authevents.CloudEvent
		json.Unmarshal([]byte(twin.Payload), &v1)
		json.Unmarshal(v1.Data, &want)
		user := r.Event.Subject
		for _, f := range authevents.PersonalFields(base) {
			if _, ok := want[f]; !ok {
				continue
			}
			switch {
			case user == res.User.ID.String() && base != authevents.EventUserDeleted:
				if !erased || got[f] != personal.Erased {
					t.Errorf("%s.%s of the deleted user = %v, want %s", ce.Type, f, got[f], personal.Erased)
				}
			case got[f] != want[f]:
				t.Errorf("%s.%s opened %v, want version 1's %v", ce.Type, f, got[f], want[f])
			}
		}
	}
	// registered, verification requested, logged_in, login_failed, deleted.
	if twins < 5 {
		t.Errorf("%d events went out as version 2, want every one with personal fields", twins)
	}
	if owner := personal.FarewellOwner(res.User.ID); l.count(t, `SELECT count(*) FROM personal_keys WHERE user_id = $1 AND erased_at IS NULL`, owner) != 1 {
		t.Error("no farewell key for user.deleted_v2")
	}
}

// TestEventsVersion2Only: with V2Only (EVENTS_V1=false), a type with
// personal fields goes out as version 2 alone; one without (refresh) as
// version 1.
func TestEventsVersion2Only(t *testing.T) {
	t.Parallel()
	l, _ := protected(t, true)
	res := l.register(t, "v2only@example.com")
	l.mustRefresh(t, res.RefreshToken)
	outboxtest.RequireTypes(t, l.Pool, "user.registered_v2", "user.email_verification_requested_v2", authevents.EventUserTokenRefreshed)
}

// TestExportOpensVersion2: the audit log stores version 2 of an event as
// received, its personal fields encrypted; the export shows the owner
// their own values, read with their key, and drops what the owner must not
// read (the sealed link) from version 2 as from version 1.
func TestExportOpensVersion2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := protected(t, true)
	res := l.register(t, "export-v2@example.com")
	if err := l.Service.ChangeEmail(ctx, l.authenticate(t, res.AccessToken), "moving-v2@example.com", goodPassword, client); err != nil {
		t.Fatal(err)
	}
	// What the audit consumer stored: the events as received.
	for _, typ := range []string{"user.registered_v2", "user.email_change_requested_v2"} {
		r := outboxtest.Events(t, l.Pool, typ)[0]
		if _, err := l.Pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, envelope) VALUES ($1, $2, $3, now(), $4)`,
			r.Event.ID, typ, res.User.ID, r.Payload); err != nil {
			t.Fatal(err)
		}
	}
	ex, err := l.Service.Export(ctx, l.authenticate(t, res.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Audit) != 2 {
		t.Fatalf("%d audit entries, want 2", len(ex.Audit))
	}
	for _, e := range ex.Audit {
		env := string(e.Envelope)
		if !strings.Contains(env, `"email":"export-v2@example.com"`) || strings.Contains(env, `"email":"pd1.`) {
			t.Errorf("%s in the export: %s, want the owner's address read", e.Type, env)
		}
		if strings.Contains(env, "sealedToken") || strings.Contains(env, "newEmailTaken") {
			t.Errorf("%s in the export holds what its owner must not read", e.Type)
		}
	}
}

// TestVersion2NeedsNoSecondConnection: the key of a user this process has
// not cached yet is read in the request's own transaction. It was read
// through the pool: with every connection held by a transaction waiting
// for its key, none was left to read one, and forgot-password at 64
// clients stalled at 6–14/s (the cost benchmark). Here the pool has one
// connection, and a login of a user whose key this replica never saw must
// not wait for a second one.
func TestVersion2NeedsNoSecondConnection(t *testing.T) {
	t.Parallel()
	ring, err := personal.NewKeyring(personal.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	_, url := pgtest.NewWithURL(t)
	withKeys := func(o *accounttest.Options) { o.Account = append(o.Account, account.WithPersonalKeys(ring)) }
	first := setup(t, withKeys, func(o *accounttest.Options) { o.DatabaseURL = url })
	first.register(t, "one-conn@example.com")
	// A second replica over the same database, with a pool of one
	// connection: its key cache is empty.
	one, err := postgres.Open(context.Background(), url, 1, postgres.Session{AppName: "one-connection"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.Close)
	shared := *first.Env
	shared.Pool = one
	second := setup(t, withKeys, func(o *accounttest.Options) { o.Share = &shared })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := second.Service.Login(ctx, account.LoginInput{Email: "one-conn@example.com", Password: goodPassword, Client: client}); err != nil {
		t.Fatalf("login on a one-connection pool: %v", err)
	}
}
