package consumer_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestOverlappingBatchesOfTwoReplicasApplyOnce: two replicas are handed
// overlapping batches at once (redeliveries of each other's events), in
// opposite orders, over users some of whom a user.deleted of the batch
// erases. No transaction deadlocks (locks are taken in key order), and
// each event is applied exactly once.
func TestOverlappingBatchesOfTwoReplicasApplyOnce(t *testing.T) {
	t.Parallel()
	for _, svc := range []struct {
		name    string
		handler func(*pgxpool.Pool) consumer.BatchHandler
		applied string // the number of events applied, once each
	}{
		{"analytics", func(p *pgxpool.Pool) consumer.BatchHandler { return analytics.New(p) }, `SELECT coalesce(sum(count), 0) FROM analytics_event_counts`},
		{"audit", func(p *pgxpool.Pool) consumer.BatchHandler { return audit.New(p) }, `SELECT count(*) FROM audit_log`},
	} {
		t.Run(svc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.New(t)
			users := make([]string, 400)
			for i := range users {
				users[i] = uuid.NewString()
			}
			ctx := context.Background()
			const rounds, perRound = 5, 1200
			for round := range rounds {
				var evs []*consumer.Event
				for i := range perRound {
					typ := authevents.EventUserLoggedIn
					if i%4 == 3 {
						typ = authevents.EventUserDeleted
					}
					evs = append(evs, event(t, typ, "2026-11-28T10:05:00.000Z", map[string]string{"userId": users[i%len(users)], "ip": "192.0.2.1"}))
				}
				// Replica A holds the first two thirds, B the last two,
				// backwards; both begin, then apply at the same moment.
				a := evs[:perRound*2/3]
				b := slices.Clone(evs[perRound/3:])
				slices.Reverse(b)
				var g errgroup.Group
				var ready sync.WaitGroup
				ready.Add(2)
				for _, batch := range [][]*consumer.Event{a, b} {
					h := svc.handler(pool)
					g.Go(func() error {
						return postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
							ready.Done()
							ready.Wait()
							return h.HandleBatch(ctx, tx, batch)
						})
					})
				}
				if err := g.Wait(); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			var n int
			if err := pool.QueryRow(ctx, svc.applied).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != rounds*perRound {
				t.Errorf("%s applied %d events, want each of the %d once", svc.name, n, rounds*perRound)
			}
			if svc.name == "audit" {
				var personal int
				var erased []string // those a user.deleted names
				for i := 3; i < len(users); i += 4 {
					erased = append(erased, users[i])
				}
				pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE ip <> '' AND user_id = ANY($1::uuid[])`, erased).Scan(&personal)
				if personal != 0 {
					t.Errorf("%d audit rows keep an ip after their user's deletion", personal)
				}
			}
		})
	}
}

// TestAnEventTwiceInABatchAppliesOnce: a late duplicate (the relay
// republished after the dedupe window: two messages, one event id) lands
// in the same batch as the original, and a redelivered batch follows:
// each service applies the event once.
func TestAnEventTwiceInABatchAppliesOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	ev := event(t, authevents.EventUserLoggedIn, "2026-11-28T10:05:00.000Z", map[string]string{"userId": uuid.NewString(), "ip": "192.0.2.1"})
	twin := *ev
	other := event(t, authevents.EventUserRegistered, "2026-11-28T10:06:00.000Z", map[string]string{"userId": uuid.NewString()})
	for _, h := range []consumer.BatchHandler{analytics.New(pool), audit.New(pool)} {
		for range 2 {
			if err := postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
				return h.HandleBatch(ctx, tx, []*consumer.Event{ev, other, &twin})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var counted, audited int
	pool.QueryRow(ctx, `SELECT coalesce(sum(count), 0) FROM analytics_event_counts`).Scan(&counted)
	pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&audited)
	if counted != 2 || audited != 2 {
		t.Errorf("counted %d, audited %d; want each of the 2 events once", counted, audited)
	}
}
