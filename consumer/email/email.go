// Package email is the email service: it writes the mails the auth events
// call for (a welcome on registration, the one-time links of address
// verification, password reset and email change, and the notices that
// follow a password or address change). It sends through SMTP with
// go-mail, or, when no SMTP server is configured (development), writes
// each message as an .eml file.
//
// A link's token reaches this service sealed to its private key
// (MAIL_SEAL_PRIVATE_KEY); it is opened only to write the mail, and is in
// clear nowhere else: not in the event, the stream, the DLQ, a table or a
// log line.
//
// Once per mail: an event may call for more than one mail (an email change
// writes to the new address and to the old one); each has a key derived
// from the event id and its kind. A replica claims the key (a lease row in
// Postgres, see consumer.Claim) before sending, so two replicas never send
// one mail at the same time; the key is recorded after a successful send,
// and a recorded mail is never sent again. A crash between the send and
// the record sends once more on redelivery, after the crashed holder's
// lease expired; that message carries the same Message-ID (derived from
// the key), so a receiving server or client can drop the repeat. The .eml
// writer is idempotent by construction (one file per key).
package email

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// Durable is the consumer name, a contract.
const Durable = "email-service"

// Config subscribes to the event types that call for a mail, each in
// both versions (version 2 is read when the service holds the personal
// data key, and acked unread otherwise: consumer.Versioned): with one
// filter per type on nats-server 2.10 and later, and the user.* wildcard
// on 2.9 (other types are then acked without a transaction).
func Config(stream, subjectPrefix string) consumer.Config {
	var subjects []string
	for _, t := range Types() {
		subjects = append(subjects, subjectPrefix+t)
		if v2 := authevents.ProtectedType(t); v2 != "" {
			subjects = append(subjects, subjectPrefix+v2)
		}
	}
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjectPrefix + "user.*", FilterSubjects: subjects}
}

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, id string, m *mail.Msg) error
}

// Handler writes the mails.
type Handler struct {
	pool   *pgxpool.Pool
	sender Sender
	from   string
	owner  string // lease owner, unique per handler instance
	// inflight holds the mails this process is sending: with
	// SMTP_CONCURRENCY two workers may hold one event at once (a
	// redelivery while the first sends), and the lease, whose holder
	// is the process, would let both through.
	inflight sync.Map
	opener   *token.Opener
	links    string         // LINK_BASE_URL
	keys     *personal.Keys // Guard only
}

// Option configures a Handler.
type Option func(*Handler)

// WithLinks lets the handler open sealed link tokens with opener and
// build links on base (LINK_BASE_URL); without it, an event carrying a
// link is refused (dead-lettered).
func WithLinks(opener *token.Opener, base string) Option {
	return func(h *Handler) { h.opener, h.links = opener, base }
}

// New returns the email handler.
func New(pool *pgxpool.Pool, sender Sender, from string, opts ...Option) *Handler {
	h := &Handler{pool: pool, sender: sender, from: from, owner: consumer.NewOwner(),
		keys: personal.NewKeys(pool, nil, personal.Options{})}
	for _, o := range opts {
		o(h)
	}
	return h
}

// KindHeader is the header naming a mail's kind (KindVerify, KindReset…).
const KindHeader = "X-Authevents-Kind"

// MessageID is the Message-ID of the mail with key.
func MessageID(key string) string { return key + "@authevents" }

// Key is the idempotency key of the mail of kind for an event: the event
// id for the welcome mail (as before there were other kinds), a name-based
// UUID of the event id and the kind for every other.
func Key(eventID uuid.UUID, kind string) uuid.UUID {
	if kind == KindWelcome {
		return eventID
	}
	return uuid.NewSHA1(eventID, []byte(kind))
}

// Handle sends each mail the event calls for, once. On user.deleted it
// first drops what the service keeps of the user (erase.go), then sends
// the one confirmation; a mail for a user already erased is not sent, nor
// one of a version 2 event whose key is erased (its recipient is gone).
//
// user.deleted_v2 carries the address under the user's farewell key
// (personal.FarewellOwner): the transaction that records the confirmation
// as sent erases that key, so the address is unreadable everywhere once
// the mail is out.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	if ev.Erased() {
		return nil
	}
	mails, err := h.mails(ev)
	if err != nil || len(mails) == 0 {
		return err
	}
	user := owner(ev)
	var farewell *uuid.UUID
	if ev.Base == authevents.EventUserDeleted {
		if err := h.erase(ctx, ev, user, mails[0].To); err != nil {
			return err
		}
		if ev.Version == 2 && user != nil {
			f := personal.FarewellOwner(*user)
			farewell = &f
		}
		user = nil // the confirmation goes to a user erased by design
	}
	for _, m := range mails {
		if err := h.sendOnce(ctx, ev, m, user, farewell); err != nil {
			return err
		}
	}
	return nil
}

