package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// applyBatch applies evs with h in one transaction, as the consumer does.
func applyBatch(ctx context.Context, pool *pgxpool.Pool, h *security.Handler, evs []*consumer.Event) error {
	return consumer.WithTx(ctx, pool, func(tx pgx.Tx) error { return h.HandleBatch(ctx, tx, evs) })
}

func failedLogin(t *testing.T, email, ip string, at time.Time) *consumer.Event {
	return event(t, authevents.EventUserLoginFailed, at.Format(time.RFC3339Nano),
		map[string]string{"email": email, "ip": ip, "userAgent": "bot", "reason": authevents.ReasonInvalidPassword})
}

// TestSecurityBatchOfTwoAccountsAlertsOnce: one batch holds the failed
// logins of two accounts, interleaved; one account's reach the
// threshold within the batch, the other's do not. The rules read what
// the batch's earlier events wrote: exactly one failed_logins alert, for
// that account, counted once; the same batch redelivered raises nothing.
func TestSecurityBatchOfTwoAccountsAlertsOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	reg := prometheus.NewRegistry()
	h := security.New(pool, security.Thresholds{FailedLogins: 5, StuffingAccounts: 100, Window: 10 * time.Minute}, reg)
	base := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	var evs []*consumer.Event
	for i := range 5 {
		at := base.Add(time.Duration(i) * 10 * time.Second)
		evs = append(evs, failedLogin(t, "victim@example.com", fmt.Sprintf("192.0.2.%d", i), at))
		if i < 4 {
			evs = append(evs, failedLogin(t, "other@example.com", fmt.Sprintf("198.51.100.%d", i), at.Add(time.Second)))
		}
	}
	ctx := context.Background()
	for range 2 {
		if err := applyBatch(ctx, pool, h, evs); err != nil {
			t.Fatal(err)
		}
	}
	alerts, err := security.List(ctx, pool, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Rule != security.RuleFailedLogins || alerts[0].Email != "victim@example.com" {
		t.Fatalf("alerts %+v, want one failed_logins for victim@example.com", alerts)
	}
	if alerts[0].EventID != evs[8].EventID {
		t.Errorf("alert raised by event %s, want the fifth failure (%s)", alerts[0].EventID, evs[8].EventID)
	}
	if n := counterSum(t, reg, "authevents_security_alerts_total"); n != 1 {
		t.Errorf("authevents_security_alerts_total = %v, want 1", n)
	}
}

// TestSecurityOverlappingBatchesOfTwoReplicasApplyOnce: two replicas are
// handed overlapping batches at once, in opposite orders (redeliveries
// of each other's events): failed logins over shared accounts and
// addresses, logins, reset requests and password changes of shared
// users, and (in one run) user.deleted among them. Every lock is taken
// up front in one order, so no transaction deadlocks; each event is
// recorded once, each alert stored is counted once, and without
// erasures (which delete the marks of the erased user's accounts and
// addresses, so a later burst alerts again) each window alerts once.
func TestSecurityOverlappingBatchesOfTwoReplicasApplyOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name             string
		deletes, overlap bool
	}{{"redelivered", false, true}, {"redelivered with erasures", true, true}, {"other events of the same keys", false, false}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			overlappingBatches(t, c.deletes, c.overlap)
		})
	}
}

