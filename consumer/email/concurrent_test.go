package email_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/testenv"
)

// heldSender counts sends and holds each until release is closed.
type heldSender struct {
	sent    atomic.Int32
	release chan struct{}
}

func (s *heldSender) Send(ctx context.Context, _ string, _ *mail.Msg) error {
	s.sent.Add(1)
	<-s.release
	return nil
}

// registered returns deliveries of one new user.registered event: each
// call parses the same body again, as a redelivery does.
func registered(t *testing.T) func() *consumer.Event {
	data, _ := json.Marshal(authevents.UserRegistered{UserID: uuid.NewString(), Email: "ada@example.com", Name: "Ada"})
	body, _ := json.Marshal(authevents.CloudEvent{SpecVersion: "1.0", ID: uuid.NewString(), Source: "test",
		Type: authevents.EventUserRegistered, Time: "2026-11-28T10:00:00.000Z", Data: data, DataContentType: "application/json"})
	return func() *consumer.Event {
		ev, err := consumer.NewEvent(authevents.Subject(authevents.EventUserRegistered), body)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
}

// With SMTP_CONCURRENCY, two workers of one process may hold the same
// event at once (a redelivery while the first is still sending: a
// keep-alive lost to a NATS hiccup). The lease (the claim before the
// record became it) was per process, and a claim by its holder renewed
// it, so both sent (2 mails in 3 runs of 3). Found in review of the
// concurrency change: the handler lets one of them through and answers
// the other ErrClaimed (retried later without spending an attempt).
func TestOneProcessSendsAnEventOnceWhenTwoWorkersHoldIt(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	s := &heldSender{release: make(chan struct{})}
	h := email.New(pool, s, "authevents <no-reply@authevents.test>")
	event := registered(t)
	var errs [2]error
	var returned atomic.Int32
	var wg sync.WaitGroup
	for i := range errs {
		ev := event()
		wg.Go(func() {
			errs[i] = h.Handle(context.Background(), ev)
			returned.Add(1)
		})
	}
	// While the first sends (held), the second either sends too (the
	// bug) or returns: wait for one of the two, then let the send end.
	testenv.WaitFor(t, "a second send or a handler's answer", 10*time.Second, func() bool {
		return s.sent.Load() == 2 || (s.sent.Load() == 1 && returned.Load() == 1)
	})
	close(s.release)
	wg.Wait()
	if n := s.sent.Load(); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
	claimed := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, consumer.ErrClaimed):
			claimed++
		case err != nil:
			t.Errorf("Handle = %v", err)
		}
	}
	if claimed != 1 {
		t.Errorf("%d of the two handlers answered ErrClaimed (%v), want the one that did not send", claimed, errs)
	}
}

