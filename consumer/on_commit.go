package consumer

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres"
)

// OnCommit runs fn after tx commits, and never if it rolls back: an
// effect outside the database (a metric) of a batch that fails and is
// bisected, or retried, then happens once, for the transaction that
// commits. tx is one WithTx opened (the consumer's batch transaction);
// for any other there is no commit to wait for, and fn runs at once.
func OnCommit(tx pgx.Tx, fn func()) {
	if ct, ok := tx.(*commitTx); ok {
		ct.after = append(ct.after, fn)
		return
	}
	fn()
}

// WithTx is postgres.WithTx whose fn may defer work to after the commit
// (OnCommit). The consumer applies each batch in one.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	var after []func()
	err := postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
		ct := &commitTx{Tx: tx}
		err := fn(ct)
		after = ct.after
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

// commitTx is a transaction that holds what runs after its commit.
type commitTx struct {
	pgx.Tx
	after []func()
}
