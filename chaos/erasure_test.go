package chaos_test

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/chaos"
	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/personal"
)

const dlqStream = "auth-events-dlq"

// erasureEvidence reads what the erasure check judges (chaos.Evidence's
// Deletions, DLQ, Rows and Keys), once the run drained.
func (s *system) erasureEvidence(ev *chaos.Evidence, deletions []load.Deletion) {
	ev.Deletions = deletions
	ev.DLQ = s.readDLQ()
	ev.Rows, ev.RowsScanned = s.scanTables(chaos.Needles(deletions))
	control, _ := s.scanTables([]string{"@" + load.Domain})
	ev.ControlRows = len(control)
	ev.Keys = s.keys(deletions)
}

// readDLQ reads every dead letter, under its original subject; none when
// nothing was dead-lettered (the stream may not exist).
func (s *system) readDLQ() []chaos.StreamMsg {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, dlqStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		s.t.Fatalf("stream %s: %v", dlqStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []chaos.StreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		out = append(out, streamMsg(m.Header.Get(consumer.HeaderOriginalSubject), m.Data, m.Header))
	}
	return out
}

// scanTables returns the rows of every table of the public schema, read as
// PostgreSQL's record text (every column: text, jsonb and the rest), that
// hold any of the needles, and how many rows there were. PostgreSQL does
// the matching: the rows that hold none stay on the server.
func (s *system) scanTables(needles []string) ([]chaos.TableRow, int) {
	ctx := context.Background()
	rows, _ := s.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.t.Fatal(err)
	}
	patterns := make([]string, len(needles))
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	for i, n := range needles {
		patterns[i] = "%" + esc.Replace(n) + "%"
	}
	var out []chaos.TableRow
	total := 0
	for _, table := range tables {
		id := pgx.Identifier{table}.Sanitize()
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+id).Scan(&n); err != nil {
			s.t.Fatal(err)
		}
		total += n
		rows, _ := s.pool.Query(ctx, `SELECT t::text FROM `+id+` t WHERE t::text LIKE ANY ($1)`, patterns)
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			s.t.Fatal(err)
		}
		for _, text := range texts {
			out = append(out, chaos.TableRow{Table: table, Text: text})
		}
	}
	return out, total
}

// keys returns the personal_keys rows of the users of deletions and of
// their farewell keys: owner id → erased.
func (s *system) keys(deletions []load.Deletion) map[string]bool {
	var owners []string
	for _, d := range deletions {
		if u, err := uuid.Parse(d.UserID); err == nil {
			owners = append(owners, u.String(), personal.FarewellOwner(u).String())
		}
	}
	rows, _ := s.pool.Query(context.Background(), `SELECT user_id::text, erased_at IS NOT NULL FROM personal_keys WHERE user_id = ANY ($1::uuid[])`, owners)
	out := map[string]bool{}
	var owner string
	var erased bool
	if _, err := pgx.ForEachRow(rows, []any{&owner, &erased}, func() error { out[owner] = erased; return nil }); err != nil {
		s.t.Fatal(err)
	}
	return out
}
