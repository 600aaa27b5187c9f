package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/outbox"
)

// dbTimeout bounds each database phase of a batch (claim, marking).
const dbTimeout = 10 * time.Second

// StatementTimeout is the server-side bound for the relay's statements,
// like the client's own deadline per database phase.
const StatementTimeout = dbTimeout

// IdleInTxTimeout is the server-side idle_in_transaction_session_timeout
// the relay's connections need. A batch transaction legitimately sits idle
// while its PubAcks arrive (up to publishTimeout plus a second), so the
// server ends it after publishTimeout + 10 s of silence: a relay cut off
// from Postgres mid-batch (partition, frozen host) releases its claimed
// rows within that time, and another replica publishes them, still inside
// the duplicate window.
func IdleInTxTimeout(publishTimeout time.Duration) time.Duration {
	return publishTimeout + dbTimeout
}

// batch claims up to limit rows from lane (anyLane: the whole outbox),
// publishes them through js (the worker's own) and marks them, in one
// transaction, and returns how many rows it claimed; busy reports a lane
// another claimer holds (nothing claimed).
func (r *Relay) batch(ctx context.Context, js jetstream.JetStream, lane, limit int) (n int, busy bool, err error) {
	// The claim may be interrupted by ctx (nothing is published yet). Once
	// rows are claimed the batch is not: it ends either committed (rows
	// marked) or rolled back (rows untouched).
	dbctx := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		return 0, false, ctx.Err()
	}
	claimCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var tx pgx.Tx
	var rows []outbox.Row
	if lane == anyLane {
		tx, rows, err = outbox.BeginClaim(claimCtx, r.pool, limit)
	} else {
		tx, rows, busy, err = outbox.BeginClaimLane(claimCtx, r.pool, limit, lane)
	}
	if err != nil {
		return 0, false, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(dbctx, dbTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	r.m.batchSize.Observe(float64(len(rows)))
	// Only a claim of the whole outbox that comes back short says the
	// outbox is drained: one lane's claim comes back short whenever that
	// lane runs low, or its keys' next rows wait for rows in flight, and
	// counting those made a 300,000-row drain run 10 VACUUMs where 3 were
	// due (TestADrainVacuumsAsItGoesNotAtEveryShortBatch).
	drained := lane == anyLane && len(rows) < limit
	if len(rows) == 0 {
		if drained {
			r.vac.deletedRows(0, true) // idle: clean up after the drain
		}
		return 0, busy, tx.Commit(claimCtx)
	}
	var tally outbox.Tally
	sent, failed, unavailable := r.publish(js, rows, &tally)
	// Marking gets a deadline of its own, however long the PubAcks took.
	qctx, cancelMark := context.WithTimeout(dbctx, dbTimeout)
	defer cancelMark()
	if err := outbox.Delete(qctx, tx, sent); err != nil {
		return 0, false, err
	}
	dead, err := outbox.Fail(qctx, tx, failed, r.cfg.MaxAttempts)
	if err != nil {
		return 0, false, err
	}
	for _, id := range dead {
		if i := slices.IndexFunc(rows, func(row outbox.Row) bool { return row.ID == id }); i >= 0 {
			tally.Dead(r.cfg.TypeLabel(rows[i].Subject))
		}
	}
	// The durable counters (the dashboard's figures) commit with the
	// marking, so each row is counted once, whichever replica sent it.
	if err := outbox.RecordCounts(qctx, tx, &tally); err != nil {
		return 0, false, err
	}
	if err := tx.Commit(qctx); err != nil {
		return 0, false, fmt.Errorf("commit: %w", err)
	}
	r.vac.deletedRows(len(sent), drained)
	for _, id := range dead {
		r.log.Error("outbox row is dead after repeated refusals", "id", id)
	}
	if unavailable {
		r.checkStream(ctx)
	} else if len(sent) > 0 {
		r.m.jsAvailable.Set(1)
	}
	if len(sent) == 0 && len(failed) == 0 {
		return len(rows), false, errors.New("no row of the batch reached JetStream")
	}
	return len(rows), false, nil
}
