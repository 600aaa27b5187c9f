package relay

import (
	"context"
	"time"

	"github.com/authevents/authevents/internal/retry"
	"github.com/authevents/authevents/outbox"
)

// listenBackoff spaces the LISTEN connection's reconnects.
var listenBackoff = retry.Exp(100*time.Millisecond, 5*time.Second)

// listen turns NOTIFYs on the outbox channel into wake-ups, reconnecting
// with backoff; polling covers any gap.
func (r *Relay) listen(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, func() { attempt = 0 })
		if ctx.Err() != nil {
			return
		}
		attempt++
		r.log.Debug("outbox listener reconnecting", "err", err)
		retry.Sleep(ctx, listenBackoff.Delay(attempt))
	}
}

// listenOnce holds one LISTEN connection until it fails or ctx ends;
// listening is called once LISTEN is set up.
func (r *Relay) listenOnce(ctx context.Context, listening func()) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+outbox.NotifyChannel); err != nil {
		return err
	}
	defer func() {
		// Bounded: on a silent connection (partition) an unbounded
		// UNLISTEN kept the connection acquired, and pool.Close, hence
		// shutdown, waited for it forever. A connection that does not
		// answer is closed instead of reused.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "UNLISTEN *"); err != nil {
			conn.Conn().Close(uctx)
		}
	}()
	listening()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		r.poke()
	}
}
