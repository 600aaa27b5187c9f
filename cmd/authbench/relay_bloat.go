package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// bigDrainPhase measures the relay after a large backlog (issue 20): per
// round, a backlog of rows is drained by 1 and by 3 replicas (order
// alternated per round; fillBacklog vacuums the previous round's dead
// rows away and runs CHECKPOINT before each drain), and right after the
// 1-replica drain, with the same relay running and no manual VACUUM, rows
// are committed at rate for 10 s and their commit-to-stream latency taken.
// Before the relay vacuumed the outbox itself, the claims of that window
// walked the index entries of all the drained rows: p99 69–456 ms.
func bigDrainPhase(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, stream string, env []string, relayBin string,
	users []string, prot *protector, rows, rounds, rate, workers3 int) error {
	rates := map[int][]float64{}
	var ratios []float64
	var p99s []time.Duration
	for r := range rounds {
		order := []int{1, 3}
		if r%2 == 1 {
			order = []int{3, 1}
		}
		got := map[int]float64{}
		for _, k := range order {
			if _, err := fillBacklog(ctx, pool, stream, rows, users, prot); err != nil {
				return err
			}
			cpu0 := cpuByName("postgres", "nats-server")
			start := time.Now()
			renv := env
			if k == 3 && workers3 > 0 {
				renv = append(slices.Clip(env), "RELAY_WORKERS="+strconv.Itoa(workers3))
			}
			procs, err := startRelays(relayBin, renv, k)
			if err != nil {
				return err
			}
			for {
				var pending bool
				if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending')`).Scan(&pending); err != nil {
					stopRelays(procs)
					return err
				}
				if !pending {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			got[k] = float64(rows) / time.Since(start).Seconds()
			cpu1 := cpuByName("postgres", "nats-server")
			var relayCPU time.Duration
			for _, p := range procs {
				relayCPU += cpuOf(p.Process.Pid)
			}
			perK := func(d time.Duration) string { return ms(d * 1000 / time.Duration(rows)) }
			vacs := relayVacuums(ctx, k)
			claims := relaySum(ctx, k, "authevents_relay_batch_size_count")
			if k == 1 {
				lats, err := latencyRun(ctx, pool, js, stream, users, prot, rate, 10*time.Second)
				if err != nil {
					stopRelays(procs)
					return err
				}
				slices.Sort(lats)
				p99s = append(p99s, lats[min(len(lats)-1, len(lats)*99/100)])
			}
			stopRelays(procs)
			fmt.Printf("  %d replica(s): %.0f rows/s, %d VACUUMs of the outbox and %d claims during the drain; CPU per 1,000 rows: relays %s, postgres %s, nats-server %s\n",
				k, got[k], vacs, claims, perK(relayCPU), perK(cpu1["postgres"]-cpu0["postgres"]), perK(cpu1["nats-server"]-cpu0["nats-server"]))
		}
		rates[1], rates[3] = append(rates[1], got[1]), append(rates[3], got[3])
		ratios = append(ratios, got[3]/got[1])
		fmt.Printf("after %d rows, round %d (order %v): 1 replica %.0f rows/s, 3 replicas %.0f rows/s (%.2fx), then p99 %s at %d/s\n",
			rows, r+1, order, got[1], got[3], got[3]/got[1], ms(p99s[r]), rate)
	}
	slices.Sort(p99s)
	fmt.Printf("after a %d-row drain (no manual VACUUM): commit-to-stream p99 at %d/s in the 10 s after it = %s (median of rounds; goal <= 15 ms)\n",
		rows, rate, ms(p99s[len(p99s)/2]))
	fmt.Printf("%d-row drain: 1 replica %.0f rows/s, 3 replicas %.0f rows/s; 3 / 1 = %.2fx (median of per-round ratios; goal >= 0.9x)\n",
		rows, medianOf(rates[1]), medianOf(rates[3]), medianOf(ratios))
	return nil
}

// relayVacuums is how many VACUUMs the n relays of startRelays ran (their
// authevents_relay_outbox_vacuums_total{result="ok"}, summed).
func relayVacuums(ctx context.Context, n int) int {
	return relaySum(ctx, n, `authevents_relay_outbox_vacuums_total{result="ok"}`)
}

// relaySum sums metric over the n relays of startRelays.
func relaySum(ctx context.Context, n int, metric string) int {
	client := &http.Client{Timeout: 2 * time.Second}
	total := 0
	for i := range n {
		v, err := readGauge(ctx, client, target{metric: metric, url: "http://127.0.0.1:" + strconv.Itoa(19191+i)})
		if err == nil {
			total += int(v)
		}
	}
	return total
}