// sendOnce sends m unless its key is recorded, then records it (and, with
// farewell, erases that key in the same transaction). With a user, it
// sends under personal.Keys.Guard and not at all for a user erased.
func (h *Handler) sendOnce(ctx context.Context, ev *consumer.Event, m Mail, user, farewell *uuid.UUID) error {
	key := Key(ev.EventID, m.Kind)
	msg, err := h.message(ev, key, m)
	if err != nil {
		return err
	}
	// Claim, then check: a replica that checked first could see the mail
	// unsent just before the holder records it and releases.
	ttl := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		// The send cannot outlive the handler's deadline, and recording it
		// has recordTimeout more: the lease outlasts both.
		ttl = time.Until(dl) + recordTimeout + 5*time.Second
	}
	if _, busy := h.inflight.LoadOrStore(key, struct{}{}); busy {
		return consumer.ErrClaimed
	}
	defer h.inflight.Delete(key)
	// Claim, then check, in one round trip: a replica that checked first
	// could see the mail unsent just before the holder records it and
	// releases.
	b := &pgx.Batch{}
	claimed, done := consumer.QueueClaimUnprocessed(b, Durable, key, h.owner, ttl)
	if err := h.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("claim mail: %w", err)
	}
	if !claimed() {
		return consumer.ErrClaimed
	}
	if done() {
		h.release(ctx, key)
		return nil
	}
	// With a user, the send runs in a transaction holding
	// personal.Keys.Guard (guard), which then records it.
	var tx pgx.Tx
	if user != nil {
		tx, err = h.guard(ctx, *user)
		if errors.Is(err, personal.ErrErased) {
			h.release(ctx, key)
			return nil
		}
		if err != nil {
			h.release(ctx, key)
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) // nothing once committed
	}
	if err := h.sender.Send(ctx, key.String(), msg); err != nil {
		h.release(ctx, key)
		// The SMTP server's text can name the recipient: the error that
		// may become a dead letter's reason names no address.
		return fmt.Errorf("send %s mail: %w", m.Kind, redactSendError(err, m.To))
	}
	// The mail is out: record it whatever is left of the handler's
	// deadline. On a send that ended just before the deadline, recording
	// on ctx failed, and the retry sent the mail again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if farewell != nil {
		return postgres.WithTx(rctx, h.pool, func(tx pgx.Tx) error {
			if _, err := consumer.Once(rctx, tx, Durable, key); err != nil {
				return err
			}
			if err := h.keys.Erase(rctx, tx, *farewell); err != nil {
				return err
			}
			return consumer.Release(rctx, tx, Durable, key, h.owner)
		})
	}
	b = &pgx.Batch{}
	consumer.QueueRecordRelease(b, Durable, key, h.owner)
	if tx == nil {
		// One round trip: the batch is its own implicit transaction.
		if err := h.pool.SendBatch(rctx, b).Close(); err != nil {
			return fmt.Errorf("record mail: %w", err)
		}
		return nil
	}
	if err := tx.SendBatch(rctx, b).Close(); err != nil {
		return fmt.Errorf("record mail: %w", err)
	}
	if err := tx.Commit(rctx); err != nil {
		return fmt.Errorf("record mail: commit: %w", err)
	}
	return nil
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

// message builds the MIME message of m: a text and an HTML part.
func (h *Handler) message(ev *consumer.Event, key uuid.UUID, m Mail) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(h.from); err != nil {
		return nil, consumer.Permanent(fmt.Errorf("MAIL_FROM: %w", err))
	}
	if err := msg.To(m.To); err != nil {
		return nil, consumer.Permanent(errors.New("the recipient is not an address go-mail accepts"))
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(MessageID(key.String()))
	// The kind lets a mail filter, a test or a load tool tell the mails
	// apart without parsing the words; it holds no personal data.
	msg.SetGenHeader(KindHeader, m.Kind)
	msg.SetDateWithValue(ev.OccurredAt)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	return msg, nil
}
