package email_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/internal/testenv"
)

// testMsg is a small message with Message-ID id@authevents.
func testMsg(t *testing.T, id string) *mail.Msg {
	t.Helper()
	m := mail.NewMsg()
	if err := m.From("authevents@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := m.To("someone@example.com"); err != nil {
		t.Fatal(err)
	}
	m.Subject("test")
	m.SetMessageIDWithValue(email.MessageID(id))
	m.SetBodyString(mail.TypeTextPlain, "hello")
	return m
}

func newSMTP(t *testing.T, url string) *email.SMTP {
	t.Helper()
	s, err := email.NewSMTP(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// send sends the message with id through s, failing t on an error.
func send(t *testing.T, s *email.SMTP, id string) {
	t.Helper()
	if err := s.Send(context.Background(), id, testMsg(t, id)); err != nil {
		t.Fatalf("send %s: %v", id, err)
	}
}

// onceEach fails t unless the sink holds each of ids exactly once.
func onceEach(t *testing.T, sink *smtptest.Server, ids ...string) {
	t.Helper()
	got := sink.Arrivals()
	for _, id := range ids {
		if n := len(got[id]); n != 1 {
			t.Errorf("mail %s arrived %d times, want 1", id, n)
		}
	}
	if n := sink.Count(); n != len(ids) {
		t.Errorf("the sink holds %d mails, want %d", n, len(ids))
	}
}

// A session per mail cost a connection, a greeting and EHLO (with TLS, a
// handshake, and with a login, AUTH) for every mail: the sender keeps its
// sessions open between mails.
func TestSMTPSendsManyMailsInOneSession(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("m%d", i))
		send(t, s, ids[i])
	}
	onceEach(t, sink, ids...)
	if n := sink.Sessions(); n != 1 {
		t.Errorf("20 mails one after the other took %d sessions, want 1", n)
	}
}

// SMTP_URL's idle=0 keeps the old way, a session of its own per mail;
// mails= bounds the mails per session (servers limit them too).
func TestSMTPSessionsFollowTheURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query    string
		mails    int
		sessions int
	}{{"&idle=0", 5, 5}, {"&mails=3", 7, 3}, {"", 7, 1}} {
		sink := smtptest.New(t)
		s := newSMTP(t, sink.URL()+tc.query)
		for i := range tc.mails {
			send(t, s, fmt.Sprintf("m%d", i))
		}
		if n := sink.Sessions(); n != tc.sessions {
			t.Errorf("%d mails with %q took %d sessions, want %d", tc.mails, tc.query, n, tc.sessions)
		}
		if tc.query == "&idle=0" {
			testenv.WaitFor(t, "every session quit", 10*time.Second, func() bool { return sink.OpenSessions() == 0 })
		}
	}
}

// A session idle for longer than idle= is not used again: servers end
// idle sessions (RFC 5321 suggests 5 minutes, many do it sooner).
func TestSMTPDoesNotReuseASessionIdleTooLong(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL()+"&idle=50ms")
	send(t, s, "a")
	time.Sleep(60 * time.Millisecond) // the idle time itself is the condition
	send(t, s, "b")
	onceEach(t, sink, "a", "b")
	if n := sink.Sessions(); n != 2 {
		t.Errorf("a mail after the idle limit took %d sessions in all, want 2", n)
	}
	testenv.WaitFor(t, "the idle session quit", 10*time.Second, func() bool { return sink.OpenSessions() == 1 })
}

// A server that dropped an idle session without a word (its idle timeout,
// a restart): nothing of the next mail was sent on it, so the sender dials
// again and the mail goes out once, with no error for the handler to retry.
func TestSMTPRedialsASessionTheServerDropped(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	send(t, s, "a")
	sink.DropSessions()
	testenv.WaitFor(t, "the server closed the session", 10*time.Second, func() bool { return sink.OpenSessions() == 0 })
	send(t, s, "b")
	onceEach(t, sink, "a", "b")
}

// A 421 to MAIL on a kept session (the server going down) is answered
// before any of the mail was sent: the sender dials again.
func TestSMTPRedialsAfter421OnAKeptSession(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	send(t, s, "a")
	sink.RefuseNextMail(1)
	send(t, s, "b")
	onceEach(t, sink, "a", "b")
}

// A mail the server accepted (250 after DATA) is sent, even when the
// session fails right after it: an error here would make the handler send
// it again. go-mail's RSET after the mail failed, and the error came back.
func TestSMTPAcceptedThenDroppedIsSent(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	sink.DropAfterReply(1)
	send(t, s, "a")
	send(t, s, "b")
	onceEach(t, sink, "a", "b")
}

// A mail the server refused is not sent again by the sender: the handler
// decides about retries (backoff, then the DLQ).
func TestSMTPRefusedMailIsAnError(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	send(t, s, "a")
	sink.Refuse(true)
	if err := s.Send(context.Background(), "b", testMsg(t, "b")); err == nil {
		t.Fatal("a mail refused with 451 was sent")
	}
	sink.Refuse(false)
	send(t, s, "c")
	onceEach(t, sink, "a", "c")
}

// Concurrent senders (SMTP_CONCURRENCY) each get a session: never more
// sessions than senders at once, and every mail once.
func TestSMTPConcurrentSendsShareAtMostOneSessionEach(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	const workers, each = 4, 10
	var wg sync.WaitGroup
	var ids []string
	for w := range workers {
		for i := range each {
			ids = append(ids, fmt.Sprintf("w%d-%d", w, i))
		}
		wg.Go(func() {
			for i := range each {
				send(t, s, fmt.Sprintf("w%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	onceEach(t, sink, ids...)
	if n := sink.Sessions(); n > workers {
		t.Errorf("%d senders at once opened %d sessions, want at most %d", workers, n, workers)
	}
}

// Close ends the kept sessions (QUIT), as the consumer does at shutdown.
func TestSMTPCloseQuitsTheKeptSessions(t *testing.T) {
	t.Parallel()
	sink := smtptest.New(t)
	s := newSMTP(t, sink.URL())
	send(t, s, "a")
	if n := sink.OpenSessions(); n != 1 {
		t.Fatalf("%d sessions open after a mail, want the one kept", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the kept session quit", 10*time.Second, func() bool { return sink.OpenSessions() == 0 })
}
