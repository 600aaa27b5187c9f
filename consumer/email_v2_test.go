package consumer_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
	"github.com/authevents/authevents/token/tokentest"
)

// TestEmailSendsFromVersion2: a life published in both versions gets
// exactly the mails of the same life in version 1 alone (kinds and
// recipients, links included), keyed by the version 2 events, with the key;
// and the version 1 mails without it. user.deleted_v2 is opened with the
// farewell key, which the confirmation's record erases: a redelivery then
// reads [erased] and sends nothing.
func TestEmailSendsFromVersion2(t *testing.T) {
	t.Parallel()
	filter := email.Config("auth-events", "auth.").FilterSubjects
	for _, typ := range email.Types() {
		if !slices.Contains(filter, "auth."+typ) || !slices.Contains(filter, "auth."+authevents.ProtectedType(typ)) {
			t.Errorf("the email durable's filter %q lacks %s in one version", filter, typ)
		}
	}
	sealer, opener := tokentest.SealPair(t)
	p, evs := newPerson(t)
	evs = append(evs, linked(t, sealer, p, authevents.EventEmailVerificationRequested, p.email),
		linked(t, sealer, p, authevents.EventEmailChangeRequested, "new-"+p.email))

	legacyDir := t.TempDir()
	legacy := pgtest.New(t)
	p.live(t, consumer.Versioned(email.New(legacy, email.Files{Dir: legacyDir}, "authevents <no-reply@authevents.test>",
		email.WithLinks(opener, "https://app.example")), nil), evs)
	want := sent(t, legacyDir)
	if len(want) != 5 {
		t.Fatalf("version 1 alone sent %q, want 5 mails (welcome, password changed, verify, change verify, change notice)", want)
	}

	for _, withKey := range []bool{true, false} {
		pool, dir := pgtest.New(t), t.TempDir()
		keys := newKeys(t, pool)
		var read *personal.Keys
		if withKey {
			read = keys
		}
		h := consumer.Versioned(email.New(pool, email.Files{Dir: dir}, "authevents <no-reply@authevents.test>",
			email.WithLinks(opener, "https://app.example")), read)
		all := allTwins(t, keys, pool, evs)
		p.live(t, h, all)
		if got := sent(t, dir); !slices.Equal(got, want) {
			t.Errorf("key %v: both versions sent %q, want %q", withKey, got, want)
		}
		version := 1
		if withKey {
			version = 2
		}
		for _, ev := range versions(all, version) {
			kinds, _ := email.Kinds(ev)
			for _, k := range kinds {
				if _, err := os.Stat(filepath.Join(dir, email.Key(ev.EventID, k).String()+".eml")); err != nil {
					t.Errorf("key %v: the %s mail of %s is not keyed by it: %v", withKey, k, ev.Type, err)
				}
			}
		}
		if !withKey {
			continue
		}

		eraseKey(t, keys, pool, p.user) // the API, deleting the user
		deleted := allTwins(t, keys, pool, p.deleted)
		p.live(t, h, deleted)
		confirmation := email.Key(deleted[1].EventID, email.KindAccountDeleted).String() + ".eml"
		if got := mails(t, dir); len(got) != 1 || got[0] != confirmation {
			t.Fatalf("after user.deleted_v2: mails %q, want only its confirmation %s", got, confirmation)
		}
		if got := sent(t, dir); len(got) != 1 || got[0] != email.KindAccountDeleted+" "+p.email {
			t.Errorf("the confirmation went %q, want to %s", got, p.email)
		}
		farewell := personal.FarewellOwner(p.user)
		if n := count(t, pool, `SELECT count(*) FROM personal_keys WHERE user_id = $1 AND erased_at IS NOT NULL AND wrapped_key IS NULL`, farewell); n != 1 {
			t.Error("the farewell key outlived the confirmation")
		}
		// Another replica (no key cached) gets the deletion again.
		again := consumer.Versioned(email.New(pool, email.Files{Dir: dir}, "authevents <no-reply@authevents.test>"), newKeys(t, pool))
		handleTwice(t, again, delivered(t, deleted[1].CloudEvent))
		if got := mails(t, dir); len(got) != 1 {
			t.Errorf("a redelivered user.deleted_v2 wrote %q", got)
		}
		assertNothingPersonal(t, pool, p.values(), "after user.deleted_v2")
	}
}

// linked returns an event of typ for p whose link is sealed to to, as the
// API seals it (to the version 1 event, which Protect copies as it is).
func linked(t *testing.T, sealer *token.Sealer, p *person, typ, to string) *consumer.Event {
	t.Helper()
	id, now := uuid.Must(uuid.NewV7()).String(), time.Date(2026, 11, 28, 10, 20, 0, 0, time.UTC)
	expires := time.Now().Add(time.Hour)
	sealed, err := sealer.Seal(token.Binding{EventID: id, EventType: typ, To: to, ExpiresAt: expires}, "ot_secret")
	if err != nil {
		t.Fatal(err)
	}
	l := authevents.Link{SealedToken: sealed, ExpiresAt: authevents.Timestamp(expires)}
	var data any = authevents.UserEmailVerificationRequested{UserID: p.user.String(), Email: to, Name: p.name, Link: l, Timestamp: authevents.Timestamp(now)}
	if typ == authevents.EventEmailChangeRequested {
		data = authevents.UserEmailChangeRequested{UserID: p.user.String(), Email: p.email, NewEmail: to, Link: &l,
			IP: p.ips[0], UserAgent: p.agents[0], Timestamp: authevents.Timestamp(now)}
	}
	ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service"}, id, typ, p.user.String(), now, data)
	if err != nil {
		t.Fatal(err)
	}
	return delivered(t, ce)
}

// sent lists the mails written to dir as "kind recipient", sorted.
func sent(t *testing.T, dir string) []string {
	t.Helper()
	kind, to := regexp.MustCompile(`(?m)^X-Authevents-Kind: (\S+)`), regexp.MustCompile(`(?m)^To: <([^>]+)>`)
	var out []string
	for _, f := range mails(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		k, r := kind.FindSubmatch(b), to.FindSubmatch(b)
		if k == nil || r == nil {
			t.Fatalf("%s: no kind or recipient:\n%s", f, b)
		}
		out = append(out, string(k[1])+" "+string(r[1]))
	}
	slices.Sort(out)
	return out
}
