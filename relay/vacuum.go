package relay

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// vacuumer vacuums the outbox once it has enough dead rows
// (Config.VacuumRows). Every claim walks the index entries of the rows
// deleted before it until a VACUUM removes them: after a 300,000-row
// drain, finding 10 new rows read 6,662 buffers and commit-to-stream p99
// at 300 events/s rose to 69–456 ms (issue 20), and autovacuum wakes at
// most once a minute (autovacuum_naptime; the outbox's own thresholds,
// migration 00003, decide only whether it then vacuums). So the relay
// does it, on its own connection, while its workers go on:
//   - when the outbox has VacuumRows dead rows, whichever replicas
//     deleted them, so a long drain cleans as it goes (each VACUUM then
//     has about that many dead rows, and the claims of the drain stay
//     cheap too). Each replica reads the table's n_dead_tup after every
//     eighth of VacuumRows it deletes itself (one query per 12,500 rows by
//     default). It used to count only its own deletes: 3 replicas
//     draining 300,000 rows then each reached 100,000 near the end, and
//     their claims walked up to three times the dead entries one
//     replica's did;
//   - when the outbox is drained (a batch came back short) and a
//     twentieth of that was deleted;
//   - when the relay is idle (a claim came back empty) and rows were
//     deleted since the last VACUUM began, or that VACUUM left dead rows
//     it could not remove yet (deleted by a batch still open when it
//     began, the other worker's, publishing): 1 s after a drain's VACUUM,
//     then twice as long each time, up to a minute, so the claims after a
//     drain are cheap within seconds, not a minute, and a relay under
//     steady traffic vacuums at most about once a minute this way (on a
//     small table a VACUUM takes milliseconds).
//
// One VACUUM at a time: in this process by a flag, across replicas by a
// session advisory lock that a replica only tries (another replica's
// VACUUM cleans for everyone). VACUUM takes no lock that blocks inserts,
// claims or deletes (SHARE UPDATE EXCLUSIVE). It needs the table's owner:
// run as another role it does nothing but warn, which the first run
// detects, logs once, and counts (result "not_owner"); autovacuum then is
// the only cleaner.
type vacuumer struct {
	pool    *pgxpool.Pool
	every   int64 // 0: never
	log     *slog.Logger
	runs    *prometheus.CounterVec
	seconds prometheus.Histogram

	deleted atomic.Int64 // since the last VACUUM began
	unread  atomic.Int64 // deleted since n_dead_tup was last read
	running atomic.Bool
	left    atomic.Int64 // dead rows the last VACUUM could not remove yet
	idleAt  atomic.Int64 // unix ns: the earliest idle VACUUM
	idleGap atomic.Int64 // ns: the wait before the idle VACUUM after the next one
	owner   atomic.Int32 // 0 unknown, 1 owner, -1 not
}

// vacuumLockClass is the advisory lock key of the outbox's VACUUM (a key
// of its own: laneLockClass's lanes and the API's user locks never meet it).
const vacuumLockClass = 1869574002

func newVacuumer(pool *pgxpool.Pool, every int, log *slog.Logger, reg prometheus.Registerer) *vacuumer {
	v := &vacuumer{
		pool: pool, every: int64(every), log: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_relay_outbox_vacuums_total",
			Help: "VACUUMs of the outbox this relay ran once it had RELAY_VACUUM_ROWS dead rows or after draining it, by result (ok, error, busy: another replica's was running, not_owner)."}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "authevents_relay_outbox_vacuum_seconds",
			Help:    "How long each VACUUM of the outbox took.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
	}
	reg.MustRegister(v.runs, v.seconds)
	return v
}

// deletedRows records n rows deleted by a batch that claimed fewer rows
// than it asked for when drained is true, and starts a VACUUM if one is
// due.
func (v *vacuumer) deletedRows(n int, drained bool) {
	if v.every <= 0 || v.owner.Load() < 0 {
		return
	}
	d := v.deleted.Add(int64(n))
	now := time.Now().UnixNano()
	due := drained && d >= max(v.every/20, 1)
	check := !due && v.unread.Add(int64(n)) >= max(v.every/8, 1)
	idle := n == 0 && drained && (d > 0 || v.left.Load() > 0) && now >= v.idleAt.Load()
	if !due && !check && !idle {
		return
	}
	if !v.running.CompareAndSwap(false, true) {
		return
	}
	if check {
		v.unread.Store(0)
		go func() {
			defer v.running.Store(false)
			if v.deadRows() >= v.every {
				v.idleGap.Store(int64(time.Second))
				v.idleAt.Store(time.Now().Add(time.Second).UnixNano())
				v.vacuum()
			}
		}()
		return
	}
	gap := time.Second
	if !due {
		gap = max(time.Second, min(2*time.Duration(v.idleGap.Load()), time.Minute))
	}
	v.idleGap.Store(int64(gap))
	v.idleAt.Store(now + int64(gap))
	go func() {
		defer v.running.Store(false)
		v.vacuum()
	}()
}

// vacuum runs one VACUUM of the outbox if no other replica's is running.
func (v *vacuumer) vacuum() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := v.pool.Acquire(ctx)
	if err != nil {
		v.failed(err)
		return
	}
	defer conn.Release()
	var owner, locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_has_role(current_user, c.relowner, 'USAGE'), pg_try_advisory_lock($1)
		FROM pg_class c WHERE c.oid = 'outbox'::regclass`, vacuumLockClass).Scan(&owner, &locked); err != nil {
		v.failed(err)
		return
	}
	if locked {
		defer func() {
			if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, vacuumLockClass); err != nil {
				conn.Conn().Close(context.WithoutCancel(ctx)) // the lock goes with the session
			}
		}()
	}
	if !owner {
		v.owner.Store(-1)
		v.runs.WithLabelValues("not_owner").Inc()
		v.log.Warn("the relay's database role does not own the outbox, so it cannot VACUUM it: after a large drain the claims stay slower until autovacuum runs (docs/operations.md)")
		return
	}
	v.owner.Store(1)
	if !locked {
		v.runs.WithLabelValues("busy").Inc()
		return
	}
	v.deleted.Store(0) // what is deleted from here on waits for the next one
	start := time.Now()
	// VACUUM cannot run in a transaction block: the simple protocol sends
	// it alone.
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) outbox`, pgx.QueryExecModeSimpleProtocol); err != nil {
		v.failed(err)
		return
	}
	v.seconds.Observe(time.Since(start).Seconds())
	v.runs.WithLabelValues("ok").Inc()
	// VACUUM leaves in n_dead_tup the dead rows it could not remove yet.
	var left int64
	if err := conn.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass`).Scan(&left); err == nil {
		v.left.Store(left)
	}
}

// deadRows is the outbox's n_dead_tup: the rows deleted by every replica
// that no VACUUM has removed yet, as the statistics last heard of them
// (each backend reports at most once a second). -1 if it cannot be read.
func (v *vacuumer) deadRows() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var dead int64
	if err := v.pool.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass`).Scan(&dead); err != nil {
		return -1
	}
	return dead
}

func (v *vacuumer) failed(err error) {
	v.runs.WithLabelValues("error").Inc()
	v.log.Warn("VACUUM of the outbox failed; autovacuum will clean it", "err", err)
}
