package consumer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/internal/testenv"
)

// Issue 20: the email service sends one mail per event, as before, but
// up to Config.Concurrency (SMTP_CONCURRENCY) at once, each in an SMTP
// session of its own: a mail cannot be rolled back, so it is not batched.
// Against a server taking 0.2 s a message, two replicas of concurrency 3
// must keep more sessions open at once than two replicas sending one at a
// time could (2), never more than 6, and send each of 36 mails exactly
// once.
func TestEmailSendsConcurrentlyAndOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sink := smtptest.New(t)
	sink.SetDelay(200 * time.Millisecond)
	sender, err := email.NewSMTP(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	const n = 36
	for i := range n {
		e.publishData(t, authevents.EventUserRegistered, authevents.UserRegistered{UserID: uuid.NewString(), Email: fmt.Sprintf("c%d@example.com", i), Name: "C"})
	}
	cfg := email.Config(e.names.Stream, e.names.Prefix+".")
	cfg.Concurrency = 3
	cfg.DLQStream = e.dlq
	for range 2 {
		e.runWith(t, cfg, email.New(e.pool, sender, "authevents <no-reply@authevents.test>"), nil)
	}
	testenv.WaitFor(t, "every registration mailed and settled", 60*time.Second, func() bool {
		return sink.Count() >= n && e.settled(t, email.Durable)
	})
	perID := map[string]int{}
	for _, m := range sink.Messages() {
		perID[m.MessageID]++
	}
	for id, c := range perID {
		if c != 1 {
			t.Errorf("%s received %d times", id, c)
		}
	}
	if len(perID) != n {
		t.Errorf("%d distinct mails, want %d", len(perID), n)
	}
	if p := sink.PeakConcurrency(); p < 3 || p > 6 {
		t.Errorf("at most %d SMTP sessions at once, want 3 to 6 (2 replicas of 3)", p)
	}
	t.Logf("%d mails, at most %d at once", sink.Count(), sink.PeakConcurrency())
}
