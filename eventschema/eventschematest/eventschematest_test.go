package eventschematest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/eventschema/eventschematest"
	"github.com/authevents/authevents/outbox"
)

// recorder keeps the failures instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestOutboxCheckFindsABrokenEvent: the check every account test runs at
// cleanup reports an event that breaks its schema, and one on the wrong
// subject, and passes good ones.
func TestOutboxCheckFindsABrokenEvent(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	src := authevents.EventSource{Source: "auth-service", ServiceVersion: "t", Environment: "test"}
	at := time.Now()
	good, _ := authevents.NewCloudEvent(src, uuid.NewString(), authevents.EventUserLoggedOut, "u", at,
		authevents.UserLoggedOut{UserID: uuid.NewString(), SessionID: uuid.NewString(), Timestamp: authevents.Timestamp(at)})
	broken, _ := authevents.NewCloudEvent(src, uuid.NewString(), authevents.EventUserLoggedOut, "u", at,
		authevents.UserLoggedOut{UserID: "not-a-uuid", SessionID: uuid.NewString(), Timestamp: authevents.Timestamp(at)})
	add := func(subject string, ce authevents.CloudEvent) {
		b, _ := json.Marshal(ce)
		err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			return outbox.Append(context.Background(), tx, outbox.Message{ID: uuid.New(), Subject: subject, Payload: b, OrderingKey: "k"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(authevents.Subject(authevents.EventUserLoggedOut), good)
	rec := &recorder{TB: t}
	if n := eventschematest.Outbox(rec, pool); n != 1 || len(rec.errs) != 0 {
		t.Fatalf("one good event: checked %d, errors %v", n, rec.errs)
	}
	add(authevents.Subject(authevents.EventUserLoggedOut), broken)
	add("auth.user.registered", good)
	rec = &recorder{TB: t}
	eventschematest.Outbox(rec, pool)
	got := strings.Join(rec.errs, "\n")
	if len(rec.errs) != 2 || !strings.Contains(got, "userId") || !strings.Contains(got, "want auth.user.logged_out") {
		t.Errorf("errors = %v, want the bad userId and the wrong subject", rec.errs)
	}
}
