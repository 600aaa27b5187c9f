// Package outboxtest reads the pending rows of an outbox table and asserts
// on them, for the tests of the writers (account). Each row's payload is
// decoded as a CloudEvents 1.0 structured JSON envelope; like package
// outbox it knows nothing of auth events: event types are strings and
// the data stays JSON until a test decodes it.
package outboxtest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Querier is what the helpers read through: a pool, a connection or a
// transaction (to look inside one before it commits).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// CloudEvent is a decoded structured-mode CloudEvents 1.0 envelope: the
// standard attributes of authevents.CloudEvent, declared again here so that
// the outbox packages stay free of the domain root.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	Subject         string          `json:"subject"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	// Attributes holds every top-level member of the envelope as decoded
	// JSON, extension attributes included, so a test can check the exact
	// set.
	Attributes map[string]any `json:"-"`
}

// Row is one pending outbox row.
type Row struct {
	ID          uuid.UUID
	Seq         int64
	Subject     string
	OrderingKey string
	Payload     string
	Event       CloudEvent
}

// Data decodes the event's data into v, failing t when it does not decode.
func (r Row) Data(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Event.Data, v); err != nil {
		t.Fatalf("outbox row %s (%s): data %s: %v", r.ID, r.Event.Type, r.Event.Data, err)
	}
}

// DataMap returns the event's data as a JSON object.
func (r Row) DataMap(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.Data(t, &m)
	return m
}

// Pending returns every pending row, in seq order (the order the relay
// publishes a key's rows in), each payload decoded as a CloudEvent. A
// payload that is not a JSON object fails t.
func Pending(t testing.TB, q Querier) []Row {
	t.Helper()
	rows, err := q.Query(context.Background(),
		`SELECT id, seq, subject, ordering_key, payload FROM outbox WHERE state = 'pending' ORDER BY seq`)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		var row Row
		err := r.Scan(&row.ID, &row.Seq, &row.Subject, &row.OrderingKey, &row.Payload)
		return row, err
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	for i := range out {
		r := &out[i]
		if err := json.Unmarshal([]byte(r.Payload), &r.Event); err != nil {
			t.Fatalf("outbox row %s (seq %d): payload is not a CloudEvent: %v", r.ID, r.Seq, err)
		}
		if err := json.Unmarshal([]byte(r.Payload), &r.Event.Attributes); err != nil {
			t.Fatalf("outbox row %s (seq %d): payload is not a JSON object: %v", r.ID, r.Seq, err)
		}
	}
	return out
}

// Events returns the pending rows whose CloudEvent type is eventType, in
// seq order.
func Events(t testing.TB, q Querier, eventType string) []Row {
	t.Helper()
	var out []Row
	for _, r := range Pending(t, q) {
		if r.Event.Type == eventType {
			out = append(out, r)
		}
	}
	return out
}

// Types returns the CloudEvent type of every pending row, in seq order.
func Types(t testing.TB, q Querier) []string {
	t.Helper()
	var out []string
	for _, r := range Pending(t, q) {
		out = append(out, r.Event.Type)
	}
	return out
}

// RequireTypes fails t unless the pending rows are exactly events of
// these types, in this seq order (none when types is empty).
func RequireTypes(t testing.TB, q Querier, types ...string) {
	t.Helper()
	if got := Types(t, q); !slices.Equal(got, types) {
		t.Fatalf("pending outbox events = %q, want exactly %q", got, types)
	}
}

// RequireCount fails t unless there are exactly n pending events of
// eventType, and returns them.
func RequireCount(t testing.TB, q Querier, eventType string, n int) []Row {
	t.Helper()
	rows := Events(t, q, eventType)
	if len(rows) != n {
		t.Fatalf("%d pending %s events, want %d: %v", len(rows), eventType, n, Types(t, q))
	}
	return rows
}
