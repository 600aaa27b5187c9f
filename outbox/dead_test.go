package outbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/outbox"
)

// TestDeadRowErrorsSayWhatFailed: the operator's dead-row tools wrap their
// errors with what they were doing, so `authctl outbox dead ...` reports
// more than a bare driver message.
func TestDeadRowErrorsSayWhatFailed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	pool.Close() // every query now fails
	ids := []uuid.UUID{uuid.New()}
	if _, err := outbox.ListDead(ctx, pool, 10); err == nil || !strings.HasPrefix(err.Error(), "list dead outbox rows: ") {
		t.Errorf("ListDead on a closed pool = %v, want it to say it was listing dead outbox rows", err)
	}
	if _, err := outbox.RetryDead(ctx, pool, ids); err == nil || !strings.HasPrefix(err.Error(), "retry dead outbox rows: ") {
		t.Errorf("RetryDead on a closed pool = %v, want it to say it was retrying dead outbox rows", err)
	}
	if _, err := outbox.DiscardDead(ctx, pool, ids); err == nil || !strings.HasPrefix(err.Error(), "discard dead outbox rows: ") {
		t.Errorf("DiscardDead on a closed pool = %v, want it to say it was discarding dead outbox rows", err)
	}
}
