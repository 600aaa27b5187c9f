package email_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// slowSender succeeds, but only just before the handler's deadline (an
// SMTP server slow to answer the final "250 OK").
type slowSender struct {
	sent   atomic.Int32
	margin time.Duration
}

func (s *slowSender) Send(ctx context.Context, id string, m *mail.Msg) error {
	if dl, ok := ctx.Deadline(); ok && s.sent.Load() == 0 {
		time.Sleep(time.Until(dl) - s.margin)
	}
	s.sent.Add(1)
	return nil
}

// Found in review (issue 8), now fixed: the handler recorded the send (Once) and released the
// lease (the claim of the time) with the handler's own ctx. A send that succeeds just before the
// deadline leaves the record no time: Handle fails, the event is retried,
// and the retry (this replica or another one, once the lease expired)
// finds the event unprocessed and sends the email a second time.
func TestSendNearTheDeadlineIsRecorded(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	twice := 0
	for _, margin := range []time.Duration{time.Millisecond} {
		s := &slowSender{margin: margin}
		h := email.New(pool, s, "authevents <no-reply@authevents.test>")
		ev := registered(t)()
		for attempt := 1; attempt <= 2; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			err := h.Handle(ctx, ev)
			cancel()
			t.Logf("attempt %d: err %v", attempt, err)
			if err == nil {
				break
			}
			// The failed attempt's transaction is rolled back: the retry
			// may claim the mail at once.
		}
		t.Logf("send %s before the deadline: sent %d times", margin, s.sent.Load())
		if s.sent.Load() > 1 {
			twice++
		}
	}
	if twice > 0 {
		t.Errorf("%d welcome email(s) sent twice for one event", twice)
	}
}
