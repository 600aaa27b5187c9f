package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/google/uuid"
)

func TestAuditRecordsEveryEventOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	user := uuid.NewString()
	id, body := e.publish(t, "user.logged_in", user, "")
	e.publish(t, "user.registered", user, "")
	// The same event again after the dedupe window (a different msg id):
	// JetStream stores it, the audit log must not.
	e.publishRaw(t, e.names.For("user.logged_in"), body, "late-duplicate-"+id.String())
	stop := e.run(t, audit.New(e.pool), nil)
	defer stop()
	testenv.WaitFor(t, "two audit rows", 10*time.Second, func() bool { return e.auditRows(t) == 2 })

	entries, err := audit.Query(context.Background(), e.pool, uuid.MustParse(user), time.Time{}, 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Query = %v, %v", entries, err)
	}
	var got *audit.Entry
	for i := range entries {
		if entries[i].EventID == id {
			got = &entries[i]
		}
	}
	if got == nil || got.Type != "user.logged_in" || got.IP != "203.0.113.5" || got.UserAgent != "ua/1" ||
		!got.OccurredAt.Equal(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("audit entry = %+v", got)
	}
	var env map[string]any
	json.Unmarshal(got.Envelope, &env)
	if env["id"] != id.String() || env["specversion"] != "1.0" {
		t.Errorf("stored envelope = %v", env)
	}
	// Give the late duplicate time to be delivered, then check once more.
	testenv.WaitFor(t, "the duplicate to be consumed", 10*time.Second, func() bool { return pendingOf(t, e) == 0 })
	if n := e.auditRows(t); n != 2 {
		t.Fatalf("%d audit rows after a duplicate delivery, want 2", n)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publish(t, "user.registered", uuid.NewString(), "")
	stop := e.run(t, audit.New(e.pool), nil)
	defer stop()
	testenv.WaitFor(t, "an audit row", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
	ctx := context.Background()
	for _, sql := range []string{`UPDATE audit_log SET type = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := e.pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s succeeded on the append-only audit log", sql)
		}
	}
	if n := e.auditRows(t); n != 1 {
		t.Fatalf("%d rows after refused changes", n)
	}
}

// TestTwoReplicasApplyOnce runs two instances of one durable consumer.
func TestTwoReplicasApplyOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for range 40 {
		e.publish(t, "user.logged_in", uuid.NewString(), "")
	}
	stop1 := e.run(t, audit.New(e.pool), nil)
	stop2 := e.run(t, audit.New(e.pool), nil)
	defer stop1()
	defer stop2()
	testenv.WaitFor(t, "40 audit rows", 15*time.Second, func() bool { return e.auditRows(t) == 40 })
	testenv.WaitFor(t, "all settled", 10*time.Second, func() bool { return pendingOf(t, e) == 0 })
	if n := e.auditRows(t); n != 40 {
		t.Fatalf("%d rows, want 40", n)
	}
}
