package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/personal"
)

// TestPersonalRewrap: after a KEK rotation (a new key first in
// PERSONAL_DATA_KEY_FILE, the old one below), authctl personal rewrap
// re-wraps every live key under the new one, and the old one alone then
// opens none of them.
func TestPersonalRewrap(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	ctx := context.Background()
	oldKEK, newKEK := personal.GenerateKEK(), personal.GenerateKEK()
	oldRing, _ := personal.NewKeyring(oldKEK)
	keys := personal.NewKeys(pool, oldRing, personal.Options{})
	users := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, u := range users {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := keys.Create(ctx, tx, u); return err }); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "kek")
	os.WriteFile(file, []byte(newKEK+"\n"+oldKEK+"\n"), 0o600)
	out, err := runCLI(t, map[string]string{"DATABASE_URL": dbURL, "PERSONAL_DATA_KEY_FILE": file}, "personal", "rewrap")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "personal rewrap", out, "{kekId:s,rewrapped:n}")
	newRing, _ := personal.NewKeyring(newKEK)
	if out["rewrapped"] != 3.0 || out["kekId"] != newRing.CurrentID() {
		t.Errorf("personal rewrap = %v, want 3 under %s", out, newRing.CurrentID())
	}
	onlyOld := personal.NewKeys(pool, oldRing, personal.Options{})
	onlyNew := personal.NewKeys(pool, newRing, personal.Options{})
	for _, u := range users {
		if _, err := onlyOld.Key(ctx, u); err == nil {
			t.Errorf("the old KEK alone still opens %s's key", u)
		}
		if _, err := onlyNew.Key(ctx, u); err != nil {
			t.Errorf("the new KEK does not open %s's key: %v", u, err)
		}
	}
	if _, err := runCLI(t, map[string]string{"DATABASE_URL": dbURL}, "personal", "rewrap"); err == nil {
		t.Error("personal rewrap without a key file succeeded")
	}
}
