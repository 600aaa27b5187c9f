package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestMigrationsRoundTrip applies every migration, rolls each back to an
// empty schema, and applies them again: every Down must undo its Up.
func TestMigrationsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t), 2, postgres.Session{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.CheckSchema(ctx, pool); err == nil || !strings.Contains(err.Error(), "not migrated") {
		t.Fatalf("CheckSchema on an empty database = %v", err)
	}
	m, err := postgres.NewMigrator(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	_, target, err := m.Versions(ctx)
	if err != nil || target < 6 {
		t.Fatalf("Versions = %d, %v", target, err)
	}
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		t.Fatalf("CheckSchema after up: %v", err)
	}
	for {
		cur, _, err := m.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cur == 0 {
			break
		}
		if _, err := m.Down(ctx); err != nil {
			t.Fatalf("down from %d: %v", cur, err)
		}
	}
	var tables int
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables)
	if tables != 0 {
		t.Fatalf("%d tables left after rolling everything back", tables)
	}
	if err := postgres.CheckSchema(ctx, pool); err == nil {
		t.Fatal("CheckSchema accepted a rolled-back schema")
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
