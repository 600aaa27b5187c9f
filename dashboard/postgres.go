package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/outbox"
)

// relayAppName is the relay's application_name (cmd/relay).
const relayAppName = "authevents-relay"

// readPostgres fills the panels whose figures live in PostgreSQL: events
// per type, publish latency and the outbox.
func readPostgres(ctx context.Context, pool *pgxpool.Pool, ov *Overview) error {
	ev, err := readEvents(ctx, pool)
	if err != nil {
		return err
	}
	lat, err := readLatency(ctx, pool)
	if err != nil {
		return err
	}
	ob, err := readOutbox(ctx, pool)
	if err != nil {
		return err
	}
	ov.Events, ov.Latency, ov.Outbox = ev, lat, ob
	return nil
}

// readEvents is panel 1: the relay's durable counters over Window, plus
// the rows still pending, per type. Every type of the domain has a row.
func readEvents(ctx context.Context, pool *pgxpool.Pool) (*Events, error) {
	counts, err := outbox.ReadCounts(ctx, pool, Window)
	if err != nil {
		return nil, err
	}
	pending, capped, err := outbox.PendingBySubject(ctx, pool, Window, PendingCountLimit)
	if err != nil {
		return nil, err
	}
	known := authevents.EventTypes()
	byType := map[string]*TypeEvents{}
	get := func(typ string) *TypeEvents {
		if byType[typ] == nil {
			byType[typ] = &TypeEvents{Type: typ}
		}
		return byType[typ]
	}
	for _, typ := range known {
		get(typ)
	}
	for _, c := range counts {
		te := get(c.Type)
		te.Published, te.Failed, te.Dead = c.Published, c.Refused, c.Dead
	}
	for subject, n := range pending {
		get(authevents.TypeOfSubject(subject)).Pending += n
	}
	ev := &Events{WindowSeconds: Window.Seconds(), PendingCapped: capped}
	for _, te := range byType {
		te.Count = te.Published + te.Dead + te.Pending
		ev.Types = append(ev.Types, *te)
	}
	// Known types first, in the order of the domain, then any other.
	rank := func(typ string) int {
		if i := slices.Index(known, typ); i >= 0 {
			return i
		}
		return len(known)
	}
	slices.SortFunc(ev.Types, func(a, b TypeEvents) int {
		return cmp.Or(rank(a.Type)-rank(b.Type), strings.Compare(a.Type, b.Type))
	})
	return ev, nil
}

// readLatency is panel 2: the p95 of the last currentMinutes minutes and
// one point per minute of the last hour.
func readLatency(ctx context.Context, pool *pgxpool.Pool) (*Latency, error) {
	minutes, now, err := outbox.ReadLatency(ctx, pool, SparklineWindow)
	if err != nil {
		return nil, err
	}
	lat := &Latency{CurrentMinutes: currentMinutes}
	current := make([]int64, len(outbox.LatencyBucketsMs)+1)
	byMinute := map[time.Time]outbox.LatencyMinute{}
	for _, m := range minutes {
		byMinute[m.Minute.UTC()] = m
		if now.Sub(m.Minute) < currentMinutes*time.Minute {
			for i, n := range m.Counts {
				current[i] += n
			}
		}
	}
	for i := 59; i >= 0; i-- {
		minute := now.Add(-time.Duration(i) * time.Minute).UTC()
		p := LatencyPoint{Minute: minute}
		if m, ok := byMinute[minute]; ok {
			p.P95Ms = quantile(m.Counts)
			for _, n := range m.Counts {
				p.Published += n
			}
		}
		lat.Minutes = append(lat.Minutes, p)
	}
	lat.P95Ms = quantile(current)
	return lat, nil
}

func quantile(counts []int64) *float64 {
	q := outbox.LatencyQuantile(0.95, counts)
	if math.IsNaN(q) {
		return nil
	}
	q = math.Round(q*100) / 100
	return &q
}

// readOutbox is panel 5: the outbox's backlog, dead and parked rows, and
// the relay replicas.
func readOutbox(ctx context.Context, pool *pgxpool.Pool) (*Outbox, error) {
	stats, err := outbox.ReadStats(ctx, pool)
	if err != nil {
		return nil, err
	}
	ob := &Outbox{Stats: stats}
	// Each relay process holds one connection LISTENing for the outbox
	// NOTIFY for as long as it runs: counting those counts the replicas.
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_stat_activity
		 WHERE datname = current_database() AND application_name = $1 AND query ILIKE 'LISTEN %'`,
		relayAppName).Scan(&ob.RelayReplicas); err != nil {
		return nil, fmt.Errorf("relay connections: %w", err)
	}
	return ob, nil
}
