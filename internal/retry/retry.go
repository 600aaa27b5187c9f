// Package retry is the one way the services wait between attempts: an
// exponential backoff with jitter, and a sleep that ends with its context.
// The relay, the consumers and the binaries' start-up loops use it, so
// that every wait watches its context and none hand-rolls its own curve.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is base * 2^(n-1) for attempt n, capped at Max, with ±Jitter
// (a fraction: 0.2 is ±20 %) applied after the cap.
type Backoff struct {
	Base, Max time.Duration
	Jitter    float64
}

// Exp returns the usual backoff: doubling from base to max, ±20 % jitter.
func Exp(base, maxD time.Duration) Backoff { return Backoff{Base: base, Max: maxD, Jitter: 0.2} }

// Delay returns the wait before attempt n+1 after n failures (n ≥ 1; a
// smaller n is taken as 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		d = time.Duration(float64(d) * (1 - b.Jitter + 2*b.Jitter*rand.Float64()))
	}
	return d
}

// Sleep waits d or until ctx ends, and reports whether the whole wait
// passed (false: ctx ended first).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Until calls fn until it succeeds, waiting b.Delay(attempt) after each
// failure; it returns nil once fn does, or ctx's error once ctx ends.
// onFail, when not nil, sees each failure (to log it, say).
func Until(ctx context.Context, b Backoff, fn func(ctx context.Context) error, onFail func(attempt int, err error)) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onFail != nil {
			onFail(attempt, err)
		}
		if !Sleep(ctx, b.Delay(attempt)) {
			return ctx.Err()
		}
	}
}
