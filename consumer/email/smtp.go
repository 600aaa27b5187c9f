package email

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SMTP sends through an SMTP server. It keeps its sessions open between
// mails, as mail submission clients do: a new session costs a connection,
// the greeting and EHLO, and with TLS a handshake and with a login AUTH,
// for every mail. Send may be called concurrently (the email consumer's
// SMTP_CONCURRENCY): each call takes a session no other call holds, so
// there are never more sessions than calls at once.
//
// A kept session may have been ended by the server meanwhile (its idle
// timeout, a restart, a 421): the failure then comes at MAIL, before
// anything of the mail was sent, and Send tries again on a new session.
// Each mail is one transaction (transaction.go): one round trip with a
// server that offers CHUNKING and PIPELINING, two with PIPELINING alone;
// nothing follows the server's reply to the message, so a mail it
// accepted is never reported as failed (and sent again).
type SMTP struct {
	client     *mail.Client  // settings: each session is an smtp.Client of its own
	timeout    time.Duration // of each read and write
	ignore     extensions    // tests: offered extensions not to use
	idle       time.Duration // a session idle for longer is not used again; 0: one per mail
	perSession int           // mails per session, then QUIT

	mu     sync.Mutex
	kept   []*session // idle sessions, the most recently used last
	closed bool
}

type session struct {
	c    *smtp.Client
	ext  extensions // of the server's EHLO reply
	used time.Time
	sent int
}

// smtpTimeout bounds each read and write of a session.
const smtpTimeout = 10 * time.Second

// Defaults of SMTP_URL's idle= and mails=.
const (
	// DefaultSMTPIdle is shorter than the idle timeouts of common servers
	// and relays (RFC 5321 4.5.3.2 asks servers for 5 minutes; some hosted
	// relays end sessions after 10-60 s), so a kept session is seldom found
	// ended; when it is, the mail goes out on a new one.
	DefaultSMTPIdle = 10 * time.Second
	// DefaultSMTPMails keeps within the per-session limits servers set.
	DefaultSMTPMails = 100
)

// NewSMTP parses SMTP_URL:
// smtp://[user:pass@]host[:port][?tls=none|opportunistic|mandatory][&idle=10s][&mails=100]
// (tls default opportunistic) or smtps:// for implicit TLS. idle= is how
// long a session may wait for its next mail (0: a session per mail),
// mails= how many mails one session sends before it is ended.
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("SMTP_URL must look like smtp://[user:pass@]host:port")
	}
	// go-mail dials, says EHLO, starts TLS and logs in; the mails are
	// sent by transaction.
	opts := []mail.Option{mail.WithTimeout(smtpTimeout)}
	port := 25
	if u.Scheme == "smtps" {
		port = 465
		opts = append(opts, mail.WithSSL())
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_URL port: %w", err)
		}
	}
	opts = append(opts, mail.WithPort(port))
	q := u.Query()
	switch q.Get("tls") {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "mandatory":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	s := &SMTP{idle: DefaultSMTPIdle, perSession: DefaultSMTPMails, timeout: smtpTimeout}
	if v := q.Get("idle"); v != "" {
		if s.idle, err = time.ParseDuration(v); err != nil || s.idle < 0 {
			return nil, fmt.Errorf("SMTP_URL idle=%q: want a duration such as 10s (0: a session per mail)", v)
		}
	}
	if v := q.Get("mails"); v != "" {
		if s.perSession, err = strconv.Atoi(v); err != nil || s.perSession < 1 {
			return nil, fmt.Errorf("SMTP_URL mails=%q: want a number of mails per session, 1 or more", v)
		}
	}
	if s.client, err = mail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return s, nil
}

// Send delivers m on a kept session, or a new one.
func (s *SMTP) Send(ctx context.Context, _ string, m *mail.Msg) error {
	for {
		ss, kept, err := s.take(ctx)
		if err != nil {
			return fmt.Errorf("dial failed: %w", err)
		}
		wait := s.timeout
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			wait = time.Until(d)
		}
		if err = ss.c.UpdateDeadline(wait); err == nil {
			err = transaction(ss.c, m, ss.ext)
		}
		if err == nil {
			ss.sent++
			s.put(ss)
			return nil
		}
		// Whatever failed, the session is not used again.
		go ss.c.Close()
		if kept && beforeTheMail(err) {
			continue // the server had ended the session: nothing was sent
		}
		return fmt.Errorf("send failed: %w", err)
	}
}

// take returns the most recently used kept session (kept true), or dials
// a new one. Sessions idle for longer than s.idle are ended.
func (s *SMTP) take(ctx context.Context) (*session, bool, error) {
	s.mu.Lock()
	var stale []*session
	var ss *session
	if n := len(s.kept); n > 0 {
		ss = s.kept[n-1]
		s.kept = s.kept[:n-1]
		if time.Since(ss.used) > s.idle {
			// It and every one kept before it waited too long.
			stale = append(s.kept, ss)
			s.kept, ss = nil, nil
		}
	}
	s.mu.Unlock()
	for _, old := range stale {
		go quit(old.c)
	}
	if ss != nil {
		return ss, true, nil
	}
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, false, err
	}
	return &session{c: c, ext: extensionsOf(c).without(s.ignore)}, false, nil
}

// put keeps ss for the next mail, or ends it when it has sent its share,
// idle=0 keeps none, or s is closed.
func (s *SMTP) put(ss *session) {
	ss.used = time.Now()
	s.mu.Lock()
	keep := !s.closed && s.idle > 0 && ss.sent < s.perSession
	if keep {
		s.kept = append(s.kept, ss)
	}
	s.mu.Unlock()
	if !keep {
		quit(ss.c)
	}
}

// quit ends a session politely (QUIT), or closes it when the server does
// not answer.
func quit(c *smtp.Client) {
	if err := c.Quit(); err != nil {
		c.Close()
	}
}

// Close ends the kept sessions; a Send after it uses a session of its own.
func (s *SMTP) Close() error {
	s.mu.Lock()
	kept := s.kept
	s.kept, s.closed = nil, true
	s.mu.Unlock()
	for _, ss := range kept {
		quit(ss.c)
	}
	return nil
}
