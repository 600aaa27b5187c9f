package relay

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestReplicasVacuumOnTheirDeletesTogether: the VACUUM is due when the
// outbox has RELAY_VACUUM_ROWS dead rows, whoever deleted them. Each
// replica used to count only its own deletes, so 3 replicas draining
// 300,000 rows each reached 100,000 near the end, and their claims walked
// up to three times the dead entries one replica's did (issue 20: 3
// replicas drained at 0.82× one). Here the rows are deleted by others;
// this replica has deleted only an eighth of the threshold itself.
func TestReplicasVacuumOnTheirDeletesTogether(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	const every = 4000
	if _, err := pool.Exec(ctx, `ALTER TABLE outbox SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT 'x.user.logged_in', '{}', 'u' || i FROM generate_series(1, $1::int) i`, every+100); err != nil {
		t.Fatal(err)
	}
	// Other replicas delete (their backends report it to the statistics).
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM outbox WHERE seq <= $1`, every); err != nil {
		t.Fatal(err)
	}
	conn.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
	conn.Release()
	testenv.WaitFor(t, "the deletes in the statistics", 10*time.Second, func() bool {
		var dead int64
		pool.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass`).Scan(&dead)
		return dead >= every
	})

	reg := prometheus.NewRegistry()
	v := newVacuumer(pool, every, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	for range every / 8 / 100 {
		v.deletedRows(100, false) // full batches: not drained
	}
	testenv.WaitFor(t, "a VACUUM on the outbox's dead rows", 10*time.Second, func() bool {
		n, _ := metrictest.Value(t, reg, "authevents_relay_outbox_vacuums_total", "result", "ok")
		return n >= 1
	})
	var dead int64
	pool.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass`).Scan(&dead)
	if dead >= every {
		t.Fatalf("%d dead rows after the VACUUM", dead)
	}
}

// TestAReplicaDoesNotVacuumACleanOutbox: the check of the outbox's dead
// rows starts no VACUUM while they are under the threshold.
func TestAReplicaDoesNotVacuumACleanOutbox(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	const every = 4000
	reg := prometheus.NewRegistry()
	v := newVacuumer(pool, every, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	for range every / 100 / 2 {
		v.deletedRows(100, false)
	}
	testenv.WaitFor(t, "the checks to end", 10*time.Second, func() bool { return !v.running.Load() })
	if n, _ := metrictest.Value(t, reg, "authevents_relay_outbox_vacuums_total", "result", "ok"); n != 0 {
		t.Fatalf("%v VACUUMs of an outbox with no dead rows", n)
	}
}
