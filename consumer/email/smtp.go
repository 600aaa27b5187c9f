package email

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTP sends through an SMTP server, each message in a session of its
// own: Send may be called concurrently (the email consumer's
// SMTP_CONCURRENCY), and each call dials with a client of its own, so
// the sessions run side by side instead of queueing on one client.
type SMTP struct {
	host string
	opts []mail.Option
}

// NewSMTP parses SMTP_URL: smtp://[user:pass@]host[:port][?tls=none|opportunistic|mandatory]
// (default opportunistic) or smtps:// for implicit TLS.
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("SMTP_URL must look like smtp://[user:pass@]host:port")
	}
	opts := []mail.Option{mail.WithTimeout(10 * time.Second)}
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
	switch u.Query().Get("tls") {
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
	if _, err := mail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return &SMTP{host: u.Hostname(), opts: opts}, nil
}

// Send delivers m in an SMTP session of its own.
func (s *SMTP) Send(ctx context.Context, _ string, m *mail.Msg) error {
	c, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, m)
}
