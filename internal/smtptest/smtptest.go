// Package smtptest is a real SMTP server on a loopback port, for tests
// and benchmarks of the e-mail consumer: it keeps every message it
// accepts, with its arrival time and Message-ID, and can be made slow,
// made to refuse messages, or made to end sessions as real servers do
// (an idle timeout, a 421 on shutdown, a connection lost after the reply).
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

	sessions   int                     // sessions opened so far
	open       map[*smtp.Conn]*session // sessions open now
	refuseMail int                     // MAIL commands still to answer 421 (then close)
	refuseRcpt bool                    // answer every RCPT 550, naming the recipient
	dropAfter  int                     // accepted messages still to close the session after
}

// Start starts a server on 127.0.0.1 and a free port; Close stops it.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, open: map[*smtp.Conn]*session{}}
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

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ss := &session{s: b.s, conn: c}
	b.s.mu.Lock()
	b.s.sessions++
	b.s.open[c] = ss
	b.s.mu.Unlock()
	return ss, nil
}

// session is one SMTP session (one connection).
type session struct {
	s    *Server
	conn *smtp.Conn
	drop bool // close the connection once the reply to this DATA is out
}

// Reset runs on RSET and after each DATA, once its reply is written: a
// session armed by DropAfterReply ends here, after the client read 250.
func (ss *session) Reset() {
	ss.s.mu.Lock()
	drop := ss.drop
	ss.drop = false
	ss.s.mu.Unlock()
	if drop {
		// The socket itself: Conn.Close takes the lock Reset runs under.
		// The server's read loop then ends the session (Logout).
		ss.conn.Conn().Close()
	}
}

func (ss *session) Logout() error {
	ss.s.mu.Lock()
	delete(ss.s.open, ss.conn)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Mail(string, *smtp.MailOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuseMail > 0
	if refuse {
		ss.s.refuseMail--
	}
	ss.s.mu.Unlock()
	if refuse {
		// 421: the server is closing the channel (RFC 5321 3.8); it
		// closes it once the reply is out, which Reset does.
		ss.s.mu.Lock()
		ss.drop = true
		ss.s.mu.Unlock()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuseRcpt
	ss.s.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected"}
	}
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if err := ss.s.receive(r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	if ss.s.dropAfter > 0 {
		ss.s.dropAfter--
		ss.drop = true
	}
	ss.s.mu.Unlock()
	return nil
}

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
