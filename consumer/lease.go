package consumer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres"
)

// ErrClaimed is returned by a handler when another replica holds the lease
// of the event: the message is retried later without spending an attempt.
var ErrClaimed = errors.New("event claimed by another replica")

// NewOwner returns a lease owner name unique to this handler instance:
// host, pid and a random suffix.
func NewOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Claim takes the lease of consumer's effect for eventID for ttl and
// reports whether owner holds it now. It succeeds when nobody holds it,
// when owner already does, or when the holder's lease expired (the holder
// crashed or hung): the INSERT … ON CONFLICT is one atomic statement, so of
// two replicas racing for one event exactly one wins.
//
// Claim does not replace Once: after claiming, check that the event was not
// processed meanwhile (a holder may have finished and released just before).
func Claim(ctx context.Context, q postgres.Querier, consumer string, eventID uuid.UUID, owner string, ttl time.Duration) (bool, error) {
	var got string
	err := q.QueryRow(ctx, `
		INSERT INTO consumer_leases (consumer, event_id, owner, expires_at) VALUES ($1, $2, $3, now() + $4::interval)
		ON CONFLICT (consumer, event_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE consumer_leases.owner = excluded.owner OR consumer_leases.expires_at < now()
		RETURNING owner`, consumer, eventID, owner, ttl).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim event: %w", err)
	}
	return true, nil
}

// Release gives up owner's lease of eventID (nothing if owner lost it).
func Release(ctx context.Context, q postgres.Querier, consumer string, eventID uuid.UUID, owner string) error {
	if _, err := q.Exec(ctx, `DELETE FROM consumer_leases WHERE consumer = $1 AND event_id = $2 AND owner = $3`, consumer, eventID, owner); err != nil {
		return fmt.Errorf("release event: %w", err)
	}
	return nil
}
