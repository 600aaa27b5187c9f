package consumer_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestAuditRecordsVersion2AsReceived: given the key, the audit log records
// each change once, as its version 2 (type <type>_v2, the envelope as
// received, the ip and user_agent columns the user's pseudonyms), never
// its version 1 twin, so it holds no personal value in clear; a version 1
// event without twinid is recorded as before. After the user's key is
// erased, user.deleted_v2 and later events leave nothing personal.
func TestAuditRecordsVersion2AsReceived(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	keys := newKeys(t, pool)
	h := consumer.Versioned(audit.New(pool), keys)
	p, evs := newPerson(t)
	all := allTwins(t, keys, pool, evs)
	p.live(t, h, all)

	if n := count(t, pool, `SELECT count(*) FROM audit_log`); n != len(evs) {
		t.Errorf("%d audit rows, want %d: one per change", n, len(evs))
	}
	for _, ev := range versions(all, 1) {
		if ev.TwinID != "" && count(t, pool, `SELECT count(*) FROM audit_log WHERE event_id = $1`, ev.EventID) != 0 {
			t.Errorf("the version 1 twin of %s was recorded", ev.Type)
		}
	}
	for _, ev := range versions(all, 2) {
		var d struct{ IPPseudonym, UserAgentPseudonym string }
		json.Unmarshal(ev.Data, &d)
		if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE event_id = $1 AND type = $2 AND envelope = $3::jsonb
			AND ip = $4 AND user_agent = $5`, ev.EventID, ev.Type, string(ev.Body), d.IPPseudonym, d.UserAgentPseudonym); n != 1 {
			t.Errorf("%s: %d rows as received (type, envelope, pseudonyms), want 1", ev.Type, n)
		}
	}
	assertNothingPersonal(t, pool, p.values(), "recording version 2")

	entries, err := audit.Query(t.Context(), pool, p.user, p.deleted[0].OccurredAt.AddDate(0, 0, -1), 100)
	if err != nil || len(entries) != len(evs) {
		t.Fatalf("Query = %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if base, _ := authevents.BaseType(e.Type); e.BaseType != base || e.BaseType == "" {
			t.Errorf("entry %s: baseType %q", e.Type, e.BaseType)
		}
	}

	late := allTwins(t, keys, pool, p.late) // published before the deletion, delivered after
	eraseKey(t, keys, pool, p.user)
	p.live(t, h, allTwins(t, keys, pool, p.deleted))
	p.live(t, h, late)
	assertNothingPersonal(t, pool, p.values(), "after user.deleted_v2 and the late events")
	for _, ev := range append(versions(late, 2), p.deleted...) {
		if ev.Version == 1 && count(t, pool, `SELECT count(*) FROM audit_log WHERE event_id = $1`, ev.EventID) != 0 {
			t.Errorf("the version 1 twin of %s was recorded", ev.Type)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE type LIKE '%\_v2'`); n != len(versions(all, 2))+1+len(p.late) {
		t.Errorf("%d version 2 rows, want every change with personal fields, deletion and late ones included", n)
	}

	// An older producer's event (no twinid) is recorded as before.
	other := uuid.NewString()
	legacy := event(t, authevents.EventUserLoggedIn, "2026-11-28T12:00:00.000Z", map[string]string{"userId": other, "email": "old@example.com",
		"ip": "192.0.2.200", "userAgent": "Legacy/1"})
	handleTwice(t, h, legacy)
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE event_id = $1 AND type = 'user.logged_in' AND ip = '192.0.2.200'`, legacy.EventID); n != 1 {
		t.Errorf("a version 1 event without twinid: %d rows, want 1 as before", n)
	}
}

// TestAuditWithoutKeyRecordsVersion1: without the key, the audit log
// records the version 1 events (twinned or not) as before, and acks
// version 2 without a row.
func TestAuditWithoutKeyRecordsVersion1(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	keys := newKeys(t, pool) // the producer's
	h := consumer.Versioned(audit.New(pool), nil)
	p, evs := newPerson(t)
	all := allTwins(t, keys, pool, evs)
	p.live(t, h, all)
	for _, ev := range all {
		want := 1
		if ev.Version == 2 {
			want = 0
		}
		if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE event_id = $1 AND type = $2`, ev.EventID, ev.Type); n != want {
			t.Errorf("%s: %d rows, want %d", ev.Type, n, want)
		}
	}
}
