package smtptest

// The ways the server can be made to fail, as real servers do: slow,
// refusing messages or recipients, ending sessions (an idle timeout, a
// 421 on shutdown, a connection lost after the reply), and the counts of
// sessions a test reads to see what the client did.

import (
	"time"

	"github.com/emersion/go-smtp"
)

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

// RefuseRecipients makes the server refuse every recipient (550 5.1.1,
// naming it, as Postfix does) while on is true.
func (s *Server) RefuseRecipients(on bool) {
	s.mu.Lock()
	s.refuseRcpt = on
	s.mu.Unlock()
}

// Sessions is the number of SMTP sessions (connections) opened so far.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// OpenSessions is the number of SMTP sessions open now.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// DropSessions closes every open session from the server's side without a
// word, as a server does at its idle timeout or when it restarts.
func (s *Server) DropSessions() {
	s.mu.Lock()
	conns := make([]*smtp.Conn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// RefuseNextMail answers the next n MAIL commands with 421 and closes
// their sessions, as a server going down does.
func (s *Server) RefuseNextMail(n int) {
	s.mu.Lock()
	s.refuseMail = n
	s.mu.Unlock()
}

// DropAfterReply closes the session of each of the next n accepted
// messages right after its 250 reply: the message is delivered, and the
// client's next command on that session fails.
func (s *Server) DropAfterReply(n int) {
	s.mu.Lock()
	s.dropAfter = n
	s.mu.Unlock()
}
