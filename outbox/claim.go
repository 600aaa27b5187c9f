package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres"
)

// Row is a claimed outbox row.
type Row struct {
	Message
	Seq       int64
	Attempts  int
	CreatedAt time.Time
}

// claimSQL takes, in seq order, pending rows that are due and are the
// oldest row of their ordering key, pending or dead (rows with an empty key
// have no ordering constraint), skipping rows another relay holds.
// Together:
//   - no cursor: a row whose transaction committed late is simply the next
//     pending row when it becomes visible, never skipped;
//   - at most one row per key is in flight anywhere, so one key's rows are
//     published in seq order, which account makes commit order per user;
//   - a row waiting for a retry holds back the later rows of its key
//     (order), never the rows of other keys;
//   - a dead row keeps holding them back ("parked") until an operator
//     retries it (it is then the oldest pending row of its key) or
//     discards it.
const claimSQL = `
	SELECT ` + claimColumns + `
	  FROM outbox o
	 WHERE ` + claimable + `
	 ORDER BY o.seq
	 LIMIT $1
	   FOR UPDATE OF o SKIP LOCKED`

// claimColumns are the columns of a claimed Row (collectRows scans them).
const claimColumns = `o.id, o.seq, o.subject, o.payload, o.ordering_key, o.attempts, o.created_at`

// claimable is the condition both claims share: pending, due, and the
// oldest row of its key, pending or dead.
const claimable = `o.state = 'pending' AND o.next_attempt_at <= now()
	   AND (o.ordering_key = '' OR NOT EXISTS (
	        SELECT 1 FROM outbox p
	         WHERE p.ordering_key = o.ordering_key AND p.seq < o.seq))`

// Lanes partitions the outbox by seq for concurrent claimers working
// through a backlog: lane l holds the rows with (seq / 64) % Lanes = l,
// runs of 64 consecutive rows, so a lane's rows sit together on disk. A
// claimer that takes a lane (a transaction-scoped advisory lock) scans
// only that lane's rows, so claimers never scan and skip each other's
// locked rows, which made three relay replicas drain at 58 % of one.
// Lanes only spread the work: order per key still comes from the claim's
// per-key probe, whichever lanes a key's rows fall in.
const Lanes = 16

// laneLockClass is the first key of the two-key advisory locks on lanes
// (a key space of its own: one-key locks, such as the API's per-user
// locks, never meet it).
const laneLockClass = 1869574001

// claimLaneSQL is claimSQL restricted to lane $2, claimed only while this
// transaction holds the lane's lock (advisory locks are re-entrant: the
// lock statement before it took it, or the lane is another claimer's and
// this returns nothing). The index on ((seq / 64) % 16, seq) is not
// partial so that PostgreSQL keeps statistics on its expression; with
// them it scans the lane in seq order.
//
// It looks at no more than the lane's first $3 rows (laneScan): a lane
// with fewer eligible rows than the limit was scanned to its end, a
// per-key probe per row, and mid-drain most of a lane's rows wait for an
// older row of their key (in flight, or in another lane). Three replicas
// make more of those short claims than one, and the probes were what made
// PostgreSQL spend 1.5-1.7x the CPU per row under them: a 1,216-row claim
// of a 300,000-row outbox took 90-130 ms, 32-48 ms capped. Eligible rows
// past the cap are not lost: the relay's scheduler claims the whole
// outbox after a round of lanes that yields less than a row per lane
// (TestOtherKeysBehindABusyKeyAreNotStarved).
//
// The cap is a bound on seq (the $3-th row's, from the index alone), and
// the claim reads the lane once, in the index's order, up to it. Taking
// the $3 seqs and finding each row again by seq (o.seq IN (...)) cost an
// index descent per row on top of its key's probe: twice the buffers
// (TestShortLaneClaimsDoNotScanTheLane), with the claim 85-90 % of
// PostgreSQL's time in a 300,000-row drain. Bounded this way PostgreSQL
// spends 12.5-15 ms of CPU per 1,000 rows drained instead of 19-23.
var claimLaneSQL = fmt.Sprintf(`
	SELECT %[3]s
	  FROM outbox o
	 WHERE (o.seq / 64) %% %[1]d = $2
	   AND o.seq <= (SELECT max(c.seq) FROM (SELECT c.seq FROM outbox c
	                  WHERE (SELECT pg_try_advisory_xact_lock(%[2]d, $2::int))
	                    AND (c.seq / 64) %% %[1]d = $2
	                  ORDER BY c.seq
	                  LIMIT $3) c)
	   AND %[4]s
	 ORDER BY o.seq
	 LIMIT $1
	   FOR UPDATE OF o SKIP LOCKED`, Lanes, laneLockClass, claimColumns, claimable)

