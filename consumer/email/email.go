// Package email is the welcome-email subscriber (user.registered). It sends
// through SMTP with go-mail, or, when no SMTP server is configured
// (development), writes each message as an .eml file.
//
// Once per user: a replica claims the event (a lease row in Postgres, see
// consumer.Claim) before sending, so two replicas never send one event at
// the same time; the event id is recorded after a successful send, and a
// recorded event is never sent again. A crash between the send and the
// record sends once more on redelivery, after the crashed holder's lease
// expired; that message carries the same
// Message-ID (derived from the event id), so a receiving server or client
// can drop the repeat. The .eml writer is idempotent by construction (one
// file per event id).
package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres"
)

// Durable is the consumer name, a contract.
const Durable = "email-service"

// Config subscribes to registrations only.
func Config(stream, subjectPrefix string) consumer.Config {
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjectPrefix + authevents.EventUserRegistered}
}

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, id string, m *mail.Msg) error
}

// Handler sends welcome emails.
type Handler struct {
	pool   *pgxpool.Pool
	sender Sender
	from   string
	owner  string // lease owner, unique per handler instance
}

// New returns the email handler.
func New(pool *pgxpool.Pool, sender Sender, from string) *Handler {
	return &Handler{pool: pool, sender: sender, from: from, owner: consumer.NewOwner()}
}

// MessageID is the Message-ID of the welcome email of an event.
func MessageID(eventID string) string { return eventID + "@authevents" }

// Handle sends the welcome email of a user.registered event once.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	if ev.Type != authevents.EventUserRegistered {
		return nil
	}
	id := ev.EventID
	var d authevents.UserRegistered
	if err := ev.Decode(&d); err != nil {
		return err
	}
	if d.Email == "" {
		return consumer.Permanent(errors.New("user.registered data without an email"))
	}
	m, err := h.message(ev, d)
	if err != nil {
		return err
	}
	// Claim, then check: a replica that checked first could see the event
	// unprocessed just before the holder records it and releases.
	ttl := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		// The send cannot outlive the handler's deadline, and recording it
		// has recordTimeout more: the lease outlasts both.
		ttl = time.Until(dl) + recordTimeout + 5*time.Second
	}
	claimed, err := consumer.Claim(ctx, h.pool, Durable, id, h.owner, ttl)
	if err != nil {
		return err
	}
	if !claimed {
		return consumer.ErrClaimed
	}
	var done bool
	if err := h.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)`, Durable, id).Scan(&done); err != nil {
		h.release(ctx, id)
		return err
	}
	if done {
		h.release(ctx, id)
		return nil
	}
	if err := h.sender.Send(ctx, ev.ID, m); err != nil {
		h.release(ctx, id)
		return fmt.Errorf("send welcome email: %w", err)
	}
	// The mail is out: record it whatever is left of the handler's
	// deadline. On a send that ended just before the deadline, recording
	// on ctx failed, and the retry sent the mail again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return postgres.WithTx(rctx, h.pool, func(tx pgx.Tx) error {
		if _, err := consumer.Once(rctx, tx, Durable, id); err != nil {
			return err
		}
		return consumer.Release(rctx, tx, Durable, id, h.owner)
	})
}

// recordTimeout bounds recording a sent mail, a deadline of its own.
const recordTimeout = 5 * time.Second

// release gives the lease up after a failure, so a retry need not wait for
// it to expire; it has its own deadline, since ctx may be the one that ran out.
func (h *Handler) release(ctx context.Context, id uuid.UUID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	consumer.Release(rctx, h.pool, Durable, id, h.owner) // if it fails, the lease expires
}

// message builds the welcome email of a registration.
func (h *Handler) message(ev *consumer.Event, d authevents.UserRegistered) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(h.from); err != nil {
		return nil, consumer.Permanent(fmt.Errorf("MAIL_FROM: %w", err))
	}
	if err := m.To(d.Email); err != nil {
		return nil, consumer.Permanent(fmt.Errorf("recipient: %w", err))
	}
	m.Subject("Welcome to authevents, " + d.Name)
	m.SetMessageIDWithValue(MessageID(ev.ID))
	m.SetDateWithValue(ev.OccurredAt)
	m.SetBodyString(mail.TypeTextPlain, "Hello "+d.Name+",\r\n\r\nyour account "+d.Email+" is ready.\r\n\r\n-- authevents\r\n")
	return m, nil
}

// SMTP sends through an SMTP server.
type SMTP struct{ client *mail.Client }

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
	c, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return &SMTP{client: c}, nil
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, _ string, m *mail.Msg) error {
	return s.client.DialAndSendWithContext(ctx, m)
}

// Files writes each message as <dir>/<event id>.eml.
type Files struct{ Dir string }

// Send writes m atomically (temp file, then rename).
func (f Files) Send(_ context.Context, id string, m *mail.Msg) error {
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(f.Dir, id+".eml"))
}
