package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
)

// benchFailover measures what the production topology's NATS side does
// when a node dies: three nats-servers in a JetStream cluster, two relays
// publishing to a stream of 3 replicas (STREAM_REPLICAS=3) while events are
// committed at a steady rate, and the stream's leader SIGKILLed mid-run.
// Reported per round: the longest commit-to-stream latency of the events
// committed around the kill (what a consumer sees as a pause), the longest
// gap between stored messages, and whether every committed event is in the
// stream exactly once.
func benchFailover(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	dbURL := fs.String("db", "", "database URL of a migrated benchmark database")
	natsBin := fs.String("nats-bin", "bin/nats-server", "nats-server binary (the version go.mod pins)")
	relayBin := fs.String("relay-bin", "bin/relay", "relay binary")
	rate := fs.Int("rate", 200, "events/s committed")
	d := fs.Duration("d", 20*time.Second, "duration of each round; the leader is killed at a third")
	rounds := fs.Int("rounds", 3, "rounds (a fresh cluster each)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header()
	pool, err := postgres.Open(ctx, *dbURL, 8, postgres.Session{AppName: "authevents-bench", StatementTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer pool.Close()
	fmt.Printf("failover: 3 nats-servers, stream R3, 2 relays, %d events/s for %s, stream leader SIGKILLed at %s, %d rounds\n\n",
		*rate, *d, (*d / 3).Round(time.Millisecond), *rounds)
	var stalls, gaps []float64
	for round := range *rounds {
		r, err := failoverRound(ctx, pool, *natsBin, *relayBin, *dbURL, *rate, *d, round)
		if err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		fmt.Printf("round %d: first event on the new R3 stream after %s; %d committed, %d in stream, %d missing, %d duplicates; latency p50 %s before the kill; longest after it %s; longest gap between stored messages %s\n",
			round+1, r.warmUp.Round(time.Millisecond), r.committed, r.stored-1, r.missing, r.duplicates, ms(r.p50Before), ms(r.maxAfter), ms(r.maxGap))
		stalls = append(stalls, r.maxAfter.Seconds())
		gaps = append(gaps, r.maxGap.Seconds())
	}
	fmt.Printf("\nmedian: longest commit-to-stream latency after the leader's death %.2f s, longest gap %.2f s\n", medianOf(stalls), medianOf(gaps))
	return nil
}

type failoverResult struct {
	committed, stored, missing, duplicates int
	warmUp, p50Before, maxAfter, maxGap    time.Duration
}

func failoverRound(ctx context.Context, pool *pgxpool.Pool, natsBin, relayBin, dbURL string, rate int, d time.Duration, round int) (failoverResult, error) {
	var res failoverResult
	dir, err := os.MkdirTemp("", "authbench-failover-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cluster, err := startNATSCluster(natsBin, dir)
	if err != nil {
		return res, err
	}
	defer cluster.stop()
	urls := strings.Join(cluster.urls(), ",")
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	stream := fmt.Sprintf("bench-failover-%d-%d", os.Getpid(), round)
	subject := stream + ".user.logged_in"
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "NATS_URL="+urls, "STREAM_NAME="+stream,
		"STREAM_SUBJECTS="+stream+".user.*", "STREAM_REPLICAS=3", "STREAM_MAX_AGE=1h", "LOG_LEVEL=warn")
	relays, err := startRelays(relayBin, env, 2)
	if err != nil {
		return res, err
	}
	defer stopRelays(relays)
	// Warm up: one event through, so the relays have provisioned the R3
	// stream and are publishing before the clock starts.
	warm := uuid.Must(uuid.NewV7())
	if err := postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
		return outbox.Append(ctx, tx, outbox.Message{ID: warm, Subject: subject, Payload: benchPayload(warm, "warm-up")})
	}); err != nil {
		return res, err
	}
	start := time.Now()
	for {
		info, err := js.Stream(ctx, stream)
		if err == nil && info.CachedInfo().State.Msgs > 0 {
			break
		}
		if time.Since(start) > time.Minute {
			return res, fmt.Errorf("no event reached the stream within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.warmUp = time.Since(start)

	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notifier := outbox.NewNotifier(pool, 5*time.Millisecond, quietLog())
	go notifier.Run(nctx)
	var mu sync.Mutex
	committed := map[string]time.Time{}
	var killedAt time.Time
	n := int(d.Seconds() * float64(rate))
	killLeader := func(i int) error {
		if i != n/3 {
			return nil
		}
		info, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if err := cluster.kill(info.CachedInfo().Cluster.Leader); err != nil {
			return err
		}
		killedAt = time.Now()
		return nil
	}
	err = paced(n, rate, killLeader, func(i int) {
		id := uuid.Must(uuid.NewV7())
		user := "fo-" + strconv.Itoa(i%500)
		err := postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
			return outbox.Append(ctx, tx, outbox.Message{ID: id, Subject: subject, Payload: benchPayload(id, user), OrderingKey: user})
		})
		if err != nil {
			return
		}
		mu.Lock()
		committed[id.String()] = time.Now()
		mu.Unlock()
		notifier.Poke()
	})
	if err != nil {
		return res, err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		var pending bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE subject = $1)`, subject).Scan(&pending); err != nil {
			return res, err
		}
		if !pending {
			break
		}
		if time.Now().After(deadline) {
			return res, errors.New("outbox not drained within 2 minutes of the end")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Read the stream back: each message's stored time against its commit.
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return res, err
	}
	seen := map[string]int{}
	var stamps []time.Time
	var before []time.Duration
	for len(stamps) < len(committed)+100 {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return res, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return res, err
			}
			id := m.Headers().Get(jetstream.MsgIDHeader)
			seen[id]++
			stamps = append(stamps, md.Timestamp)
			if t, ok := committed[id]; ok {
				lat := md.Timestamp.Sub(t)
				if t.Before(killedAt) {
					before = append(before, lat)
				} else {
					res.maxAfter = max(res.maxAfter, lat)
				}
			}
		}
		if got == 0 {
			break
		}
	}
	res.committed, res.stored = len(committed), len(stamps)
	for id := range committed {
		switch seen[id] {
		case 0:
			res.missing++
		case 1:
		default:
			res.duplicates += seen[id] - 1
		}
	}
	slices.SortFunc(stamps, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(stamps); i++ {
		res.maxGap = max(res.maxGap, stamps[i].Sub(stamps[i-1]))
	}
	slices.Sort(before)
	if len(before) > 0 {
		res.p50Before = before[len(before)/2]
	}
	return res, nil
}
