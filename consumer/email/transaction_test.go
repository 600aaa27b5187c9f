package email_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/smtptest"
)

// transactionModes are the three ways transaction sends a mail, by what
// the server offers, and the client's turns (round trips) a mail takes.
var transactionModes = []struct {
	name                             string
	ignoreChunking, ignorePipelining bool
	turns                            int
}{
	{"chunking+pipelining", false, false, 1},
	{"pipelining", true, false, 2},
	{"neither", true, true, 4},
}

// A mail took five round trips (MAIL, RCPT, DATA, the message, RSET),
// which were a third of the email service's CPU under load: with
// CHUNKING and PIPELINING it takes one, with PIPELINING two, and each
// mode delivers the message byte for byte, dot-stuffing included.
func TestTransactionRoundTrips(t *testing.T) {
	t.Parallel()
	for _, mode := range transactionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			sink := smtptest.New(t)
			proxy := newTurnCounter(t, sink.Addr())
			s := newTestSMTP(t, "smtp://"+proxy.addr+"?tls=none", mode.ignoreChunking, mode.ignorePipelining)
			send(t, s, "warm-up") // the session's greeting and EHLO
			before := proxy.clientTurns()
			const mails = 10
			for i := range mails {
				id := fmt.Sprintf("m%d", i)
				if err := s.Send(context.Background(), id, dottedMsg(t, id)); err != nil {
					t.Fatal(err)
				}
			}
			if got := proxy.clientTurns() - before; got != mails*mode.turns {
				t.Errorf("%d mails took %d client turns, want %d (%d each)", mails, got, mails*mode.turns, mode.turns)
			}
			if n := sink.Sessions(); n != 1 {
				t.Errorf("%d sessions, want 1", n)
			}
			msgs := sink.Messages()
			if len(msgs) != mails+1 {
				t.Fatalf("the sink holds %d mails, want %d", len(msgs), mails+1)
			}
			var want bytes.Buffer
			if _, err := dottedMsg(t, "m3").WriteTo(&want); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(want.Bytes(), []byte("\r\n")) {
				want.WriteString("\r\n") // SMTP ends the message with a line break
			}
			if got := msgs[4].Data; !bytes.Equal(got, want.Bytes()) {
				t.Errorf("received\n%q\nwant\n%q", got, want.Bytes())
			}
		})
	}
}

// A refused recipient fails the mail at RCPT TO in every mode, and a
// refused message (451 after it) at the end of data, with the server's
// code; nothing is delivered, and the next mail goes out (on a new
// session: the failed one is not used again).
func TestTransactionRefusals(t *testing.T) {
	t.Parallel()
	refusals := []struct {
		name   string
		refuse func(*smtptest.Server, bool)
		step   string
		reason string
	}{
		{"recipient", (*smtptest.Server).RefuseRecipients, "RCPT TO", "RCPT TO refused (550 5.1.1)"},
		{"message", (*smtptest.Server).Refuse, "end of data", "end of data refused (451"},
	}
	for _, mode := range transactionModes {
		for _, r := range refusals {
			t.Run(mode.name+"/"+r.name, func(t *testing.T) {
				t.Parallel()
				sink := smtptest.New(t)
				s := newTestSMTP(t, sink.URL(), mode.ignoreChunking, mode.ignorePipelining)
				r.refuse(sink, true)
				err := s.Send(context.Background(), "r", dottedMsg(t, "r"))
				if step := email.FailedStep(err); step != r.step {
					t.Fatalf("Send = %v (step %q), want a failure at %s", err, step, r.step)
				}
				if reason := email.Redact(err, "someone@example.com").Error(); !strings.Contains(reason, r.reason) {
					t.Errorf("reason %q, want %q in it", reason, r.reason)
				}
				if n := sink.Count(); n != 0 {
					t.Fatalf("the sink holds %d mails after a refusal, want 0", n)
				}
				r.refuse(sink, false)
				if err := s.Send(context.Background(), "next", dottedMsg(t, "next")); err != nil {
					t.Fatal(err)
				}
				if n := sink.Count(); n != 1 {
					t.Errorf("the sink holds %d mails, want 1", n)
				}
			})
		}
	}
}

func newTestSMTP(t *testing.T, url string, ignoreChunking, ignorePipelining bool) *email.SMTP {
	t.Helper()
	s := newSMTP(t, url)
	email.IgnoreExtensions(s, ignoreChunking, ignorePipelining)
	return s
}

// dottedMsg is a message whose body has lines that begin with a dot, one
// of them a lone dot, which the DATA path must stuff and BDAT must not.
func dottedMsg(t *testing.T, id string) *mail.Msg {
	t.Helper()
	m := testMsg(t, id)
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, "first\r\n.\r\n..two\r\n.three\r\nlast")
	return m
}

// turnCounter is a loopback proxy that counts the client's turns: runs
// of bytes from the client with no byte from the server between them.
type turnCounter struct {
	addr string
	mu   sync.Mutex
	last byte
	n    int
}

func newTurnCounter(t *testing.T, target string) *turnCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &turnCounter{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.copy(s, c, 'c')
			go p.copy(c, s, 's')
		}
	}()
	return p
}

func (p *turnCounter) copy(dst, src net.Conn, dir byte) {
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if dir == 'c' && p.last != 'c' {
				p.n++
			}
			p.last = dir
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

func (p *turnCounter) clientTurns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
