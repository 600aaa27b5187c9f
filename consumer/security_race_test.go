package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestThresholdAlertsOncePerWindowWithReplicasAndShuffledDelivery is issue
// 8, item 12: thresholds compared with == missed the alert when two
// replicas counted concurrently or retries arrived out of order. Two
// handler instances share the database and take the events, shuffled and
// each delivered twice, from one queue: exactly one alert per rule and key,
// counted once. Issue 20: the same with each replica taking the events in
// batches of 1 to 8 (HandleBatch, in one transaction as the consumer
// does), a batch possibly holding an event twice.
func TestThresholdAlertsOncePerWindowWithReplicasAndShuffledDelivery(t *testing.T) {
	t.Parallel()
	for _, batches := range []bool{false, true} {
		t.Run(fmt.Sprintf("batches=%v", batches), func(t *testing.T) {
			t.Parallel()
			shuffledDelivery(t, batches)
		})
	}
}

func shuffledDelivery(t *testing.T, batches bool) {
	pool := pgtest.New(t)
	th := security.Thresholds{FailedLogins: 3, StuffingAccounts: 3, Window: 10 * time.Minute}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	replicas := []*security.Handler{security.New(pool, th, regs[0]), security.New(pool, th, regs[1])}
	base := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	var evs []*consumer.Event
	for i := range 12 { // one account, 12 addresses, within 4 minutes
		evs = append(evs, event(t, "user.login_failed", base.Add(time.Duration(i)*20*time.Second).Format(time.RFC3339Nano),
			map[string]string{"email": "victim@example.com", "ip": fmt.Sprintf("192.0.2.%d", i+1), "userAgent": "bot", "reason": "invalid_password"}))
	}
	for i := range 12 { // one address, 12 accounts, within 12 seconds
		evs = append(evs, event(t, "user.login_failed", base.Add(5*time.Minute+time.Duration(i)*time.Second).Format(time.RFC3339Nano),
			map[string]string{"email": fmt.Sprintf("a%d@example.com", i), "ip": "198.51.100.66", "userAgent": "bot", "reason": "invalid_password"}))
	}
	deliveries := append(append([]*consumer.Event(nil), evs...), evs...) // each twice
	for round := range 5 {
		rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		if round > 0 {
			if _, err := pool.Exec(context.Background(), `TRUNCATE security_alerts, security_failed_logins, processed_events, security_alert_marks`); err != nil {
				t.Fatal(err)
			}
		}
		queue := make(chan *consumer.Event, len(deliveries))
		for _, ev := range deliveries {
			queue <- ev
		}
		close(queue)
		var wg sync.WaitGroup
		before := counterSum(t, regs[0], "authevents_security_alerts_total") + counterSum(t, regs[1], "authevents_security_alerts_total")
		for _, h := range replicas {
			wg.Go(func() {
				if batches {
					applyInBatches(t, pool, h, queue)
					return
				}
				for ev := range queue {
					if err := h.Handle(context.Background(), ev); err != nil {
						t.Errorf("Handle: %v", err)
					}
				}
			})
		}
		wg.Wait()
		counted := counterSum(t, regs[0], "authevents_security_alerts_total") + counterSum(t, regs[1], "authevents_security_alerts_total") - before
		alerts, err := security.List(context.Background(), pool, time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, a := range alerts {
			got[a.Rule+" "+a.Email+" "+a.IP]++
		}
		t.Logf("round %d: alerts %v", round, got)
		if countRule(alerts, security.RuleFailedLogins) != 1 || countRule(alerts, security.RuleCredentialStuff) != 1 || len(alerts) != 2 {
			t.Fatalf("round %d: alerts %v, want one failed_logins for victim@example.com and one credential_stuffing for 198.51.100.66", round, got)
		}
		if counted != 2 {
			t.Errorf("round %d: %v alerts counted, want 2", round, counted)
		}
		for _, a := range alerts {
			if a.Rule == security.RuleFailedLogins && a.Email != "victim@example.com" || a.Rule == security.RuleCredentialStuff && a.IP != "198.51.100.66" {
				t.Errorf("round %d: %s alert for %s %s", round, a.Rule, a.Email, a.IP)
			}
		}
	}
}

// applyInBatches takes the events of queue in batches of 1 to 8 and
// applies each batch in one transaction, as the consumer does.
func applyInBatches(t *testing.T, pool *pgxpool.Pool, h *security.Handler, queue <-chan *consumer.Event) {
	for {
		var batch []*consumer.Event
		n := 1 + rand.IntN(8)
		for ev := range queue {
			batch = append(batch, ev)
			if len(batch) == n {
				break
			}
		}
		if len(batch) == 0 {
			return
		}
		if err := applyBatch(context.Background(), pool, h, batch); err != nil {
			t.Errorf("HandleBatch: %v", err)
		}
	}
}

func countRule(alerts []security.Alert, rule string) int {
	n := 0
	for _, a := range alerts {
		if a.Rule == rule {
			n++
		}
	}
	return n
}
