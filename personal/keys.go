package personal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"
)

// Options tune Keys; zero values take the defaults.
type Options struct {
	// CacheSize bounds the number of cached keys (default 10,000; about
	// 200 bytes each). Negative disables the cache.
	CacheSize int
	// CacheTTL is how long an unwrapped key is kept (default 1 minute): the
	// bound on how long a process that cached a key may still decrypt
	// after another process erased it. Keys.Erase forgets the key in its
	// own process at once.
	CacheTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Keys stores data keys in PostgreSQL (table personal_keys), wrapped under
// the Keyring's KEK, and caches the unwrapped ones.
type Keys struct {
	pool  *pgxpool.Pool
	ring  *Keyring
	cache *cache
	load  singleflight.Group
}

// NewKeys returns the key store on pool.
func NewKeys(pool *pgxpool.Pool, ring *Keyring, opt Options) *Keys {
	if opt.CacheSize == 0 {
		opt.CacheSize = 10_000
	}
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Keys{pool: pool, ring: ring, cache: newCache(opt.CacheSize, opt.CacheTTL, opt.Now)}
}

// Create makes the data key of user inside tx, the transaction that
// creates the user (and appends its first event), so that the key commits
// with them or not at all. It is idempotent: an existing live key is
// returned. It fails with ErrErased when user's key was erased: a key is
// never made again for an erased user.
func (s *Keys) Create(ctx context.Context, tx pgx.Tx, user uuid.UUID) (*DataKey, error) {
	dek := randomKey()
	kekID, wrapped := s.ring.wrap(user, dek)
	tag, err := tx.Exec(ctx, `INSERT INTO personal_keys (user_id, kek_id, wrapped_key) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO NOTHING`, user, kekID, wrapped)
	if err != nil {
		return nil, fmt.Errorf("create personal data key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return s.read(ctx, tx, user)
	}
	return newDataKey(user, dek)
}

// Key returns user's data key, from the cache when it holds it. It fails
// with ErrErased or ErrNoKey.
func (s *Keys) Key(ctx context.Context, user uuid.UUID) (*DataKey, error) {
	if k, erased, ok := s.cache.get(user); ok {
		if erased {
			return nil, ErrErased
		}
		return k, nil
	}
	// One query per user however many events of that user miss at once.
	v, err, _ := s.load.Do(user.String(), func() (any, error) {
		k, err := s.read(ctx, s.pool, user)
		switch {
		case err == nil:
			s.cache.put(user, k)
		case errors.Is(err, ErrErased):
			s.cache.put(user, nil)
		}
		return k, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*DataKey), nil
}

// KeyIn is Key for a caller inside a transaction: on a cache miss it
// reads the key through tx, not through the pool. A producer appending an
// event holds a connection for its transaction; waiting for a second one
// to read a key, with every connection held by such a transaction, would
// wait forever.
func (s *Keys) KeyIn(ctx context.Context, tx pgx.Tx, user uuid.UUID) (*DataKey, error) {
	if k, erased, ok := s.cache.get(user); ok {
		if erased {
			return nil, ErrErased
		}
		return k, nil
	}
	k, err := s.read(ctx, tx, user)
	switch {
	case err == nil:
		s.cache.put(user, k)
	case errors.Is(err, ErrErased):
		s.cache.put(user, nil)
	}
	return k, err
}

// Decrypt opens the protected field f of the event eventID of user: the
// one call a consumer needs. It fails with ErrErased once the user's key
// is erased (show Erased instead), ErrNoKey, or ErrUnreadable.
func (s *Keys) Decrypt(ctx context.Context, user uuid.UUID, eventID string, f Field, protected string) (string, error) {
	k, err := s.Key(ctx, user)
	if err != nil {
		return "", err
	}
	return k.Decrypt(eventID, f, protected)
}

// Erase destroys user's data key inside tx (the transaction that deletes
// the user and appends user.deleted), leaving a tombstone that forbids a
// new key. It is idempotent, and it also tombstones a user that never had
// a key. The key leaves this process's cache at once; other processes,
// and a read in this one that races the uncommitted erasure, drop it
// within Options.CacheTTL.
func (s *Keys) Erase(ctx context.Context, tx pgx.Tx, user uuid.UUID) error {
	s.cache.forget(user)
	if _, err := tx.Exec(ctx, `INSERT INTO personal_keys (user_id, erased_at) VALUES ($1, now())
		ON CONFLICT (user_id) DO UPDATE
		SET kek_id = NULL, wrapped_key = NULL, erased_at = COALESCE(personal_keys.erased_at, now())`, user); err != nil {
		return fmt.Errorf("erase personal data key: %w", err)
	}
	return nil
}

// Forget drops user's key from this process's cache; a consumer calls it
// when it handles user.deleted.
func (s *Keys) Forget(user uuid.UUID) { s.cache.forget(user) }

// Guard fails with ErrErased when user is erased (a tombstone in
// personal_keys). A consumer calls it in every transaction that stores
// something personal of user, or keyed by user's id, before it stores.
//
// It first takes a shared transaction-level advisory lock on the user
// (the lock LockForErasure takes exclusively), so it needs no key row:
// it orders a store against the consumer's own erasure of a user made
// before keys existed as well. A store racing the erasure then either
// commits first (and the erasure, which waits for it, removes what it
// stored) or waits for the erasure and sees the tombstone, which the API
// commits with user.deleted, before any consumer can erase. The tombstone
// is read by a statement of its own after the lock, so under READ
// COMMITTED it sees what committed while Guard waited.
//
// It also share-locks the key row when there is one, so the API's
// erasure of the key (Erase) waits for a guarded store too. Whatever the
// caches hold, a redelivered older event cannot bring data back.
func (s *Keys) Guard(ctx context.Context, tx pgx.Tx, user uuid.UUID) error {
	b := &pgx.Batch{}
	erased := s.QueueGuard(b, user)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("guard user against erasure: %w", err)
	}
	return erased()
}

// QueueGuard queues Guard's two statements on b, the lock then the read of
// the tombstone (each statement of a batch runs after the one before it
// and, under READ COMMITTED, sees what committed meanwhile), so that they
// go to the server with the statements around them: with the BEGIN of the
// transaction they guard, in one round trip. Once b has run in a
// transaction, err returns Guard's answer (ErrErased, or nil).
func (s *Keys) QueueGuard(b *pgx.Batch, user uuid.UUID) (err func() error) {
	b.Queue(`SELECT pg_advisory_xact_lock_shared(hashtextextended($1::text, $2))`, user, erasureLockSeed).Exec(func(pgconn.CommandTag) error { return nil })
	var erased bool
	b.Queue(`SELECT erased_at IS NOT NULL FROM personal_keys WHERE user_id = $1 FOR SHARE`, user).QueryRow(func(row pgx.Row) error {
		switch err := row.Scan(&erased); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("check personal data key: %w", err)
		}
		if erased {
			s.cache.put(user, nil)
		}
		return nil
	})
	return func() error {
		if erased {
			return ErrErased
		}
		return nil
	}
}

// LockForErasure takes, inside tx, the exclusive transaction-level
// advisory lock on user that Guard takes shared. A consumer calls it
// first in the transaction that erases what it holds of user on
// user.deleted: it waits for every guarded store of user in flight to
// commit (so the erasure removes what they stored), and every later
// guarded store waits for the erasure and then finds the tombstone.
func LockForErasure(ctx context.Context, tx pgx.Tx, user uuid.UUID) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2))`, user, erasureLockSeed); err != nil {
		return fmt.Errorf("lock user for erasure: %w", err)
	}
	return nil
}

// erasureLockSeed seeds the 64-bit advisory lock key of a user
// (hashtextextended of the user id), so the key space of Guard and
// LockForErasure is apart from other advisory locks taken on a user id.
const erasureLockSeed = 19_0019

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// read loads and unwraps user's key.
func (s *Keys) read(ctx context.Context, q querier, user uuid.UUID) (*DataKey, error) {
	var kekID *string
	var wrapped []byte
	err := q.QueryRow(ctx, `SELECT kek_id, wrapped_key FROM personal_keys WHERE user_id = $1`, user).Scan(&kekID, &wrapped)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrNoKey
	case err != nil:
		return nil, fmt.Errorf("read personal data key: %w", err)
	case kekID == nil:
		return nil, ErrErased
	}
	dek, err := s.ring.unwrap(user, *kekID, wrapped)
	if err != nil {
		return nil, err
	}
	return newDataKey(user, dek)
}

// DayOwner returns the key owner of personal fields that belong to no
// account (a failed login with an unknown address): one key per UTC day,
// erased once the day is older than the longest retention that needs it,
// so such fields become unreadable by age everywhere (planned wiring:
// docs/privacy.md).
func DayOwner(t time.Time) uuid.UUID {
	return uuid.NewSHA1(dayNamespace, []byte(t.UTC().Format(time.DateOnly)))
}

var dayNamespace = uuid.MustParse("6f1d2a9e-5b7c-4e21-9a53-0c8e7d4b2f10")
