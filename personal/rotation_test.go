package personal

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents/db/postgres/pgtest"
)

func TestKEKRotationKeepsOldCiphertextsReadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	oldKEK, newKEK := GenerateKEK(), GenerateKEK()
	before := NewKeys(pool, testRing(t, oldKEK), Options{})
	users := make([]uuid.UUID, 5)
	sealed := make([]string, len(users))
	for i := range users {
		users[i] = uuid.New()
		sealed[i] = createKey(t, before, pool, users[i]).Encrypt("ev", FieldEmail, users[i].String())
	}
	erase(t, before, pool, users[4]) // tombstones are not re-wrapped

	during := NewKeys(pool, testRing(t, newKEK, oldKEK), Options{CacheSize: -1})
	readAll := func(ks *Keys, stage string) {
		t.Helper()
		for i, u := range users[:4] {
			if got, err := ks.Decrypt(ctx, u, "ev", FieldEmail, sealed[i]); err != nil || got != u.String() {
				t.Fatalf("%s: Decrypt = %q, %v", stage, got, err)
			}
		}
	}
	readAll(during, "new KEK current, old still configured")
	total := 0
	for {
		n, err := during.Rewrap(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 4 {
		t.Fatalf("Rewrap re-wrapped %d keys, want the 4 live ones", total)
	}
	var stale int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM personal_keys WHERE erased_at IS NULL AND kek_id <> $1`, during.ring.CurrentID()).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d keys still under the old KEK (%v)", stale, err)
	}

	after := NewKeys(pool, testRing(t, newKEK), Options{CacheSize: -1})
	readAll(after, "old KEK dropped")
	if _, err := NewKeys(pool, testRing(t, oldKEK), Options{CacheSize: -1}).Key(ctx, users[0]); err == nil {
		t.Fatal("the old KEK alone still unwraps a re-wrapped key")
	}
}

func TestKeyringFile(t *testing.T) {
	t.Parallel()
	cur, prev := GenerateKEK(), GenerateKEK()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("# rotated 2026-12-04\n"+cur+"\n\n"+prev+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := ReadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := testRing(t, cur)
	if r.CurrentID() != want.CurrentID() || len(r.keks) != 2 {
		t.Fatalf("ReadKeyringFile: current %s of %d keys, want %s of 2", r.CurrentID(), len(r.keks), want.CurrentID())
	}
	for _, bad := range []string{"", "# only a comment\n", "not-a-key\n"} {
		_ = os.WriteFile(path, []byte(bad), 0o600)
		if _, err := ReadKeyringFile(path); err == nil {
			t.Errorf("ReadKeyringFile(%q) succeeded", bad)
		}
	}
}