// laneScan is how many of a lane's rows a claim of limit looks at.
func laneScan(limit int) int { return 2*limit + 64 }

// BeginClaim begins a transaction and claims up to limit rows in it, in
// one round trip (pgx Batch.BeginTx). The row locks hold until tx ends,
// so the caller publishes, then Deletes or Fails the rows in tx and
// commits: a crash anywhere before the commit leaves the rows pending, to
// be published again (JetStream drops the repeat by id). The transaction
// commits without waiting for its WAL flush (synchronous_commit off): it
// only deletes or marks rows, and losing that to a database crash means
// the rows are published again, which JetStream's duplicate window drops
// and consumers tolerate anyway. The caller must end tx.
func BeginClaim(ctx context.Context, pool *pgxpool.Pool, limit int) (pgx.Tx, []Row, error) {
	tx, rows, _, err := beginClaim(ctx, pool, limit, -1)
	return tx, rows, err
}

// BeginClaimLane is BeginClaim restricted to one lane (0 ≤ lane < Lanes).
// When another claimer holds the lane it claims nothing and reports
// busy; the caller commits tx and tries another lane.
func BeginClaimLane(ctx context.Context, pool *pgxpool.Pool, limit, lane int) (tx pgx.Tx, rows []Row, busy bool, err error) {
	return beginClaim(ctx, pool, limit, lane%Lanes)
}

