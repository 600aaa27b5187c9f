package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/internal/testenv"
)

// publishData puts an event with the given data on the test stream.
func (e *env) publishData(t *testing.T, eventType string, data any) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	d, _ := json.Marshal(data)
	body, _ := json.Marshal(authevents.CloudEvent{SpecVersion: "1.0", ID: id.String(), Source: "auth-service", Type: eventType,
		Time: time.Now().UTC().Format(authevents.TimestampLayout), DataContentType: "application/json", Data: d})
	e.publishRaw(t, e.names.For(eventType), body, id.String())
	return id
}

func (e *env) settled(t *testing.T, durable string) bool {
	t.Helper()
	c, err := e.js.Consumer(context.Background(), e.names.Stream, durable)
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// TestSlowReplicasSendEachWelcomeEmailOnce is issue 8, item 6: two
// replicas of email-service, an ack wait of 3 s and an SMTP server taking
// 0.3 s a message. A fetched batch takes longer than the ack wait to work
// through, so without keep-alives the server hands the waiting messages to
// the other replica, and without a claim both send.
func TestSlowReplicasSendEachWelcomeEmailOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sink := smtptest.New(t)
	sink.SetDelay(300 * time.Millisecond)
	sender, err := email.NewSMTP(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		e.publishData(t, authevents.EventUserRegistered, authevents.UserRegistered{UserID: uuid.NewString(), Email: fmt.Sprintf("u%d@example.com", i), Name: "U"})
	}
	cfg := email.Config(e.names.Stream, e.names.Prefix+".")
	cfg.AckWait = 3 * time.Second
	cfg.Backoff = []time.Duration{100 * time.Millisecond}
	cfg.DLQStream = e.dlq
	e.runWith(t, cfg, email.New(e.pool, sender, "authevents <no-reply@authevents.test>"), nil)
	e.runWith(t, cfg, email.New(e.pool, sender, "authevents <no-reply@authevents.test>"), nil)

	testenv.WaitFor(t, "every registration settled", 60*time.Second, func() bool {
		return sink.Count() >= n && e.settled(t, email.Durable)
	})
	perID := map[string]int{}
	for _, m := range sink.Messages() {
		if m.MessageID == "" {
			t.Fatalf("email without a Message-ID:\n%s", m.Data)
		}
		perID[m.MessageID]++
	}
	dups := 0
	for id, c := range perID {
		if c != 1 {
			dups++
			t.Errorf("%s received %d times", id, c)
		}
	}
	t.Logf("%d emails, %d distinct, %d sent more than once", sink.Count(), len(perID), dups)
	if len(perID) != n {
		t.Errorf("%d distinct emails, want %d", len(perID), n)
	}
}

// TestFailureBookkeepingHasADeadline is issue 8, item 15: recordFailure
// and forget ran without a deadline, so a Postgres that stops answering
// (here: a lock on consumer_failures held by another session) hung the
// consumer on the message. Each round trip has its own timeout: the failed
// attempt is retried without being counted, the success is acked.
func TestFailureBookkeepingHasADeadline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	lock, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE consumer_failures IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	e.publish(t, "user.logged_in", uuid.NewString(), "")
	cfg := e.config()
	cfg.DBTimeout = 300 * time.Millisecond
	reg := prometheus.NewRegistry()
	h := &flaky{h: audit.New(e.pool), n: 1, calls: map[string]int{}}
	e.runWith(t, cfg, h, reg)
	t.Cleanup(func() { lock.Rollback(context.Background()) }) // before the consumer stops
	testenv.WaitFor(t, "the event handled while consumer_failures is locked", 10*time.Second, func() bool {
		return metricValue(t, reg, "authevents_consumer_processed_total", "result", "ok") == 1
	})
	if r := metricValue(t, reg, "authevents_consumer_processed_total", "result", "retry"); r != 1 {
		t.Errorf("retries = %v, want 1", r)
	}
	// Every handled message is timed, the failed attempt too.
	handled := metricValue(t, reg, "authevents_consumer_processed_total")
	if n := metricValue(t, reg, "authevents_consumer_processing_duration_seconds", "consumer", cfg.Durable); n != handled {
		t.Errorf("processing durations observed %v times, want one per handled message (%v)", n, handled)
	}
}

// metricValue reads a consumer metric (0 while the series does not
// exist yet).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _ := metrictest.Value(t, reg, name, labels...)
	return v
}
