package consumer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestAnalyticsErasureKeepsTheCountsAndNoUserID: after user.deleted
// (twice) no row holds the user's id, the counts stay, and the user's
// older events delivered afterwards are counted without storing it.
func TestAnalyticsErasureKeepsTheCountsAndNoUserID(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	h := analytics.New(pool)
	p, evs := newPerson(t)
	p.live(t, h, evs)
	if n := count(t, pool, `SELECT count(*) FROM analytics_active_users WHERE user_id = $1`, p.user); n != 1 {
		t.Fatalf("before the deletion: %d active-user rows of the user, want 1 (the scan would test nothing)", n)
	}
	p.leave(t, pool, h)
	p.live(t, h, p.late)
	if n := count(t, pool, `SELECT count(*) FROM analytics_active_users WHERE user_id = $1`, p.user); n != 0 {
		t.Errorf("%d rows still hold the user's id", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM analytics_active_users WHERE day = '2026-11-28'`); n != 1 {
		t.Errorf("active users on the day = %d, want 1 (the erased user, under a random id)", n)
	}
	if n, want := count(t, pool, `SELECT sum(count) FROM analytics_event_counts`), len(evs)+len(p.deleted)+len(p.late); n != want {
		t.Errorf("events counted = %d, want %d", n, want)
	}
	assertNothingPersonal(t, pool, append(p.values(), p.user.String()), "after user.deleted")
}

// TestSecurityErasureDropsBaselinesAndPseudonymizesAlerts: after
// user.deleted (twice) the baselines and windows of the user are gone,
// the alerts stay with rule, severity, time and user id but no address,
// IP or user agent, and an older event delivered afterwards stores
// nothing.
func TestSecurityErasureDropsBaselinesAndPseudonymizesAlerts(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	th := security.Thresholds{FailedLogins: 3, StuffingAccounts: 3, ResetRequests: 3, ResetRequestsPerIP: 4, Window: 10 * time.Minute}
	h := security.New(pool, th, prometheus.NewRegistry())
	p, evs := newPerson(t)
	p.live(t, h, evs)
	before := alertRules(t, pool)
	if len(before) < 4 || len(personalLeft(t, pool, p.values())) == 0 {
		t.Fatalf("before the deletion: alerts %v and nothing personal stored (the test would test nothing)", before)
	}
	p.leave(t, pool, h)
	p.live(t, h, p.late)
	assertNothingPersonal(t, pool, p.values(), "after user.deleted and the late events")
	if after := alertRules(t, pool); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("alerts after the erasure %v, want those before %v", after, before)
	}
	if n := count(t, pool, `SELECT count(*) FROM security_alerts WHERE user_id = $1`, p.user); n != len(before) {
		t.Errorf("%d alerts name the user, want %d (the user id is the record's)", n, len(before))
	}
	for _, table := range []string{"security_seen", "security_account_events", "security_failed_logins", "security_alert_marks"} {
		if n := count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s keeps %d rows", table, n)
		}
	}
}

// TestAuditErasureKeepsTheFactsOfEachEvent: after user.deleted (twice)
// each event of the user still has its row (id, type, user, time), with
// the personal values erased, and an older event delivered afterwards is
// recorded with them already erased.
func TestAuditErasureKeepsTheFactsOfEachEvent(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	h := audit.New(pool)
	p, evs := newPerson(t)
	p.live(t, h, evs)
	if len(personalLeft(t, pool, p.values())) == 0 {
		t.Fatal("before the deletion: nothing personal recorded (the test would test nothing)")
	}
	p.leave(t, pool, h)
	p.live(t, h, p.late)
	assertNothingPersonal(t, pool, p.values(), "after user.deleted and the late events")
	all := append(append(evs[:len(evs):len(evs)], p.deleted...), p.late...)
	for _, ev := range all {
		if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE event_id = $1 AND type = $2 AND user_id = $3 AND occurred_at = $4
			AND envelope ->> 'id' = $1::text`, ev.EventID, ev.Type, p.user, ev.OccurredAt); n != 1 {
			t.Errorf("%s %s: %d rows with its facts, want 1", ev.Type, ev.EventID, n)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE envelope -> 'data' ->> 'email' = '[erased]'`); n != 10 {
		t.Errorf("%d rows show the email as [erased], want every row that had one (%d)", n, 10)
	}
}

// TestEmailErasureDropsTheCopiesAndSendsTheConfirmationOnce: with the
// .eml sink, user.deleted (twice) drops the copies of the mails the user
// got and writes the one confirmation; a mail an older event delivered
// afterwards calls for is not sent.
func TestEmailErasureDropsTheCopiesAndSendsTheConfirmationOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	dir := t.TempDir()
	h := email.New(pool, email.Files{Dir: dir}, "authevents <no-reply@authevents.test>")
	p, evs := newPerson(t)
	p.live(t, h, evs)
	if files := mails(t, dir); len(files) != 2 {
		t.Fatalf("before the deletion: %d mails, want 2 (welcome, password changed)", len(files))
	}
	p.leave(t, pool, h)
	p.live(t, h, p.late)
	p.leave(t, pool, h) // a redelivery after the confirmation was sent keeps it
	confirmation := email.Key(p.deleted[0].EventID, email.KindAccountDeleted).String() + ".eml"
	files := mails(t, dir)
	if len(files) != 1 || files[0] != confirmation {
		t.Fatalf("mails left %v, want only the confirmation %s", files, confirmation)
	}
	b, _ := os.ReadFile(filepath.Join(dir, confirmation))
	if !strings.Contains(string(b), "X-Authevents-Kind: account-deleted") {
		t.Errorf("the mail left is not the confirmation:\n%s", b)
	}
	assertNothingPersonal(t, pool, p.values(), "after user.deleted")
}

// mails lists the .eml files of dir.
func mails(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}
