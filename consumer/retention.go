package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Retention says how long the consumer tables keep their rows.
//
// processed_events is what makes effects idempotent: a record must outlive
// every possible redelivery of its event. An event can be delivered again as
// long as it is stored in the stream (STREAM_MAX_AGE, 7 days), republished
// by the relay after the dedupe window (STREAM_DUPLICATE_WINDOW) as a new
// message that is kept MaxAge again, and replayed from the dead-letter
// stream (30 days), which republishes it to every consumer of its subject,
// including those that had processed it. Hence 31 days by default.
type Retention struct {
	Processed time.Duration // processed_events by processed_at (CONSUMER_RETENTION, 744h)
	Failures  time.Duration // consumer_failures by updated_at (CONSUMER_FAILURES_RETENTION, 168h)
}

// DefaultRetention returns the retention of cmd/consumer and authctl prune
// when their variables are unset.
func DefaultRetention() Retention {
	return Retention{Processed: 31 * 24 * time.Hour, Failures: 7 * 24 * time.Hour}
}

// expiredLeaseGrace is how long an expired lease row is kept (for
// inspection) before it is pruned; an expired lease is already void.
const expiredLeaseGrace = time.Hour

// PruneTarget is one table's retention rule: rows matching Where (with
// Args as $1, $2, …) are deleted.
type PruneTarget struct {
	Table string
	Where string
	Args  []any
}

// PruneTargets are the retention rules of the shared consumer tables for
// one durable consumer, or for all of them when durable is "" (authctl).
func PruneTargets(durable string, r Retention) []PruneTarget {
	scope := func(where string, args ...any) (string, []any) {
		if durable == "" {
			return where, args
		}
		return where + fmt.Sprintf(" AND consumer = $%d", len(args)+1), append(args, durable)
	}
	var out []PruneTarget
	add := func(table, where string, args ...any) {
		w, a := scope(where, args...)
		out = append(out, PruneTarget{Table: table, Where: w, Args: a})
	}
	if r.Processed > 0 {
		add("processed_events", "processed_at < now() - $1::interval", r.Processed)
	}
	if r.Failures > 0 {
		add("consumer_failures", "updated_at < now() - $1::interval", r.Failures)
	}
	add("consumer_leases", "expires_at < now() - $1::interval", expiredLeaseGrace)
	return out
}

// Pruner deletes expired rows in bounded batches, each statement with its
// own deadline, so pruning never holds long locks or a long transaction.
type Pruner struct {
	Pool    *pgxpool.Pool
	Batch   int           // rows per DELETE (1000)
	Timeout time.Duration // per statement (10s)
	Pruned  *prometheus.CounterVec
}

// Prune deletes (or, with dryRun, counts) the rows of each target and
// returns the number per table.
func (p *Pruner) Prune(ctx context.Context, targets []PruneTarget, dryRun bool) (map[string]int64, error) {
	batch, timeout := p.Batch, p.Timeout
	if batch <= 0 {
		batch = 1000
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	out := map[string]int64{}
	for _, t := range targets {
		out[t.Table] += 0
		if dryRun {
			qctx, cancel := context.WithTimeout(ctx, timeout)
			var n int64
			err := p.Pool.QueryRow(qctx, `SELECT count(*) FROM `+t.Table+` WHERE `+t.Where, t.Args...).Scan(&n)
			cancel()
			if err != nil {
				return out, fmt.Errorf("count expired %s: %w", t.Table, err)
			}
			out[t.Table] += n
			continue
		}
		// ctid batches: the sub-select is bounded, so is each DELETE.
		sql := fmt.Sprintf(`DELETE FROM %s WHERE ctid = ANY (ARRAY (SELECT ctid FROM %s WHERE %s LIMIT %d))`, t.Table, t.Table, t.Where, batch)
		for {
			qctx, cancel := context.WithTimeout(ctx, timeout)
			tag, err := p.Pool.Exec(qctx, sql, t.Args...)
			cancel()
			if err != nil {
				return out, fmt.Errorf("prune %s: %w", t.Table, err)
			}
			n := tag.RowsAffected()
			out[t.Table] += n
			if p.Pruned != nil && n > 0 {
				p.Pruned.WithLabelValues(t.Table).Add(float64(n))
			}
			if n < int64(batch) || ctx.Err() != nil {
				break
			}
		}
	}
	return out, nil
}

// NewPrunedCounter registers authevents_consumer_pruned_rows_total{table}.
func NewPrunedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_pruned_rows_total",
		Help: "Rows deleted by retention, by table."}, []string{"table"})
	reg.MustRegister(c)
	return c
}

// Pruning is what a handler that owns tables of its own offers: the
// consumer running it prunes them with its shared tables.
type Pruning interface {
	PruneTargets() []PruneTarget
}

// prune runs every PruneInterval (with jitter-free ticks: the work is
// idempotent and replicas racing for it only share it) until ctx ends.
func (c *Consumer) prune(ctx context.Context) {
	targets := PruneTargets(c.cfg.Durable, c.cfg.Retention)
	if p, ok := c.h.(Pruning); ok {
		targets = append(targets, p.PruneTargets()...)
	}
	pr := &Pruner{Pool: c.pool, Batch: c.cfg.PruneBatch, Timeout: c.cfg.DBTimeout, Pruned: c.m.pruned}
	t := time.NewTicker(c.cfg.PruneInterval)
	defer t.Stop()
	for {
		if n, err := pr.Prune(ctx, targets, false); err != nil && ctx.Err() == nil {
			c.log.Warn("retention pruning failed; will try again", "err", err, "pruned", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
