package outbox

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LatencyBucketsMs are the upper bounds, in milliseconds, of the latency
// histogram kept per minute and type in outbox_counts.latency_ms; one more
// bucket after them holds everything slower (+Inf).
var LatencyBucketsMs = []float64{1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
	1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000}

// Tally is what one relay batch did, per event type: the durable counters
// RecordCounts adds to outbox_counts in the batch's own transaction. The
// zero value is ready to use; it is not safe for concurrent use.
type Tally struct {
	types map[string]*typeTally
}

type typeTally struct {
	published, refused, dead int64
	latency                  []int64
}

func (t *Tally) of(typ string) *typeTally {
	if t.types == nil {
		t.types = map[string]*typeTally{}
	}
	c := t.types[typ]
	if c == nil {
		c = &typeTally{latency: make([]int64, len(LatencyBucketsMs)+1)}
		t.types[typ] = c
	}
	return c
}

// Published counts a row JetStream acknowledged, latency after its
// created_at.
func (t *Tally) Published(typ string, latency time.Duration) {
	c := t.of(typ)
	c.published++
	ms := float64(latency) / float64(time.Millisecond)
	i, _ := slices.BinarySearch(LatencyBucketsMs, ms) // first bound >= ms; len = +Inf
	c.latency[i]++
}

// Refused counts a publish JetStream refused for the message itself.
func (t *Tally) Refused(typ string) { t.of(typ).refused++ }

// Dead counts a row that became dead.
func (t *Tally) Dead(typ string) { t.of(typ).dead++ }

// recordCountsSQL adds a batch's tallies to the rows of the current minute
// (database clock), one row per type, in type order: concurrent batches
// lock the rows they share in the same order, so they queue behind each
// other's commit (one round trip) and never deadlock.
const recordCountsSQL = `
	INSERT INTO outbox_counts AS c (minute, type, published, refused, dead, latency_ms)
	SELECT date_trunc('minute', now()), t.type, t.published, t.refused, t.dead,
	       ($5::int8[])[(t.i - 1) * $6 + 1 : t.i * $6]
	  FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) WITH ORDINALITY AS t(type, published, refused, dead, i)
	 ORDER BY t.type
	    ON CONFLICT (minute, type) DO UPDATE SET
	       published = c.published + excluded.published,
	       refused = c.refused + excluded.refused,
	       dead = c.dead + excluded.dead,
	       latency_ms = ARRAY(SELECT COALESCE(a, 0) + COALESCE(b, 0)
	                            FROM unnest(c.latency_ms, excluded.latency_ms) WITH ORDINALITY AS u(a, b, n) ORDER BY n)`

// RecordCounts adds t to the durable per-minute counters, in tx: the
// relay calls it in the transaction that deletes the published rows, so a
// row is counted exactly when its deletion commits (a rolled-back batch is
// counted by the batch that publishes its rows again). One statement
// whatever the batch; nothing when t is empty.
func RecordCounts(ctx context.Context, tx pgx.Tx, t *Tally) error {
	if t == nil || len(t.types) == 0 {
		return nil
	}
	types := make([]string, 0, len(t.types))
	for typ := range t.types {
		types = append(types, typ)
	}
	slices.Sort(types)
	nb := len(LatencyBucketsMs) + 1
	published, refused, dead := make([]int64, len(types)), make([]int64, len(types)), make([]int64, len(types))
	latency := make([]int64, 0, len(types)*nb)
	for i, typ := range types {
		c := t.types[typ]
		published[i], refused[i], dead[i] = c.published, c.refused, c.dead
		latency = append(latency, c.latency...)
	}
	if _, err := tx.Exec(ctx, recordCountsSQL, types, published, refused, dead, latency, nb); err != nil {
		return fmt.Errorf("record outbox counts: %w", err)
	}
	return nil
}

// TypeCounts are one event type's figures over a window.
type TypeCounts struct {
	Type      string `json:"type"`
	Published int64  `json:"published"`
	Refused   int64  `json:"refused"`
	Dead      int64  `json:"dead"`
}

