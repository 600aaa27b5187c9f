package personal

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres/pgtest"
)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup returns a fresh migrated database and a key store on it.
func setup(t testing.TB) (context.Context, *pgxpool.Pool, *Keys) {
	t.Helper()
	pool := pgtest.New(t)
	return context.Background(), pool, NewKeys(pool, testRing(t, GenerateKEK()), Options{})
}

func testRing(t testing.TB, current string, previous ...string) *Keyring {
	t.Helper()
	r, err := NewKeyring(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// createKey makes user's key in a committed transaction.
func createKey(t testing.TB, ks *Keys, pool *pgxpool.Pool, user uuid.UUID) *DataKey {
	t.Helper()
	var k *DataKey
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) (err error) {
		k, err = ks.Create(context.Background(), tx, user)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func erase(t testing.TB, ks *Keys, pool *pgxpool.Pool, user uuid.UUID) {
	t.Helper()
	if err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return ks.Erase(context.Background(), tx, user)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestKeyCommitsWithItsTransaction(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	user := uuid.New()

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Create(ctx, tx, user); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	if _, err := ks.Key(ctx, user); !errors.Is(err, ErrNoKey) {
		t.Fatalf("after rollback: Key = %v, want ErrNoKey", err)
	}

	k := createKey(t, ks, pool, user)
	sealed := k.Encrypt("ev1", FieldName, "Ada Lovelace")
	if got, err := ks.Decrypt(ctx, user, "ev1", FieldName, sealed); err != nil || got != "Ada Lovelace" {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	// Idempotent: a second Create returns the same key.
	if again := createKey(t, ks, pool, user); mustDecrypt(t, again, "ev1", FieldName, sealed) != "Ada Lovelace" {
		t.Fatal("a second Create made another key")
	}
}

func mustDecrypt(t testing.TB, k *DataKey, event string, f Field, s string) string {
	t.Helper()
	v, err := k.Decrypt(event, f, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWrappedKeyInTheDatabaseIsNotTheDataKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	ring := testRing(t, GenerateKEK())
	ks := NewKeys(pool, ring, Options{})
	user := uuid.New()
	k := createKey(t, ks, pool, user)
	sealed := k.Encrypt("ev1", FieldEmail, "ada@example.com")

	var kekID string
	var wrapped []byte
	if err := pool.QueryRow(ctx, `SELECT kek_id, wrapped_key FROM personal_keys WHERE user_id = $1`, user).Scan(&kekID, &wrapped); err != nil {
		t.Fatal(err)
	}
	dek, err := ring.unwrap(user, kekID, wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, dek) {
		t.Fatal("the stored row contains the data key in clear")
	}
	// Whoever has the dump but not the KEK: no 32 bytes of the row open
	// the field.
	for i := 0; i+keySize <= len(wrapped); i++ {
		guess, _ := newDataKey(user, wrapped[i:i+keySize])
		if _, err := guess.Decrypt("ev1", FieldEmail, sealed); err == nil {
			t.Fatalf("bytes %d..%d of the wrapped key decrypt the field", i, i+keySize)
		}
	}
	// Another deployment's KEK does not unwrap it.
	other := NewKeys(pool, testRing(t, GenerateKEK()), Options{})
	if _, err := other.Decrypt(ctx, user, "ev1", FieldEmail, sealed); err == nil || errors.Is(err, ErrNoKey) {
		t.Fatalf("Decrypt under another KEK = %v, want an unwrap error", err)
	}
	// A wrapped key moved to another user's row does not unwrap there.
	victim := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO personal_keys (user_id, kek_id, wrapped_key) VALUES ($1, $2, $3)`, victim, kekID, wrapped); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Key(ctx, victim); err == nil {
		t.Fatal("a wrapped key copied to another user's row unwrapped")
	}
}

func TestErasureMakesEveryCopyUnreadableInEveryProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, dbURL := pgtest.NewWithURL(t)
	otherPool := pgtest.Migrated(t, dbURL) // a second process: its own pool and cache
	ring := testRing(t, GenerateKEK())
	clk := &clock{t: time.Now()}
	const ttl = time.Minute
	here := NewKeys(pool, ring, Options{CacheTTL: ttl, Now: clk.now})
	there := NewKeys(otherPool, ring, Options{CacheTTL: ttl, Now: clk.now})
	user := uuid.New()
	sealed := createKey(t, here, pool, user).Encrypt("ev1", FieldIP, "198.51.100.7")
	for _, ks := range []*Keys{here, there} { // both cache the key
		if _, err := ks.Decrypt(ctx, user, "ev1", FieldIP, sealed); err != nil {
			t.Fatal(err)
		}
	}

	erase(t, here, pool, user)
	if _, err := here.Decrypt(ctx, user, "ev1", FieldIP, sealed); !errors.Is(err, ErrErased) {
		t.Fatalf("erasing process: Decrypt = %v, want ErrErased at once", err)
	}
	// The documented bound: another process may use its cached key until
	// CacheTTL has passed, not after.
	clk.add(ttl - time.Second)
	if _, err := there.Decrypt(ctx, user, "ev1", FieldIP, sealed); err != nil {
		t.Fatalf("other process within the TTL: Decrypt = %v, want its cached key (is the cache used?)", err)
	}
	clk.add(time.Second)
	if _, err := there.Decrypt(ctx, user, "ev1", FieldIP, sealed); !errors.Is(err, ErrErased) {
		t.Fatalf("other process after the TTL: Decrypt = %v, want ErrErased", err)
	}
	// A fresh process (no cache at all) reads nothing either.
	fresh := NewKeys(otherPool, ring, Options{CacheSize: -1})
	if _, err := fresh.Key(ctx, user); !errors.Is(err, ErrErased) {
		t.Fatalf("fresh process: Key = %v, want ErrErased", err)
	}
	var wrapped []byte
	if err := pool.QueryRow(ctx, `SELECT wrapped_key FROM personal_keys WHERE user_id = $1`, user).Scan(&wrapped); err != nil || wrapped != nil {
		t.Fatalf("after erasure the row holds %d key bytes (%v), want none", len(wrapped), err)
	}
}

func TestErasureIsIdempotentAndFinal(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	user, keyless := uuid.New(), uuid.New()
	createKey(t, ks, pool, user)

	var first, second time.Time
	erase(t, ks, pool, user)
	_ = pool.QueryRow(ctx, `SELECT erased_at FROM personal_keys WHERE user_id = $1`, user).Scan(&first)
	erase(t, ks, pool, user)
	_ = pool.QueryRow(ctx, `SELECT erased_at FROM personal_keys WHERE user_id = $1`, user).Scan(&second)
	if first.IsZero() || !first.Equal(second) {
		t.Fatalf("erased_at %v then %v: a second erasure must change nothing", first, second)
	}
	erase(t, ks, pool, keyless) // a user who never had a key is tombstoned too

	for _, u := range []uuid.UUID{user, keyless} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := ks.Create(ctx, tx, u)
			return err
		})
		if !errors.Is(err, ErrErased) {
			t.Errorf("Create after erasure = %v, want ErrErased", err)
		}
		if _, err := ks.Key(ctx, u); !errors.Is(err, ErrErased) {
			t.Errorf("Key after erasure = %v, want ErrErased", err)
		}
	}
}
