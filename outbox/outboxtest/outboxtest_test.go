package outboxtest_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestPendingReadsRowsInSeqOrder: Pending returns only pending rows, in
// seq order, each envelope decoded with every attribute kept; Events and
// RequireTypes select by the CloudEvent type, not the NATS subject.
func TestPendingReadsRowsInSeqOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for _, typ := range []string{"a.one", "a.two", "a.one", "a.gone"} {
		id := uuid.Must(uuid.NewV7())
		ids = append(ids, id)
		payload := `{"specversion":"1.0","id":"` + id.String() + `","type":"` + typ + `","ext":"x","data":{"n":1}}`
		if err := outbox.Append(ctx, tx, outbox.Message{ID: id, Subject: "s." + typ, Payload: []byte(payload), OrderingKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE outbox SET state = 'dead' WHERE id = $1`, ids[3]); err != nil {
		t.Fatal(err)
	}
	outboxtest.RequireTypes(t, pool, "a.one", "a.two", "a.one")
	rows := outboxtest.RequireCount(t, pool, "a.one", 2)
	if rows[0].ID != ids[0] || rows[1].ID != ids[2] || rows[0].Seq >= rows[1].Seq {
		t.Fatalf("Events = %+v, want rows %v and %v in seq order", rows, ids[0], ids[2])
	}
	r := rows[0]
	if r.Subject != "s.a.one" || r.OrderingKey != "k" || r.Event.ID != ids[0].String() || r.Event.Attributes["ext"] != "x" {
		t.Errorf("row = %+v", r)
	}
	if d := r.DataMap(t); d["n"] != float64(1) {
		t.Errorf("data = %v", d)
	}
}