// ReadCounts sums the counters of the minutes that began within window of
// now (database clock), per type, in type order.
func ReadCounts(ctx context.Context, q Querier, window time.Duration) ([]TypeCounts, error) {
	rows, err := q.Query(ctx, `
		SELECT type, sum(published)::int8, sum(refused)::int8, sum(dead)::int8
		  FROM outbox_counts
		 WHERE minute > now() - make_interval(secs => $1)
		 GROUP BY type ORDER BY type`, window.Seconds())
	if err != nil {
		return nil, fmt.Errorf("read outbox counts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TypeCounts])
	if err != nil {
		return nil, fmt.Errorf("read outbox counts: %w", err)
	}
	return out, nil
}

// Querier is what the readers need: a pool, a connection or a transaction.
type Querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// LatencyMinute is the latency histogram of one minute, all types merged.
type LatencyMinute struct {
	Minute time.Time
	Counts []int64 // per bucket of LatencyBucketsMs, then +Inf
}

// ReadLatency returns the merged latency histogram of each minute that
// began within window of now (database clock) and saw a publish, oldest
// first, and the database's current minute (the one being written).
func ReadLatency(ctx context.Context, q Querier, window time.Duration) (minutes []LatencyMinute, now time.Time, err error) {
	if err := q.QueryRow(ctx, `SELECT date_trunc('minute', now())`).Scan(&now); err != nil {
		return nil, now, fmt.Errorf("read latency: %w", err)
	}
	rows, err := q.Query(ctx, `
		SELECT minute, array_agg(latency_ms)
		  FROM outbox_counts
		 WHERE minute > now() - make_interval(secs => $1) AND published > 0
		 GROUP BY minute ORDER BY minute`, window.Seconds())
	if err != nil {
		return nil, now, fmt.Errorf("read latency: %w", err)
	}
	minutes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (LatencyMinute, error) {
		var m LatencyMinute
		var perType [][]int64
		if err := r.Scan(&m.Minute, &perType); err != nil {
			return m, err
		}
		m.Counts = make([]int64, len(LatencyBucketsMs)+1)
		for _, h := range perType {
			for i, n := range h {
				if i < len(m.Counts) {
					m.Counts[i] += n
				}
			}
		}
		return m, nil
	})
	if err != nil {
		return nil, now, fmt.Errorf("read latency: %w", err)
	}
	return minutes, now, nil
}

// LatencyQuantile estimates the q-quantile (0 < q < 1), in milliseconds,
// of a histogram over LatencyBucketsMs, interpolating linearly inside the
// bucket as Prometheus's histogram_quantile does; NaN when it is empty. A
// quantile in the +Inf bucket is reported as the last finite bound.
func LatencyQuantile(q float64, counts []int64) float64 {
	var total int64
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var below int64
	for i, n := range counts {
		if n == 0 || float64(below+n) < rank {
			below += n
			continue
		}
		if i >= len(LatencyBucketsMs) {
			return LatencyBucketsMs[len(LatencyBucketsMs)-1]
		}
		lower := 0.0
		if i > 0 {
			lower = LatencyBucketsMs[i-1]
		}
		return lower + (LatencyBucketsMs[i]-lower)*(rank-float64(below))/float64(n)
	}
	return LatencyBucketsMs[len(LatencyBucketsMs)-1]
}

// PendingBySubject counts the pending rows created within window of now, per
// subject, reading at most limit rows (a huge backlog is not counted row
// by row at every page refresh); capped reports that the limit was hit.
func PendingBySubject(ctx context.Context, q Querier, window time.Duration, limit int) (counts map[string]int64, capped bool, err error) {
	rows, err := q.Query(ctx, `
		SELECT subject, count(*) FROM (
		  SELECT subject FROM outbox
		   WHERE state = 'pending' AND created_at > now() - make_interval(secs => $1)
		   LIMIT $2) p
		 GROUP BY subject`, window.Seconds(), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("pending rows by subject: %w", err)
	}
	counts = map[string]int64{}
	var total int64
	var subject string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&subject, &n}, func() error {
		counts[subject] = n
		total += n
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("pending rows by subject: %w", err)
	}
	return counts, total > int64(limit), nil
}

// Pruner runs a statement: a pool or a connection.
type Pruner interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

// PruneCounts deletes the counters of minutes older than keep and returns
// how many rows went.
func PruneCounts(ctx context.Context, pool Pruner, keep time.Duration) (int64, error) {
	tag, err := pool.Exec(ctx, `DELETE FROM outbox_counts WHERE minute < now() - make_interval(secs => $1)`, keep.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune outbox counts: %w", err)
	}
	return tag.RowsAffected(), nil
}
