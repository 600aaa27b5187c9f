// Package audit is the audit-log subscriber: every auth event recorded
// exactly once, with its full envelope, in an append-only table (a trigger
// refuses UPDATE, DELETE and TRUNCATE).
package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/personal"
)

// Durable is the consumer name, a contract.
const Durable = "audit-log"

// Config is the audit consumer's configuration: every subject.
func Config(stream, subjects string) consumer.Config {
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjects}
}

// Handler writes audit rows.
type Handler struct {
	pool *pgxpool.Pool
	keys *personal.Keys // Guard only: the audit log decrypts nothing
}

// New returns the audit handler.
func New(pool *pgxpool.Pool) *Handler {
	return &Handler{pool: pool, keys: personal.NewKeys(pool, nil, personal.Options{})}
}

// Handle records ev once. The event id is the primary key of audit_log, so
// the row itself is the idempotency record.
//
// A version 2 event is recorded as received: its type (user.logged_in_v2),
// and its envelope with the personal properties still protected; the ip
// and user_agent columns get the per-user pseudonyms of its data
// (ipPseudonym, userAgentPseudonym), not clear values. Which version is
// recorded is consumer.Versioned's choice: the one the service reads.
//
// user.deleted is recorded, then the user's rows, this one included, are
// rewritten by audit_erase_user (migration 00016), under
// personal.LockForErasure: the facts stay, the personal values go. An
// event of a user already erased (an older one redelivered, or delivered
// late), or a version 2 event whose key is erased, is recorded with its
// personal values already erased, as audit_erase_user would leave it:
// Guard orders the store against the erasure, so nothing personal comes
// back.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	return postgres.WithTx(ctx, h.pool, func(tx pgx.Tx) error { return h.HandleBatch(ctx, tx, []*consumer.Event{ev}) })
}

// Entry is one audit row as authctl prints it. Type is the type as
// received (user.logged_in_v2); BaseType the type without its version
// (user.logged_in), so a reader groups both versions of one kind of
// change. Of a version 2 entry, IP and UserAgent are the user's
// pseudonyms (pu1.), and the envelope's personal properties are
// protected: read them through personal.Keys (or the key-access
// endpoint) while the user's key lives.
type Entry struct {
	EventID    uuid.UUID       `json:"eventId"`
	Type       string          `json:"type"`
	BaseType   string          `json:"baseType"`
	UserID     *uuid.UUID      `json:"userId"`
	OccurredAt time.Time       `json:"occurredAt"`
	IP         string          `json:"ip"`
	UserAgent  string          `json:"userAgent"`
	Envelope   json.RawMessage `json:"envelope"`
}

// Query returns a user's entries since a time, oldest first.
func Query(ctx context.Context, q postgres.Querier, user uuid.UUID, since time.Time, limit int) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT event_id, type, user_id, occurred_at, ip, user_agent, envelope
		FROM audit_log WHERE user_id = $1 AND occurred_at >= $2 ORDER BY occurred_at, event_id LIMIT $3`, user, since, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		var env []byte
		err := r.Scan(&e.EventID, &e.Type, &e.UserID, &e.OccurredAt, &e.IP, &e.UserAgent, &env)
		e.Envelope = env
		e.BaseType, _ = authevents.BaseType(e.Type)
		return e, err
	})
}
