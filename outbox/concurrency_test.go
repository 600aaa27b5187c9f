package outbox_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/outbox"
)

// These tests hold two claim (or writer) transactions open at once, the
// way two relay replicas, or a relay and the API, meet in production.

func ids(rows []outbox.Row) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// claim begins a claim transaction that the test ends; it fails the test
// when the claim blocks for seconds instead of skipping locked rows.
func claim(t *testing.T, pool *pgxpool.Pool, limit int) (pgx.Tx, []uuid.UUID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, rows, err := outbox.BeginClaim(ctx, pool, limit)
	if err != nil {
		t.Fatalf("BeginClaim (a claim must skip locked rows, never wait for them): %v", err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	return tx, ids(rows)
}

// publish deletes the claimed rows and commits, as the relay does after
// their PubAcks.
func publish(t *testing.T, tx pgx.Tx, rows []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	if err := outbox.Delete(ctx, tx, rows); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentClaimsNeverShareARow: while one claim transaction holds
// its rows, a second one skips them (SKIP LOCKED) and takes the next ones
// at once instead of waiting; eight claimers at the same moment split the
// rows between them with none taken twice; rows of a claimer that ends
// without publishing (a crashed relay) are claimed again.
func TestConcurrentClaimsNeverShareARow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	var all []uuid.UUID
	for i := range 6 {
		key := ""
		if i%2 == 0 {
			key = uuid.NewString() // keyed and unkeyed rows alike
		}
		all = append(all, appendRow(t, ctx, pool, key))
	}
	tx1, first := claim(t, pool, 3)
	tx2, second := claim(t, pool, 10)
	if !slices.Equal(first, all[:3]) || !slices.Equal(second, all[3:]) {
		t.Fatalf("two open claims took %v and %v, want %v and %v (disjoint, each in seq order)", first, second, all[:3], all[3:])
	}
	// The first claimer crashes: its rows are pending again, and only its.
	tx1.Rollback(ctx)
	tx3, third := claim(t, pool, 10)
	if !slices.Equal(third, all[:3]) {
		t.Fatalf("after the first claimer rolled back a claim took %v, want its rows %v again", third, all[:3])
	}
	tx2.Rollback(ctx)
	tx3.Rollback(ctx)

	// Eight claimers at once, each holding its rows until every one has
	// claimed: together they take all 40 rows, each exactly once.
	for range 34 {
		all = append(all, appendRow(t, ctx, pool, uuid.NewString()))
	}
	const claimers = 8
	got := make([][]uuid.UUID, claimers)
	var claimed, wg sync.WaitGroup
	claimed.Add(claimers)
	start := make(chan struct{})
	for i := range claimers {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			tx, rows, err := outbox.BeginClaim(ctx, pool, 5)
			claimed.Done()
			if err != nil {
				t.Errorf("claimer %d: %v", i, err)
				return
			}
			got[i] = ids(rows)
			claimed.Wait()
			tx.Rollback(context.Background())
		})
	}
	close(start)
	wg.Wait()
	seen := map[uuid.UUID]int{}
	for i, rows := range got {
		if len(rows) != 5 {
			t.Errorf("claimer %d took %d rows, want 5 (40 rows, 8 claimers of 5)", i, len(rows))
		}
		for _, id := range rows {
			if seen[id]++; seen[id] > 1 {
				t.Errorf("row %s claimed by two open transactions", id)
			}
		}
	}
	if len(seen) != len(all) {
		t.Errorf("the claimers took %d distinct rows, want all %d", len(seen), len(all))
	}
}

// TestOneRowPerKeyInFlight: while a key's oldest row is claimed, no other
// claim takes a later row of that key (it would publish out of order),
// though rows of other keys are taken; this holds across claim lanes.
// Once the row is published the next one of its key is claimable; if its
// claimer crashes instead, the same row is claimed again, never the next.
func TestOneRowPerKeyInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	k1 := appendRow(t, ctx, pool, "k")
	k2 := appendRow(t, ctx, pool, "k")
	other := appendRow(t, ctx, pool, "other")

	tx1, first := claim(t, pool, 1)
	if !slices.Equal(first, []uuid.UUID{k1}) {
		t.Fatalf("first claim = %v, want %v", first, k1)
	}
	tx2, second := claim(t, pool, 10)
	if !slices.Equal(second, []uuid.UUID{other}) {
		t.Fatalf("claim while %v is in flight = %v, want only %v (not %v, the next row of its key)", k1, second, other, k2)
	}
	// The claimer crashes: k1 is claimed again, still not k2.
	tx1.Rollback(ctx)
	tx3, third := claim(t, pool, 10)
	if !slices.Equal(third, []uuid.UUID{k1}) {
		t.Fatalf("after the claimer of %v crashed a claim took %v, want %v again", k1, third, k1)
	}
	publish(t, tx3, third)
	tx4, fourth := claim(t, pool, 10)
	if !slices.Equal(fourth, []uuid.UUID{k2}) {
		t.Fatalf("after %v was published a claim took %v, want %v", k1, fourth, k2)
	}
	tx4.Rollback(ctx)
	tx2.Rollback(ctx)
}

