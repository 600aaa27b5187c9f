package account

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres"
)

// PrunerConfig configures the retention of ended sessions.
type PrunerConfig struct {
	// Retention is how long a session row is kept after it ended
	// (revoked, or past its absolute lifetime).
	Retention time.Duration
	// Interval is the pause between rounds when there is nothing to do.
	Interval time.Duration
	// Batch bounds each DELETE (default 1000).
	Batch int
}

// Pruner deletes session rows that ended longer than Retention ago, so the
// sessions table does not grow without bound, and expired one-time links.
type Pruner struct {
	pool   *pgxpool.Pool
	cfg    PrunerConfig
	log    *slog.Logger
	now    func() time.Time
	pruned func(n int)
}

// NewPruner returns a Pruner; pruned (may be nil) is told every batch's
// count, e.g. to feed a counter.
func NewPruner(pool *pgxpool.Pool, cfg PrunerConfig, log *slog.Logger, pruned func(n int)) *Pruner {
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if pruned == nil {
		pruned = func(int) {}
	}
	return &Pruner{pool: pool, cfg: cfg, log: log.With("component", "session_pruner"), now: time.Now, pruned: pruned}
}

// PruneOnce deletes ended sessions in batches until a batch comes back
// short, and returns how many it deleted. It also deletes the one-time
// links that expired: they can never be used, and their rows hold an
// address.
func (p *Pruner) PruneOnce(ctx context.Context) (int, error) {
	cutoff := p.now().Add(-p.cfg.Retention)
	total, err := p.batches(ctx, func(ctx context.Context) (int, error) {
		return postgres.PruneSessions(ctx, p.pool, cutoff, p.cfg.Batch)
	}, p.pruned)
	if err != nil {
		return total, err
	}
	links, err := p.batches(ctx, func(ctx context.Context) (int, error) {
		return postgres.PruneOneTimes(ctx, p.pool, p.now(), p.cfg.Batch)
	}, func(int) {})
	if links > 0 {
		p.log.InfoContext(ctx, "pruned expired links", "count", links)
	}
	return total, err
}

// batches runs prune until a batch comes back short, telling counted each
// batch's count, and returns the total.
func (p *Pruner) batches(ctx context.Context, prune func(context.Context) (int, error), counted func(int)) (int, error) {
	total := 0
	for {
		bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := prune(bctx)
		cancel()
		if n > 0 {
			counted(n)
			total += n
		}
		if err != nil || n < p.cfg.Batch {
			return total, err
		}
	}
}

// Run prunes at once and then every Interval (with ±10 % jitter, so
// replicas drift apart) until ctx ends. Errors are logged and the loop
// carries on.
func (p *Pruner) Run(ctx context.Context) {
	for {
		n, err := p.PruneOnce(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "pruning ended sessions failed", "err", err, "pruned", n)
		} else if n > 0 {
			p.log.InfoContext(ctx, "pruned ended sessions", "count", n)
		}
		wait := p.cfg.Interval + time.Duration((rand.Float64()-0.5)*0.2*float64(p.cfg.Interval))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
