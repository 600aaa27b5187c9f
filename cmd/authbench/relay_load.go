package main

// The relay benchmark's load: a backlog copied into the outbox in one
// statement, and changes committed at a steady rate and timed from their
// COMMIT to their arrival from the stream.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// fillBacklog inserts n rows (user.logged_in changes of users in turn, in
// the versions prot makes: n/2 changes for v1+v2) under stream's subjects
// in one statement, and returns the number of changes.
func fillBacklog(ctx context.Context, pool *pgxpool.Pool, stream string, n int, users []string, prot *protector) (int, error) {
	rows := make([][]any, 0, n)
	changes := 0
	for i := 0; len(rows) < n; i++ {
		id := uuid.Must(uuid.NewV7())
		user := users[i%len(users)]
		vs, err := prot.versionsOf(id, "user.logged_in", benchPayload(id, user))
		if err != nil {
			return 0, err
		}
		for _, v := range vs {
			rows = append(rows, []any{v.id, stream + "." + v.typ, string(v.body), user})
		}
		changes++
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"id", "subject", "payload", "ordering_key"}, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, fmt.Errorf("fill backlog: %w", err)
	}
	if _, err = pool.Exec(ctx, `VACUUM ANALYZE outbox`); err != nil {
		return 0, err
	}
	// The previous round's WAL is written out now, not during this drain
	// (docs/benchmarks.md, method note of issue 11); a role that may not
	// checkpoint skips it.
	pool.Exec(ctx, `CHECKPOINT`)
	return changes, nil
}

// latencyRun commits changes at rate for d (each in its own transaction,
// in the versions prot makes, then a debounced NOTIFY, as the API does) and
// measures, per message, from the return of COMMIT to its arrival from the
// stream.
func latencyRun(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, stream string, users []string, prot *protector, rate int, d time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	committed := map[string]time.Time{}
	var lats []time.Duration
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		id := m.Headers().Get(jetstream.MsgIDHeader)
		mu.Lock()
		if t, ok := committed[id]; ok {
			lats = append(lats, now.Sub(t))
			delete(committed, id)
		}
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer cc.Stop()
	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notifier := outbox.NewNotifier(pool, 5*time.Millisecond, quietLog())
	go notifier.Run(nctx)

	paced(int(d.Seconds()*float64(rate)), rate, nil, func(i int) {
		id := uuid.Must(uuid.NewV7())
		user := users[i%min(1000, len(users))]
		vs, err := prot.versionsOf(id, "user.logged_in", benchPayload(id, user))
		if err != nil {
			return
		}
		err = postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
			for _, v := range vs {
				if err := outbox.Append(ctx, tx, outbox.Message{ID: v.id, Subject: stream + "." + v.typ, Payload: v.body, OrderingKey: user}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return
		}
		now := time.Now()
		mu.Lock()
		for _, v := range vs {
			committed[v.id.String()] = now
		}
		mu.Unlock()
		notifier.Poke()
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(committed)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lats) == 0 {
		return nil, fmt.Errorf("no event reached the stream")
	}
	return lats, nil
}

// paced calls commit(i) for i from 0 to n-1, rate a second, at most 16 at
// once, and returns when every call has; at(i), when not nil, runs before
// commit(i) starts, in order (the failover benchmark kills a node there),
// and an error from it ends the run.
func paced(n, rate int, at func(i int) error, commit func(i int)) error {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 16)
	for i := range n {
		<-tick.C
		if at != nil {
			if err := at(i); err != nil {
				return err
			}
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			commit(i)
		})
	}
	return nil
}