// Two replicas (two handlers, each its own owner) given one event while
// the first is still sending it (a redelivery after AckWait on a slow SMTP
// server): the second sends nothing and answers ErrClaimed soon, without
// waiting for the first's send (ErrClaimed is retried later without
// spending an attempt); once the first recorded it, a third delivery
// sends nothing and succeeds.
func TestASecondReplicaAnswersClaimedWhileTheFirstSends(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	held := &heldSender{release: make(chan struct{})}
	first := email.New(pool, held, "authevents <no-reply@authevents.test>")
	other := &heldSender{release: make(chan struct{})}
	close(other.release)
	second := email.New(pool, other, "authevents <no-reply@authevents.test>")
	event := registered(t)
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Handle(context.Background(), event()) }()
	testenv.WaitFor(t, "the first replica sending", 10*time.Second, func() bool { return held.sent.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := second.Handle(ctx, event())
	if !errors.Is(err, consumer.ErrClaimed) || other.sent.Load() != 0 {
		t.Fatalf("second replica while the first sends: %v, %d sent; want ErrClaimed and none", err, other.sent.Load())
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("the second replica waited %s for the first's send", waited)
	}
	close(held.release)
	if err := <-firstDone; err != nil {
		t.Fatalf("first replica: %v", err)
	}
	if err := second.Handle(context.Background(), event()); err != nil || other.sent.Load() != 0 {
		t.Fatalf("a delivery after the first recorded the mail: %v, %d sent; want nil and none", err, other.sent.Load())
	}
}

// The handler's deadline is CONSUMER_ACK_WAIT less a second: with an ack
// wait of 3 s or less it came before the claim's 2 s wait for another
// replica's send, so the second replica's wait ended in a deadline error,
// a failure that spent an attempt and was logged, instead of ErrClaimed.
// Found in review: each of the claim's lock waits is at most a quarter of
// what is left of the handler's deadline.
func TestAClaimWaitEndsBeforeTheHandlersDeadline(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	held := &heldSender{release: make(chan struct{})}
	defer close(held.release)
	first := email.New(pool, held, "authevents <no-reply@authevents.test>")
	second := email.New(pool, &heldSender{release: held.release}, "authevents <no-reply@authevents.test>")
	event := registered(t)
	go first.Handle(context.Background(), event())
	testenv.WaitFor(t, "the first replica sending", 10*time.Second, func() bool { return held.sent.Load() == 1 })
	// CONSUMER_ACK_WAIT=2s: the handler has 1 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := second.Handle(ctx, event()); !errors.Is(err, consumer.ErrClaimed) {
		t.Fatalf("second replica with 1 s left while the first sends: %v; want ErrClaimed", err)
	}
}

// failSender fails every send.
type failSender struct{ tried atomic.Int32 }

func (s *failSender) Send(context.Context, string, *mail.Msg) error {
	s.tried.Add(1)
	return errors.New("421 try again later")
}

// The claim is the holder's uncommitted row: a send that failed rolls it
// back, and a holder whose database session ended (a crash, a server that
// ended it) loses it with the session, so the next delivery, on another
// replica, sends at once, without waiting for a lease to expire.
func TestAClaimEndsWithAFailedSendOrTheHoldersSession(t *testing.T) {
	t.Parallel()
	t.Run("failed send", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.New(t)
		event := registered(t)
		failing := &failSender{}
		if err := email.New(pool, failing, "authevents <no-reply@authevents.test>").Handle(context.Background(), event()); err == nil || failing.tried.Load() != 1 {
			t.Fatalf("a failed send: Handle = %v after %d tries, want an error after 1", err, failing.tried.Load())
		}
		ok := &heldSender{release: make(chan struct{})}
		close(ok.release)
		if err := email.New(pool, ok, "authevents <no-reply@authevents.test>").Handle(context.Background(), event()); err != nil || ok.sent.Load() != 1 {
			t.Fatalf("the delivery after a failed send: %v, %d sent; want nil and 1", err, ok.sent.Load())
		}
	})
	t.Run("holder's session ended", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.New(t)
		event := registered(t)
		held := &heldSender{release: make(chan struct{})}
		firstDone := make(chan error, 1)
		go func() {
			firstDone <- email.New(pool, held, "authevents <no-reply@authevents.test>").Handle(context.Background(), event())
		}()
		testenv.WaitFor(t, "the first replica sending", 10*time.Second, func() bool { return held.sent.Load() == 1 })
		var ended int
		if err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction'`).Scan(&ended); err != nil || ended != 1 {
			t.Fatalf("ending the holder's session: %d ended, %v; want 1", ended, err)
		}
		other := &heldSender{release: make(chan struct{})}
		close(other.release)
		start := time.Now()
		if err := email.New(pool, other, "authevents <no-reply@authevents.test>").Handle(context.Background(), event()); err != nil || other.sent.Load() != 1 {
			t.Fatalf("the delivery after the holder's session ended: %v, %d sent; want nil and 1", err, other.sent.Load())
		}
		if waited := time.Since(start); waited > time.Second {
			t.Errorf("the next delivery waited %s for a dead holder's claim", waited)
		}
		close(held.release)
		if err := <-firstDone; err == nil {
			t.Error("the holder whose session ended reported its mail recorded")
		}
	})
}