// overlappingBatches hands two replicas batches in opposite orders: of
// the same events (overlap: redeliveries, which also wait on each
// other's processed_events rows) or of different events of the same
// accounts, addresses and users (only the rules' locks order them).
func overlappingBatches(t *testing.T, deletes, overlap bool) {
	pool := pgtest.New(t)
	th := security.Thresholds{FailedLogins: 5, StuffingAccounts: 5, ResetRequests: 3, ResetRequestsPerIP: 6, Window: time.Hour}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	replicas := []*security.Handler{security.New(pool, th, regs[0]), security.New(pool, th, regs[1])}
	users := make([]string, 40)
	for i := range users {
		users[i] = uuid.NewString()
	}
	ctx := context.Background()
	const rounds, perRound = 4, 600
	base := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	for round := range rounds {
		var evs []*consumer.Event
		for i := range perRound {
			at := base.Add(time.Duration(round*perRound+i) * time.Second).Format(time.RFC3339Nano)
			user := users[(i*7+round)%len(users)]
			ip := fmt.Sprintf("192.0.2.%d", i%13)
			var typ string
			switch i % 6 {
			case 0, 1:
				typ = authevents.EventUserLoginFailed
			case 2:
				typ = authevents.EventUserLoggedIn
			case 3:
				typ = authevents.EventPasswordResetRequested
			case 4:
				typ = authevents.EventPasswordChanged
			default:
				typ = authevents.EventUserDeleted
				if !deletes || i%30 != 5 {
					typ = authevents.EventUserLoggedIn
				}
			}
			evs = append(evs, event(t, typ, at, map[string]string{"userId": user, "email": fmt.Sprintf("u%d@example.com", i%17),
				"ip": ip, "userAgent": fmt.Sprintf("ua/%d", i%3), "reason": authevents.ReasonInvalidPassword}))
		}
		a, b := evs[:perRound*2/3], slices.Clone(evs[perRound/3:])
		if !overlap {
			a, b = evs[:perRound/2], slices.Clone(evs[perRound/2:])
		}
		slices.Reverse(b)
		var g errgroup.Group
		var ready sync.WaitGroup
		ready.Add(2)
		for i, batch := range [][]*consumer.Event{a, b} {
			h := replicas[i]
			g.Go(func() error {
				return consumer.WithTx(ctx, pool, func(tx pgx.Tx) error {
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
	var processed, stored, marks int
	pool.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE consumer = $1`, security.Durable).Scan(&processed)
	pool.QueryRow(ctx, `SELECT count(*) FROM security_alerts`).Scan(&stored)
	pool.QueryRow(ctx, `SELECT count(*) FROM security_alert_marks`).Scan(&marks)
	if processed != rounds*perRound {
		t.Errorf("%d events recorded, want each of the %d once", processed, rounds*perRound)
	}
	counted := counterSum(t, regs[0], "authevents_security_alerts_total") + counterSum(t, regs[1], "authevents_security_alerts_total")
	if stored == 0 || counted != float64(stored) {
		t.Errorf("%d alerts stored, %v counted; want some, each counted once", stored, counted)
	}
	var twice int
	pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT rule, CASE rule WHEN 'failed_logins' THEN email ELSE ip END FROM security_alerts
		WHERE rule IN ('failed_logins', 'credential_stuffing') GROUP BY 1, 2 HAVING count(*) > 1) d`).Scan(&twice)
	if twice != 0 && !deletes {
		t.Errorf("%d threshold keys alerted more than once within one window", twice)
	}
	t.Logf("%d events, %d alerts, %d marks", processed, stored, marks)
}

// failsAfter is the security handler whose batch fails after the rules
// ran when it holds a poison event (as a commit the database refuses
// would): the consumer bisects it.
type failsAfter struct {
	*security.Handler
	poison  uuid.UUID
	mu      sync.Mutex
	batches int // batches that held the poison and more
}

func (f *failsAfter) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*consumer.Event) error {
	if err := f.Handler.HandleBatch(ctx, tx, evs); err != nil {
		return err
	}
	if slices.ContainsFunc(evs, func(ev *consumer.Event) bool { return ev.EventID == f.poison }) {
		f.mu.Lock()
		if len(evs) > 1 {
			f.batches++
		}
		f.mu.Unlock()
		_, err := tx.Exec(ctx, `SELECT 1/0`)
		return err
	}
	return nil
}

// TestSecurityAlertCountedOnceUnderBisection: the batch that raises a
// failed_logins alert also holds a poison event, and fails after its
// rules ran; the consumer bisects it, the alert-raising event is applied
// again and commits. The alert is stored once and counted once
// (authevents_security_alerts_total is counted after the commit).
func TestSecurityAlertCountedOnceUnderBisection(t *testing.T) {
	t.Parallel()
	e := setup(t)
	reg := prometheus.NewRegistry()
	h := &failsAfter{Handler: security.New(e.pool, security.Thresholds{FailedLogins: 3, StuffingAccounts: 100, Window: time.Hour}, reg)}
	for i := range 3 {
		e.publishData(t, authevents.EventUserLoginFailed, map[string]string{"email": "victim@example.com",
			"ip": fmt.Sprintf("192.0.2.%d", i), "userAgent": "bot", "reason": authevents.ReasonInvalidPassword})
	}
	h.poison = e.publishData(t, authevents.EventUserLoggedIn, map[string]string{"userId": uuid.NewString(), "ip": "192.0.2.9", "userAgent": "ua"})
	cfg := e.config()
	cfg.Durable = security.Durable
	// The four events must meet in one batch: without a linger a loaded
	// machine (make test) applied the first as soon as it was admitted,
	// alone, and nothing was bisected.
	cfg.BatchLinger = 500 * time.Millisecond
	e.runWith(t, cfg, h, nil)
	natstest.Collect(t, e.js, e.dlq, 1, 20*time.Second) // the poison, after its attempts
	testenv.WaitFor(t, "the three failures recorded", 10*time.Second, func() bool {
		return count(t, e.pool, `SELECT count(*) FROM security_failed_logins`) == 3
	})
	if h.batches == 0 {
		t.Fatal("the poison never failed a batch of more than itself: nothing was bisected")
	}
	if n := count(t, e.pool, `SELECT count(*) FROM security_alerts`); n != 1 {
		t.Errorf("%d alerts stored, want 1", n)
	}
	if n := counterSum(t, reg, "authevents_security_alerts_total"); n != 1 {
		t.Errorf("authevents_security_alerts_total = %v after %d failed batches, want 1", n, h.batches)
	}
}

// TestSecurityBatchOfUnwatchedTypesOpensNoTransaction: behind
// security.Watching (as cmd/consumer wires it), events of types no rule
// watches are acknowledged with their batch: no transaction is
// committed, nothing is recorded, and a watched event after them is.
func TestSecurityBatchOfUnwatchedTypesOpensNoTransaction(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for range 20 {
		e.publish(t, authevents.EventUserTokenRefreshed, uuid.NewString(), "")
	}
	reg := prometheus.NewRegistry()
	h := consumer.Chain(security.New(e.pool, security.DefaultThresholds(), prometheus.NewRegistry()), security.Watching)
	cfg := e.config()
	cfg.Durable = security.Durable
	e.runWith(t, cfg, h, reg)
	testenv.WaitFor(t, "the 20 events acknowledged", 10*time.Second, func() bool {
		return metricValue(t, reg, "authevents_consumer_processed_total", "result", "ok") == 20
	})
	if n := metricValue(t, reg, "authevents_consumer_batch_size"); n != 0 {
		t.Errorf("%v batch transactions committed for unwatched events, want none", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM processed_events`); n != 0 {
		t.Errorf("%d processed_events rows for unwatched events, want none", n)
	}
	login, _ := e.publish(t, authevents.EventUserLoggedIn, uuid.NewString(), "")
	testenv.WaitFor(t, "the login recorded", 10*time.Second, func() bool {
		return count(t, e.pool, `SELECT count(*) FROM processed_events WHERE event_id = $1`, login) == 1
	})
}
