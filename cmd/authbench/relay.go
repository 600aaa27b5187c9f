package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/relay"
)

// benchPayload returns a CloudEvent of the size the API writes (user.logged_in, ~530 bytes;
// user is a user id, a UUID as the API's).
func benchPayload(id uuid.UUID, user string) []byte {
	return []byte(`{"specversion":"1.0","id":"` + id.String() + `","source":"auth-service","type":"user.logged_in",` +
		`"time":"2026-11-28T12:00:00.000Z","subject":"` + user + `","datacontenttype":"application/json",` +
		`"serviceversion":"bench","environment":"bench","data":{"userId":"` + user + `","email":"someone@example.com",` +
		`"timestamp":"2026-11-28T12:00:00.000Z","ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}}`)
}

func benchRelay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	dbURL := fs.String("db", "", "database URL of an empty, migrated benchmark database")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS URL")
	relayBin := fs.String("relay-bin", "bin/relay", "relay binary")
	rows := fs.Int("rows", 100_000, "backlog size to drain")
	keys := fs.Int("keys", 20_000, "distinct ordering keys (users) in the backlog")
	rate := fs.Int("rate", 500, "events/s for the latency phase")
	latencyFor := fs.Duration("latency-d", 10*time.Second, "duration of the latency phase")
	rounds := fs.Int("rounds", 3, "rounds per phase (the median is reported)")
	bigRows := fs.Int("big-rows", 300_000, "backlog of the large-drain phase (issue 20: 3 vs 1 replica, latency right after); 0: skip it")
	bigOnly := fs.Bool("big-only", false, "run only the large-drain phase")
	workers3 := fs.Int("big-workers3", 0, "RELAY_WORKERS of each of the 3 replicas in the large-drain phase (0: the relay's default, as the 1 replica)")
	protect := fs.String("protect", protectOff, "personal fields: off (version 1 only), v1+v2 (both versions of each change, EVENTS_V1=true) or v2 (EVENTS_V1=false)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header()
	pool, err := postgres.Open(ctx, *dbURL, 8, postgres.Session{AppName: "authevents-bench", StatementTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	users := make([]uuid.UUID, *keys)
	userIDs := make([]string, *keys)
	for i := range users {
		users[i] = uuid.NewSHA1(uuid.NameSpaceOID, []byte("bench-relay-"+strconv.Itoa(i)))
		userIDs[i] = users[i].String()
	}
	prot, err := newProtector(ctx, pool, *protect, users)
	if err != nil {
		return err
	}
	sampleID := uuid.Must(uuid.NewV7())
	sample, err := prot.versionsOf(sampleID, "user.logged_in", benchPayload(sampleID, userIDs[0]))
	if err != nil {
		return err
	}
	var sizes []string
	for _, v := range sample {
		sizes = append(sizes, fmt.Sprintf("%s %d bytes", v.typ, len(v.body)))
	}
	fmt.Printf("relay: %d-row backlog over %d keys, protect %s: %d row(s) per change (%s), %d rounds\n\n",
		*rows, *keys, prot.mode, len(sample), strings.Join(sizes, ", "), *rounds)

	// 1. The physical limit: async JetStream publishes with message ids.
	var raw []float64
	for r := range *rounds {
		name := fmt.Sprintf("bench-raw-%d-%d", os.Getpid(), r)
		if _, err := relay.EnsureStream(ctx, js, relay.StreamConfig{Name: name, Subjects: []string{name + ".>"}, MaxAge: time.Hour, MaxMsgs: -1, MaxBytes: -1, Duplicates: relay.DefaultDuplicateWindow}); err != nil {
			return err
		}
		start := time.Now()
		futs := make([]jetstream.PubAckFuture, 0, *rows)
		for i := range *rows {
			id := uuid.Must(uuid.NewV7())
			msg := &nats.Msg{Subject: name + ".user.logged_in", Data: benchPayload(id, userIDs[i%*keys]), Header: nats.Header{}}
			msg.Header.Set(jetstream.MsgIDHeader, id.String())
			f, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second))
			if err != nil {
				return err
			}
			futs = append(futs, f)
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("raw publish: %w", err)
			}
		}
		raw = append(raw, float64(*rows)/time.Since(start).Seconds())
		js.DeleteStream(ctx, name)
	}

	stream := fmt.Sprintf("bench-relay-%d", os.Getpid())
	if _, err := relay.EnsureStream(ctx, js, relay.StreamConfig{Name: stream, Subjects: []string{stream + ".user.*"}, MaxAge: time.Hour, MaxMsgs: -1, MaxBytes: -1, Duplicates: relay.DefaultDuplicateWindow}); err != nil {
		return err
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), stream)
	env := append(os.Environ(), "DATABASE_URL="+*dbURL, "NATS_URL="+*natsURL, "STREAM_NAME="+stream,
		"STREAM_SUBJECTS="+stream+".user.*", "STREAM_MAX_MSGS=-1", "STREAM_MAX_BYTES=-1", "STREAM_MAX_AGE=1h", "LOG_LEVEL=warn")

	if *bigRows > 0 && *bigOnly {
		return bigDrainPhase(ctx, pool, js, stream, env, *relayBin, userIDs, prot, *bigRows, *rounds, 300, *workers3)
	}

	// 2. Drain a backlog inserted directly into the outbox.
	drain := map[int][]float64{}   // rows/s
	changes := map[int][]float64{} // changes/s (events as the API counts them)
	var peakRSS []int
	// CPU time per 1,000 rows drained, by process, for the scaling model.
	cpuPerK := map[string][]float64{}
	for _, replicas := range []int{1, 3} {
		for range *rounds {
			nChanges, err := fillBacklog(ctx, pool, stream, *rows, userIDs, prot)
			if err != nil {
				return err
			}
			start := time.Now()
			cpu0 := cpuByName("postgres", "nats-server")
			procs, err := startRelays(*relayBin, env, replicas)
			if err != nil {
				return err
			}
			peak := 0
			for {
				var pending bool
				if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending')`).Scan(&pending); err != nil {
					return err
				}
				for _, p := range procs {
					peak = max(peak, hwmKiB(p.Process.Pid))
				}
				if !pending {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start).Seconds()
			drain[replicas] = append(drain[replicas], float64(*rows)/elapsed)
			changes[replicas] = append(changes[replicas], float64(nChanges)/elapsed)
			cpu1 := cpuByName("postgres", "nats-server")
			var relayCPU time.Duration
			for _, p := range procs {
				relayCPU += cpuOf(p.Process.Pid)
			}
			stopRelays(procs)
			if replicas == 1 {
				k := float64(*rows) / 1000
				cpuPerK["relay"] = append(cpuPerK["relay"], relayCPU.Seconds()*1000/k)
				for _, name := range []string{"postgres", "nats-server"} {
					cpuPerK[name] = append(cpuPerK[name], (cpu1[name]-cpu0[name]).Seconds()*1000/k)
				}
			}
			if replicas == 1 {
				peakRSS = append(peakRSS, peak)
			}
		}
	}

	// 3. Commit-to-stream latency at a steady rate, one relay, woken by
	// NOTIFY as the API does it.
	procs, err := startRelays(*relayBin, env, 1)
	if err != nil {
		return err
	}
	defer stopRelays(procs)
	time.Sleep(500 * time.Millisecond) // let it provision and LISTEN
	var lats []time.Duration
	for range *rounds {
		l, err := latencyRun(ctx, pool, js, stream, userIDs, prot, *rate, *latencyFor)
		if err != nil {
			return err
		}
		lats = append(lats, l...)
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(float64(len(lats))*p))] }

	// 4. Idle: the same relay once traffic stops (it polls at its idle
	// interval; a busy loop shows thousands of transactions a second).
	// The idle backoff reaches RELAY_POLL_INTERVAL within 3 s; backends that
	// went idle flush their statistics up to 10 s later (PostgreSQL 15).
	time.Sleep(12 * time.Second)
	x0, err := xactCommits(ctx, pool)
	if err != nil {
		return err
	}
	const idleFor = 10 * time.Second
	time.Sleep(idleFor)
	x1, err := xactCommits(ctx, pool)
	if err != nil {
		return err
	}
	idleTPS := float64(x1-x0-2) / idleFor.Seconds() // -2: the two reads above

	rawMed := medianOf(raw)
	d1, d3 := medianOf(drain[1]), medianOf(drain[3])
	fmt.Printf("%-44s %10.0f msg/s   rounds %s\n", "raw JetStream async publish (no Postgres)", rawMed, fmtRates(raw))
	fmt.Printf("%-44s %10.0f rows/s  rounds %s\n", "relay drain, 1 replica", d1, fmtRates(drain[1]))
	fmt.Printf("%-44s %10.0f rows/s  rounds %s\n", "relay drain, 3 replicas", d3, fmtRates(drain[3]))
	if prot.on() {
		fmt.Printf("%-44s %10.0f changes/s  rounds %s\n", "relay drain, 1 replica ("+prot.mode+")", medianOf(changes[1]), fmtRates(changes[1]))
		fmt.Printf("%-44s %10.0f changes/s  rounds %s\n", "relay drain, 3 replicas ("+prot.mode+")", medianOf(changes[3]), fmtRates(changes[3]))
	}
	fmt.Printf("\ndrain / raw, 1 replica  = %.1f %% (goal >= 40 %%)\n", 100*d1/rawMed)
	fmt.Printf("drain / raw, 3 replicas = %.1f %%\n", 100*d3/rawMed)
	fmt.Printf("commit-to-stream latency at %d changes/s (%d messages): p50 %s, p95 %s, p99 %s (goal p99 <= 15 ms)\n",
		*rate, len(lats), ms(pct(0.50)), ms(pct(0.95)), ms(pct(0.99)))
	fmt.Printf("idle relay: %.1f database transactions/s (goal < 5)\n", idleTPS)
	rel, pg, ns := medianOf(cpuPerK["relay"]), medianOf(cpuPerK["postgres"]), medianOf(cpuPerK["nats-server"])
	fmt.Printf("CPU per 1,000 rows drained (1 replica, median): relay %.1f ms, postgres %.1f ms, nats-server %.1f ms, total %.1f ms\n", rel, pg, ns, rel+pg+ns)
	if prot.on() {
		per := float64(prot.perChange())
		fmt.Printf("CPU per 1,000 changes (%s, %g rows each): relay %.1f ms, postgres %.1f ms, nats-server %.1f ms, total %.1f ms\n",
			prot.mode, per, per*rel, per*pg, per*ns, per*(rel+pg+ns))
	}
	fmt.Printf("model: all on %d cores -> at most %.0f rows/s; each part on cores of its own -> relay %.0f rows/s per core, postgres %.0f, nats-server %.0f\n",
		runtime.NumCPU(), float64(runtime.NumCPU())*1e6/(rel+pg+ns), 1e6/rel, 1e6/pg, 1e6/ns)
	slices.Sort(peakRSS)
	fmt.Printf("relay peak RSS while draining: %.1f MB (median of rounds; goal < 100 MB)\n", float64(peakRSS[len(peakRSS)/2])/1024)
	if *bigRows > 0 {
		fmt.Println()
		return bigDrainPhase(ctx, pool, js, stream, env, *relayBin, userIDs, prot, *bigRows, *rounds, 300, *workers3)
	}
	return nil
}

// xactCommits is the benchmark database's committed transaction count
// (backends flush it at most once a second: read it over a long window).
func xactCommits(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT pg_stat_force_next_flush(), pg_stat_clear_snapshot(),
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())`).Scan(nil, nil, &n)
	return n, err
}

func fmtRates(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, ", ")
}
