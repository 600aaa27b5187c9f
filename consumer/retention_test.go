package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/internal/testenv"
)

// seedExpired fills the consumer tables with rows past and within their
// retention, and returns the expected rows left per table after pruning
// for the security consumer.
func seedExpired(t *testing.T, e *env) map[string]int {
	t.Helper()
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for i := range 20 {
		exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('security', $1, now() - interval '2 days' - $2::interval)`, uuid.New(), time.Duration(i)*time.Minute)
	}
	for range 5 { // another consumer's: not the security consumer's to prune
		exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('audit-log', $1, now() - interval '2 days')`, uuid.New())
	}
	for range 3 {
		exec(`INSERT INTO processed_events (consumer, event_id) VALUES ('security', $1)`, uuid.New())
	}
	for i := range 5 {
		age := "2 days"
		if i == 0 {
			age = "1 minute"
		}
		exec(`INSERT INTO consumer_failures (consumer, stream, stream_seq, failures, last_error, updated_at) VALUES ('security', 's', $1, 1, 'x', now() - $2::interval)`, i, age)
	}
	for i := range 3 {
		exp := "now() - interval '2 hours'"
		if i == 0 {
			exp = "now() + interval '1 minute'"
		}
		exec(`INSERT INTO consumer_leases (consumer, event_id, owner, expires_at) VALUES ('security', $1, 'o', `+exp+`)`, uuid.New())
	}
	for i := range 8 {
		at := time.Now().Add(-10 * 24 * time.Hour)
		if i < 2 {
			at = time.Now().Add(-time.Hour)
		}
		exec(`INSERT INTO security_failed_logins (event_id, email, ip, at) VALUES ($1, 'x@example.com', '192.0.2.1', $2)`, uuid.New(), at)
	}
	for i := range 4 {
		b := time.Now().Add(-10 * 24 * time.Hour).Add(time.Duration(i) * time.Hour)
		if i == 0 {
			b = time.Now().Truncate(time.Hour)
		}
		exec(`INSERT INTO security_alert_marks (rule, key, bucket) VALUES ('failed_logins', 'x@example.com', $1)`, b)
	}
	return map[string]int{"processed_events": 8, "consumer_failures": 1, "consumer_leases": 1, "security_failed_logins": 2, "security_alert_marks": 1}
}

func rowCounts(t *testing.T, e *env) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"processed_events", "consumer_failures", "consumer_leases", "security_failed_logins", "security_alert_marks"} {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// TestConsumerPrunesItsTables is issue 8, item 13: the consumer tables
// grew without bound. The security consumer prunes, in batches, the rows
// past retention of the shared tables that are its own and of the tables
// of its handler, and counts them in authevents_consumer_pruned_rows_total.
func TestConsumerPrunesItsTables(t *testing.T) {
	t.Parallel()
	e := setup(t)
	want := seedExpired(t, e)
	cfg := security.Config(e.names.Stream, e.names.Prefix+".")
	cfg.DLQStream = e.dlq
	cfg.Retention = consumer.Retention{Processed: 24 * time.Hour, Failures: 24 * time.Hour}
	cfg.PruneInterval = 100 * time.Millisecond
	cfg.PruneBatch = 7 // 20 expired processed_events take three DELETEs
	reg := prometheus.NewRegistry()
	h := security.New(e.pool, security.DefaultThresholds(), reg).KeepFor(48 * time.Hour)
	e.runWith(t, cfg, h, reg)
	testenv.WaitFor(t, "expired rows pruned", 10*time.Second, func() bool { return fmt.Sprint(rowCounts(t, e)) == fmt.Sprint(want) })
	for table, n := range map[string]float64{"processed_events": 20, "consumer_failures": 4, "consumer_leases": 2, "security_failed_logins": 6, "security_alert_marks": 3} {
		if got := metricValue(t, reg, "authevents_consumer_pruned_rows_total", "table", table); got != n {
			t.Errorf("pruned_rows_total{table=%q} = %v, want %v", table, got, n)
		}
	}
}

// TestProcessedEventsOutliveTheStream: a CONSUMER_RETENTION shorter than
// the stream keeps events (here 1 h + a 1 min dedupe window) would let a
// redelivery apply an effect twice; the consumer keeps records that long.
func TestProcessedEventsOutliveTheStream(t *testing.T) {
	t.Parallel()
	e := setup(t) // stream: MaxAge 1h, Duplicates 1m
	ctx := context.Background()
	young, old := uuid.New(), uuid.New()
	if _, err := e.pool.Exec(ctx, `INSERT INTO processed_events (consumer, event_id, processed_at) VALUES
		('audit-log', $1, now() - interval '45 minutes'), ('audit-log', $2, now() - interval '2 hours')`, young, old); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Retention = consumer.Retention{Processed: 30 * time.Minute, Failures: time.Hour}
	cfg.PruneInterval = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	e.runWith(t, cfg, consumer.HandlerFunc(func(context.Context, *consumer.Event) error { return nil }), reg)
	testenv.WaitFor(t, "the 2-hour-old record pruned", 10*time.Second, func() bool {
		return metricValue(t, reg, "authevents_consumer_pruned_rows_total", "table", "processed_events") == 1
	})
	var ids []uuid.UUID
	rows, _ := e.pool.Query(ctx, `SELECT event_id FROM processed_events`)
	for rows.Next() {
		var id uuid.UUID
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != young {
		t.Fatalf("processed_events left = %v, want only the 45-minute-old record %v (the stream still holds such events)", ids, young)
	}
}
