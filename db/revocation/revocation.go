// Package revocation is the Redis denylist of revoked access tokens (by
// jti) and revoked sessions (by session id). PostgreSQL stays the source of
// truth for sessions; this is the fast check every authenticated request
// makes. Each entry expires no earlier than the tokens it blocks.
package revocation

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Denylist stores revocations under a key prefix.
type Denylist struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns a Denylist writing keys "<prefix>deny:sid:<id>" and
// "<prefix>deny:jti:<id>".
func New(rdb redis.UniversalClient, prefix string) *Denylist {
	return &Denylist{rdb: rdb, prefix: prefix}
}

func (d *Denylist) sidKey(id uuid.UUID) string { return d.prefix + "deny:sid:" + id.String() }
func (d *Denylist) jtiKey(id uuid.UUID) string { return d.prefix + "deny:jti:" + id.String() }

// RevokeSessions denies every access token of the sessions for ttl, and
// the single access token jti (uuid.Nil for none). One round trip.
func (d *Denylist) RevokeSessions(ctx context.Context, ttl time.Duration, jti uuid.UUID, sessions ...uuid.UUID) error {
	if ttl < time.Second {
		ttl = time.Second
	}
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range sessions {
			p.Set(ctx, d.sidKey(s), 1, ttl)
		}
		if jti != uuid.Nil {
			p.Set(ctx, d.jtiKey(jti), 1, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("denylist write: %w", err)
	}
	return nil
}

// Revoked reports whether the session or the token is denied. One
// round trip (EXISTS over both keys).
func (d *Denylist) Revoked(ctx context.Context, session, jti uuid.UUID) (bool, error) {
	n, err := d.rdb.Exists(ctx, d.sidKey(session), d.jtiKey(jti)).Result()
	if err != nil {
		return false, fmt.Errorf("denylist read: %w", err)
	}
	return n > 0, nil
}

// Ping checks the connection, for readiness.
func (d *Denylist) Ping(ctx context.Context) error { return d.rdb.Ping(ctx).Err() }
