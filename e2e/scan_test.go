package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// A finding is a place a scan found a needle: where, and which needle.
type finding struct{ where, needle string }

// needles maps what a scan looks for to a name for it in the report (the
// needle itself may be a secret: reports name it, never print it).
type needles map[string]string

func (n needles) in(text string) []string {
	var found []string
	for needle, name := range n {
		if strings.Contains(text, needle) {
			found = append(found, name)
		}
	}
	return found
}

// scanStream reads every message of a stream, data and headers, and
// returns the needles found in each, with the number of messages read.
func scanStream(t *testing.T, js jetstream.JetStream, stream string, n needles) ([]finding, int) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	st := s.CachedInfo().State
	var out []finding
	read := 0
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		read++
		text := string(m.Data)
		for k, vs := range m.Header {
			text += "\n" + k + ": " + strings.Join(vs, ",")
		}
		for _, name := range n.in(text) {
			out = append(out, finding{stream + " message " + m.Subject, name})
		}
	}
	return out, read
}

// scanTables reads every row of every table of the public schema as text
// (bytea as \x hex) and returns the needles found, except in the tables
// allowed for that needle's name, with the number of rows read.
func scanTables(t *testing.T, pool *pgxpool.Pool, n needles, allowed map[string][]string) ([]finding, int) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out []finding
	read := 0
	for _, table := range tables {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			read++
			for _, name := range n.in(text) {
				if !slices.Contains(allowed[name], table) {
					out = append(out, finding{"table " + table, name})
				}
			}
		}
	}
	return out, read
}

// scanLogs reads every line of the log files and returns the needles
// found, with the number of lines read.
func scanLogs(t *testing.T, paths []string, n needles) ([]finding, int) {
	t.Helper()
	var out []finding
	read := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			read++
			for _, name := range n.in(line) {
				out = append(out, finding{"log " + p, name})
			}
		}
	}
	return out, read
}
