// Package ratelimit holds the Redis-backed rate limiters, shared by every
// API replica: a GCRA limiter per name (go-redis/redis_rate), and a
// once-per-window marker used to emit at most one event per window.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limit is requests per period with a burst; redis_rate's GCRA spreads
// them evenly.
type Limit = redis_rate.Limit

// ParseLimit reads "N/period", e.g. "10/1m", "300/1h", "5/s". The burst
// equals N.
func ParseLimit(s string) (Limit, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Limit{}, fmt.Errorf("rate limit %q: want N/period, e.g. 10/1m", s)
	}
	rate, err := strconv.Atoi(n)
	if err != nil || rate <= 0 {
		return Limit{}, fmt.Errorf("rate limit %q: N must be a positive integer", s)
	}
	switch per {
	case "s":
		per = "1s"
	case "m":
		per = "1m"
	case "h":
		per = "1h"
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("rate limit %q: bad period", s)
	}
	return Limit{Rate: rate, Burst: rate, Period: d}, nil
}

// Limiter applies named limits.
type Limiter struct {
	rdb    redis.UniversalClient
	rl     *redis_rate.Limiter
	prefix string
	limits map[string]Limit
}

// New returns a Limiter with the given limits by name.
func New(rdb redis.UniversalClient, prefix string, limits map[string]Limit) *Limiter {
	return &Limiter{rdb: rdb, rl: redis_rate.NewLimiter(rdb), prefix: prefix, limits: limits}
}

// Allow takes one token from the bucket name/key. It returns how long to
// wait when the request is over the limit (0 when allowed).
func (l *Limiter) Allow(ctx context.Context, name, key string) (time.Duration, error) {
	lim, ok := l.limits[name]
	if !ok {
		return 0, fmt.Errorf("ratelimit: unknown limit %q", name)
	}
	res, err := l.rl.Allow(ctx, l.prefix+name+":"+key, lim)
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", name, err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return max(res.RetryAfter, time.Second), nil
}

// Period returns the period of the named limit.
func (l *Limiter) Period(name string) time.Duration { return l.limits[name].Period }

// Once reports true the first time it is called for key within window,
// false afterwards until the window ends (SET NX with expiry).
func (l *Limiter) Once(ctx context.Context, key string, window time.Duration) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, l.prefix+"once:"+key, 1, window).Result()
	if err != nil {
		return false, fmt.Errorf("rate limit marker: %w", err)
	}
	return ok, nil
}
