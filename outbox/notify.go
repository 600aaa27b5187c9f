package outbox

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the Postgres channel the relay LISTENs on.
const NotifyChannel = "authevents_outbox"

// Notifier wakes relays after transactions that appended rows commit. It is
// sent from the application, not a per-row trigger, and debounced: at most
// one NOTIFY per interval however many commits happen, so it never
// serializes writers (a trigger's NOTIFY takes a global lock at commit).
// Relays poll as well, so a lost or unsupported NOTIFY (e.g. behind
// PgBouncer in transaction mode) only adds latency.
type Notifier struct {
	pool     *pgxpool.Pool
	interval time.Duration
	poke     chan struct{}
	log      *slog.Logger
}

// NewNotifier returns a Notifier; call Run to start it.
func NewNotifier(pool *pgxpool.Pool, interval time.Duration, log *slog.Logger) *Notifier {
	return &Notifier{pool: pool, interval: interval, poke: make(chan struct{}, 1), log: log.With("component", "outbox-notifier")}
}

// Poke asks for a NOTIFY soon. It never blocks.
func (n *Notifier) Poke() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// Run sends NOTIFYs until ctx ends. It holds one connection of the pool
// for itself, so a NOTIFY never queues behind the transactions it
// announces.
func (n *Notifier) Run(ctx context.Context) {
	var conn *pgxpool.Conn
	defer func() {
		if conn != nil {
			conn.Release()
		}
	}()
	// The NOTIFY that answers a poke goes at once, or interval after the
	// previous one if that was less than interval ago. Pokes further
	// apart than interval (a few logins a second) thus cost no timer
	// wake-up between them, only the NOTIFY.
	var last time.Time
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.poke:
		}
		if d := n.interval - time.Since(last); d > 0 {
			wait.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-wait.C:
			}
		}
		nctx, cancel := context.WithTimeout(ctx, time.Second)
		err := func() error {
			if conn == nil {
				c, err := n.pool.Acquire(nctx)
				if err != nil {
					return err
				}
				conn = c
			}
			_, err := conn.Exec(nctx, `SELECT pg_notify($1, '')`, NotifyChannel)
			if err != nil {
				conn.Release()
				conn = nil
			}
			return err
		}()
		cancel()
		if err != nil && ctx.Err() == nil {
			n.log.Warn("outbox notify failed; relays will poll", "err", err)
		}
		last = time.Now()
	}
}
