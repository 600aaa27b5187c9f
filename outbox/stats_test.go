package outbox_test

import (
	"context"
	"testing"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/outbox"
)

// Found in review (issue 8), now fixed: the backlog gauge above 10,000 rows is the span of
// pending seq values. One old pending row (a row parked behind a dead row
// of its key, which waits for an operator indefinitely) plus a short relay
// outage of 10,001 new rows makes the gauge read the number of rows
// published since the parked row was written: off by orders of magnitude.
func TestBacklogEstimateIgnoresOldParkedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	appendRow(t, ctx, pool, "parked-key") // becomes dead
	appendRow(t, ctx, pool, "parked-key") // parked behind it, pending
	if _, err := pool.Exec(ctx, `UPDATE outbox SET state = 'dead' WHERE seq = (SELECT min(seq) FROM outbox)`); err != nil {
		t.Fatal(err)
	}
	// A week of traffic published and deleted meanwhile: seq moved on by 5,000,000.
	if _, err := pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence('outbox', 'seq'), 5000000)`); err != nil {
		t.Fatal(err)
	}
	// A short outage: 10,001 rows pending.
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT 'auth.user.logged_in', '{}', 'u' || i FROM generate_series(1, 10001) i`); err != nil {
		t.Fatal(err)
	}
	s, err := outbox.ReadStats(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v", s)
	if s.Backlog != 10002 {
		t.Errorf("authevents_outbox_backlog = %d, want 10002 pending rows (the 1 parked + 10,001 new)", s.Backlog)
	}
}