func beginClaim(ctx context.Context, pool *pgxpool.Pool, limit, lane int) (pgx.Tx, []Row, bool, error) {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SET LOCAL synchronous_commit = off`)
	if lane >= 0 {
		b.Queue(`SELECT pg_try_advisory_xact_lock($1, $2::int)`, laneLockClass, lane)
		b.Queue(claimLaneSQL, limit, lane, laneScan(limit))
	} else {
		b.Queue(claimSQL, limit)
	}
	br := pool.SendBatch(ctx, b)
	tx := br.Tx()
	fail := func(err error) (pgx.Tx, []Row, bool, error) {
		br.Close()
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, nil, false, err
	}
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return fail(fmt.Errorf("claim: %w", err))
		}
	}
	locked := true
	if lane >= 0 {
		if err := br.QueryRow().Scan(&locked); err != nil {
			return fail(fmt.Errorf("claim: lane lock: %w", err))
		}
	}
	rows, err := br.Query()
	if err != nil {
		return fail(fmt.Errorf("claim: %w", err))
	}
	// A lane claim's limit follows what lanes yield (the relay's
	// scheduler), so it is the size to expect; a claim of the whole outbox
	// is mostly an idle poll.
	capacity := max(limit, 0) // a negative limit is PostgreSQL's error, not a panic here
	if lane < 0 {
		capacity = min(capacity, 64)
	}
	out, err := collectRows(rows, capacity)
	if err != nil {
		return fail(err)
	}
	if err := br.Close(); err != nil {
		return fail(fmt.Errorf("claim: %w", err))
	}
	return tx, out, !locked, nil
}

// collectRows scans claimed rows into a slice of capacity rows to begin
// with, each in place: a Row scanned on its own escaped to the heap, one
// allocation per row, and the slice grown from nothing copied the batch
// again at each doubling. The payload is scanned into its []byte, one
// copy: through a string it was two. The three were half of the relay's
// allocation in a drain.
func collectRows(rows pgx.Rows, capacity int) ([]Row, error) {
	defer rows.Close()
	out := make([]Row, 0, capacity)
	for rows.Next() {
		out = append(out, Row{})
		row := &out[len(out)-1]
		if err := rows.Scan(&row.ID, &row.Seq, &row.Subject, &row.Payload, &row.OrderingKey, &row.Attempts, &row.CreatedAt); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return out, nil
}

// Delete removes published rows.
func Delete(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	// postgres.UUIDs: as uuid.UUID, pgx tried a plan that failed (an error
	// formatted per id) before it fell back to their driver.Valuer, a
	// string parsed back: 15 % of the relay's allocation in a drain.
	if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, postgres.UUIDs(ids)); err != nil {
		return fmt.Errorf("delete sent rows: %w", err)
	}
	return nil
}

// Failure is a row whose publish the broker refused.
type Failure struct {
	ID    uuid.UUID
	Error string
	Delay time.Duration // until the next attempt
}

// Fail records a failed attempt per row; a row reaching maxAttempts
// becomes dead and returns its id in dead.
// One statement whatever the number of rows: a refusal of a whole batch
// (a stream deleted under the relay) must not cost a round trip per row.
func Fail(ctx context.Context, tx pgx.Tx, failures []Failure, maxAttempts int) (dead []uuid.UUID, err error) {
	if len(failures) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(failures))
	msgs := make([]string, len(failures))
	delays := make([]float64, len(failures))
	for i, f := range failures {
		ids[i], msgs[i], delays[i] = f.ID, f.Error, f.Delay.Seconds()
	}
	rows, err := tx.Query(ctx, `
		UPDATE outbox o SET attempts = o.attempts + 1, last_error = left(f.err, 1000),
		       next_attempt_at = clock_timestamp() + make_interval(secs => f.delay),
		       state = CASE WHEN o.attempts + 1 >= $4 THEN 'dead' ELSE 'pending' END
		  FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS f(id, err, delay)
		 WHERE o.id = f.id
		RETURNING o.id, o.state`, ids, msgs, delays, maxAttempts)
	if err != nil {
		return nil, fmt.Errorf("record failed publishes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var state string
		if err := rows.Scan(&id, &state); err != nil {
			return nil, fmt.Errorf("record failed publishes: %w", err)
		}
		if state == "dead" {
			dead = append(dead, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record failed publishes: %w", err)
	}
	return dead, nil
}

// ClaimBuffers runs the claim of up to limit rows (the whole outbox, not
// a lane) under EXPLAIN (ANALYZE, BUFFERS) in a transaction it rolls back,
// and returns the shared buffers it touched: the claim's cost, which
// index entries of deleted rows not yet vacuumed raise (issue 20). For
// tests and benchmarks: it locks the rows it claims until it returns.
func ClaimBuffers(ctx context.Context, pool *pgxpool.Pool, limit int) (int64, error) {
	return claimBuffers(ctx, pool, claimSQL, limit)
}

// LaneClaimBuffers is ClaimBuffers for the claim of lane.
func LaneClaimBuffers(ctx context.Context, pool *pgxpool.Pool, limit, lane int) (int64, error) {
	return claimBuffers(ctx, pool, claimLaneSQL, limit, lane%Lanes, laneScan(limit))
}

func claimBuffers(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (int64, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("claim buffers: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // EXPLAIN ANALYZE ran the claim: undo its locks
	var plan []struct {
		Plan struct {
			Hit  int64 `json:"Shared Hit Blocks"`
			Read int64 `json:"Shared Read Blocks"`
		} `json:"Plan"`
	}
	if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+sql, args...).Scan(&plan); err != nil {
		return 0, fmt.Errorf("claim buffers: %w", err)
	}
	if len(plan) != 1 {
		return 0, fmt.Errorf("claim buffers: %d plans", len(plan))
	}
	return plan[0].Plan.Hit + plan[0].Plan.Read, nil
}