// TestOneRowPerKeyAcrossLanes: a key's rows may fall in different lanes
// ((seq / 64) % Lanes); a lane claimer must still not take a key's row
// while an earlier row of the key is claimed in another lane.
func TestOneRowPerKeyAcrossLanes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	// seq 1 and seq 65 of one key: lanes 0 and 1.
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT 'auth.user.logged_in', '{}', CASE WHEN i IN (1, 65) THEN 'k' ELSE 'filler' || i END
		  FROM generate_series(1, 65) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM outbox WHERE ordering_key <> 'k'`); err != nil {
		t.Fatal(err)
	}
	laneClaim := func(lane int) (pgx.Tx, []int64) {
		t.Helper()
		tx, rows, busy, err := outbox.BeginClaimLane(ctx, pool, 10, lane)
		if err != nil {
			t.Fatalf("BeginClaimLane(%d): %v", lane, err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		if busy {
			t.Fatalf("BeginClaimLane(%d): lane busy", lane)
		}
		var seqs []int64
		for _, r := range rows {
			seqs = append(seqs, r.Seq)
		}
		return tx, seqs
	}
	tx0, lane0 := laneClaim(0)
	if !slices.Equal(lane0, []int64{1}) {
		t.Fatalf("lane 0 claimed seqs %v, want [1]", lane0)
	}
	tx1, lane1 := laneClaim(1)
	if len(lane1) != 0 {
		t.Fatalf("lane 1 claimed seqs %v while seq 1 of the same key is in flight in lane 0, want none", lane1)
	}
	tx1.Rollback(ctx)
	publish(t, tx0, nil)
	if _, err := pool.Exec(ctx, `DELETE FROM outbox WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if _, lane1 = laneClaim(1); !slices.Equal(lane1, []int64{65}) {
		t.Fatalf("lane 1 claimed seqs %v once seq 1 was published, want [65]", lane1)
	}
}

// TestClaimTakesLateCommittedRows: seq is assigned at insert, not at commit,
// so a writer transaction that commits late leaves a row with a lower seq
// than rows already claimed and published. The claim keeps no cursor: the
// late row is claimed as soon as it is visible, whatever its seq, for the
// same key, another key or no key. (Within a key, the claim cannot see an
// uncommitted earlier row and takes the later one: publishing a key in
// commit order relies on its writers serializing, which account does on
// the user lock.)
func TestClaimTakesLateCommittedRows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, lateKey, laterKey string }{
		{"same key", "k", "k"},
		{"other key", "k", "j"},
		{"no key", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.New(t)
			late, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer late.Rollback(ctx)
			lateID := uuid.Must(uuid.NewV7())
			if err := outbox.Append(ctx, late, outbox.Message{ID: lateID, Subject: "auth.user.logged_in", Payload: []byte(`{}`), OrderingKey: tc.lateKey}); err != nil {
				t.Fatal(err)
			}
			laterID := appendRow(t, ctx, pool, tc.laterKey)
			var laterSeq int64
			if err := pool.QueryRow(ctx, `SELECT seq FROM outbox WHERE id = $1`, laterID).Scan(&laterSeq); err != nil {
				t.Fatal(err)
			}
			tx, got := claim(t, pool, 10)
			if !slices.Equal(got, []uuid.UUID{laterID}) {
				t.Fatalf("claim while the earlier transaction is open = %v, want only the committed row %v", got, laterID)
			}
			publish(t, tx, got)
			if err := late.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			var lateSeq int64
			if err := pool.QueryRow(ctx, `SELECT seq FROM outbox WHERE id = $1`, lateID).Scan(&lateSeq); err != nil {
				t.Fatal(err)
			}
			if lateSeq >= laterSeq {
				t.Fatalf("the late row has seq %d, the published one %d: the scenario needs it lower", lateSeq, laterSeq)
			}
			_, got = claim(t, pool, 10)
			if !slices.Equal(got, []uuid.UUID{lateID}) {
				t.Fatalf("claim after the late commit = %v, want the late row %v (seq %d, below the published %d)", got, lateID, lateSeq, laterSeq)
			}
		})
	}
}
