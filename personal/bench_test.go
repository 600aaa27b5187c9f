package personal

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// An email of 20 bytes, an IPv4 address and a browser's user agent: the
// fields of a user.logged_in.
var benchFields = []struct {
	f Field
	v string
}{{FieldEmail, "ada.lovelace@example.com"}, {FieldIP, "198.51.100.7"},
	{FieldUserAgent, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}}

func BenchmarkEncryptField(b *testing.B) {
	k := newTestKey(b, uuid.New())
	for _, bf := range benchFields {
		b.Run(string(bf.f), func(b *testing.B) {
			for b.Loop() {
				_ = k.Encrypt("0190a4c8-0000-7000-8000-000000000001", bf.f, bf.v)
			}
		})
	}
}

func BenchmarkUserPseudonym(b *testing.B) {
	k := newTestKey(b, uuid.New())
	for b.Loop() {
		_ = k.Pseudonym(FieldIP, "198.51.100.7")
	}
}

// BenchmarkDecrypt opens one email field through Keys: with the key cached,
// and with the cache off (one PostgreSQL read and an unwrap per field).
func BenchmarkDecrypt(b *testing.B) {
	ctx, pool, _ := setup(b)
	ring := testRing(b, GenerateKEK())
	user := uuid.New()
	cached := NewKeys(pool, ring, Options{})
	sealed := createKey(b, cached, pool, user).Encrypt("ev", FieldEmail, "ada.lovelace@example.com")
	for name, ks := range map[string]*Keys{"cache_hit": cached, "cache_miss": NewKeys(pool, ring, Options{CacheSize: -1})} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ks.Decrypt(ctx, user, "ev", FieldEmail, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateKeyInTx is the cost Register pays: a committed
// transaction that writes a row (standing in for the user and outbox
// rows) with and without the key; the difference is the key.
func BenchmarkCreateKeyInTx(b *testing.B) {
	ctx, pool, ks := setup(b)
	for _, withKey := range []bool{false, true} {
		name := "row_only"
		if withKey {
			name = "row_and_key"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					id := uuid.New()
					if _, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id) VALUES ('bench', $1)`, id); err != nil {
						return err
					}
					if withKey {
						_, err := ks.Create(ctx, tx, id)
						return err
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
