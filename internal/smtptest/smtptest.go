// Package smtptest is a real SMTP server on a loopback port, for tests
// and benchmarks of the e-mail consumer: it keeps every message it
// accepts, with its arrival time and Message-ID, and can be made slow or
// made to refuse messages.
package smtptest

import (
	"bytes"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/authevents/authevents/internal/mailbox"
)

// Message is one accepted message.
type Message struct {
	Data      []byte    // the message as received (headers and body)
	MessageID string    // its Message-ID, without the angle brackets; "" if none
	At        time.Time // when DATA completed
}

// Server is the SMTP server. Its methods may be called concurrently.
type Server struct {
	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	msgs     []Message
	refuse   bool
	delay    time.Duration
	inflight int // messages whose DATA is being received
	peak     int // the most at once
}

// Start starts a server on 127.0.0.1 and a free port; Close stops it.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	go s.srv.Serve(ln)
	return s, nil
}

// New starts a server that stops when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URL is the server as cmd/consumer's SMTP_URL names it (plain SMTP).
func (s *Server) URL() string { return "smtp://" + s.Addr() + "?tls=none" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Refuse makes the server answer every message with a temporary failure
// (451) while on is true, as a server in trouble does.
func (s *Server) Refuse(on bool) {
	s.mu.Lock()
	s.refuse = on
	s.mu.Unlock()
}

// SetDelay makes each DATA command take d, like a slow server.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Messages returns the messages accepted so far, in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of messages accepted so far.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Reset forgets the messages accepted so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.msgs = nil
	s.mu.Unlock()
}

// Arrivals maps the local part of each Message-ID (before the @: the
// mail's key, email.Key, which is the event id for a welcome email) to
// the times a message carrying it arrived; more than one time is a
// duplicate delivery.
func (s *Server) Arrivals() map[string][]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]time.Time{}
	for _, m := range s.msgs {
		if m.MessageID == "" {
			continue
		}
		local, _, _ := strings.Cut(m.MessageID, "@")
		out[local] = append(out[local], m.At)
	}
	return out
}

func (s *Server) receive(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delay := s.delay
	s.inflight++
	s.peak = max(s.peak, s.inflight)
	s.mu.Unlock()
	time.Sleep(delay) // the server's own slowness, not a wait for a condition
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.msgs = append(s.msgs, Message{Data: b, MessageID: messageID(b), At: time.Now()})
	return nil
}

// messageID reads the Message-ID header of a message, without brackets.
func messageID(b []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	return strings.Trim(strings.TrimSpace(m.Header.Get("Message-Id")), "<>")
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return session(b), nil }

type session backend

func (session) Reset()                               {}
func (session) Logout() error                        { return nil }
func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss session) Data(r io.Reader) error            { return ss.s.receive(r) }

// Mailbox is the messages accepted so far, as a mailbox.Source: how a
// test or the chaos load finds the link a mail carries. It parses each
// message once, so that many readers polling thousands of messages stay
// cheap.
func (s *Server) Mailbox() mailbox.Source { return &parsed{s: s} }

// parsed is the parsed messages of s, read as they arrive.
type parsed struct {
	s     *Server
	mu    sync.Mutex
	n     int // messages of s read so far
	mails []mailbox.Mail
}

func (p *parsed) Mails() ([]mailbox.Mail, error) {
	msgs := p.s.Messages()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(msgs) < p.n { // Reset since
		p.n, p.mails = 0, nil
	}
	for _, m := range msgs[p.n:] {
		if mm, err := mailbox.Parse(m.Data); err == nil {
			p.mails = append(p.mails, mm)
		}
	}
	p.n = len(msgs)
	return append([]mailbox.Mail(nil), p.mails...), nil
}

// PeakConcurrency is the most messages the server was receiving at once
// (their DATA, each held for SetDelay): how many SMTP sessions a client
// really kept open together.
func (s *Server) PeakConcurrency() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
