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
// from the event id and its kind. A replica inserts the key's
// processed_events row in a transaction before sending and commits it
// after a successful send (sendOnce), so two replicas never send one mail
// at the same time (the second waits on the row, briefly, then retries
// later), and a recorded mail is never sent again. A crash between the
// send and the commit rolls the row back and sends once more on
// redelivery; that message carries the same Message-ID (derived from the
// key), so a receiving server or client can drop the repeat. The .eml
// writer is idempotent by construction (one file per key).
package email

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
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
	// inflight holds the mails this process is sending: with
	// SMTP_CONCURRENCY two workers may hold one event at once (a
	// redelivery while the first sends); the second answers ErrClaimed
	// at once instead of waiting up to claimWait on its own process's
	// uncommitted row.
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
	h := &Handler{pool: pool, sender: sender, from: from,
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
//
// The record is the lock: one transaction inserts the key's
// processed_events row before the send and commits after it, so a second
// replica's insert of the same key waits for that commit (then finds the
// mail recorded) or for the rollback of a failed or crashed send (then
// sends it); it waits at most claimWait, then answers consumer.ErrClaimed
// (retried later without spending an attempt). Two round trips: the BEGIN
// with the guard and the insert, and the COMMIT.
func (h *Handler) sendOnce(ctx context.Context, ev *consumer.Event, m Mail, user, farewell *uuid.UUID) error {
	key := Key(ev.EventID, m.Kind)
	msg, err := h.message(ev, key, m)
	if err != nil {
		return err
	}
	if _, busy := h.inflight.LoadOrStore(key, struct{}{}); busy {
		return consumer.ErrClaimed
	}
	defer h.inflight.Delete(key)
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT set_config('lock_timeout', $1, true)`, strconv.FormatInt(claimWaitWithin(ctx).Milliseconds(), 10)+"ms")
	erased := func() error { return nil }
	if user != nil {
		erased = h.keys.QueueGuard(b, *user)
	}
	var first bool
	b.Queue(`INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, Durable, key).Exec(func(tag pgconn.CommandTag) error {
		first = tag.RowsAffected() == 1
		return nil
	})
	if farewell != nil {
		// The wait is bounded for the claim only: the erasure that
		// follows the send must not fail on a lock and make a retry send
		// the mail again. (Nothing else but the COMMIT follows it.)
		b.Queue(`SET LOCAL lock_timeout TO DEFAULT`)
	}
	br := h.pool.SendBatch(ctx, b)
	tx := br.Tx() // nil when no connection was acquired
	if err := br.Close(); err != nil || tx == nil {
		if tx != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
		if isLockTimeout(err) {
			return consumer.ErrClaimed // another replica is sending it
		}
		return fmt.Errorf("claim mail: %w", cmp.Or(err, errors.New("no transaction")))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // nothing once committed
	if err := erased(); errors.Is(err, personal.ErrErased) {
		return nil
	}
	if !first {
		return nil // recorded: sent before
	}
	if err := h.sender.Send(ctx, key.String(), msg); err != nil {
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
		if err := h.keys.Erase(rctx, tx, *farewell); err != nil {
			return err
		}
	}
	if err := tx.Commit(rctx); err != nil {
		return fmt.Errorf("record mail: commit: %w", err)
	}
	return nil
}

// claimWait bounds the wait for another replica's send of the same mail.
const claimWait = 2 * time.Second

// claimWaitWithin is claimWait, or a quarter of what is left of ctx's
// deadline when that is shorter (never 0, which PostgreSQL reads as no
// bound): the handler's deadline is CONSUMER_ACK_WAIT less a second, and a
// wait that outlasted it ended in a deadline error, a failure spending an
// attempt, where the answer is ErrClaimed
// (TestAClaimWaitEndsBeforeTheHandlersDeadline). lock_timeout bounds each
// lock wait, and the claim has three: the erasure guard's advisory lock,
// its FOR SHARE of the key row, and the insert.
func claimWaitWithin(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return claimWait
	}
	return max(min(claimWait, time.Until(d)/4), time.Millisecond)
}

// isLockTimeout reports a statement ended by lock_timeout (SQLSTATE 55P03).
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// recordTimeout bounds recording a sent mail, a deadline of its own.
const recordTimeout = 5 * time.Second

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
