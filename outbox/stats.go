package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stats is what SREs watch, computed on the database clock so it is the
// same whichever replica (or authctl) asks.
type Stats struct {
	Backlog          int64   `json:"backlog"`
	OldestUnsentSecs float64 `json:"oldestUnsentAgeSeconds"`
	Dead             int64   `json:"dead"`
	// Parked rows are pending rows held back by an earlier dead row of
	// their ordering key: they wait for an operator to retry or discard it.
	Parked int64 `json:"parked"`
	// DeadTuples are rows deleted (or updated) and not yet vacuumed away
	// (pg_stat_user_tables.n_dead_tup, an estimate PostgreSQL updates
	// within a second or so): the index entries every claim walks until a
	// VACUUM, which the relay runs itself after large drains
	// (RELAY_VACUUM_ROWS). Tens of thousands that stay are bloat coming.
	DeadTuples int64 `json:"deadTuples"`
	// LastVacuum is when the outbox was last vacuumed, by the relay or
	// by autovacuum (nil: never since the statistics were reset).
	LastVacuum *time.Time `json:"lastVacuum"`
}

// ExactBacklogLimit is how far ReadStats counts pending rows one by one;
// counting a million at every scrape would take longer than a scrape may.
// Beyond it the backlog is PostgreSQL's own count of live rows in the
// table (pg_stat_user_tables.n_live_tup, kept up to date by every insert
// and delete, at most seconds behind) less the dead rows, counted: the
// table holds only pending and dead rows. Unlike any estimate from seq
// values it does not care where the rows are (a row parked or retrying
// since long ago, rows published out of order by other lanes).
const ExactBacklogLimit = 10_000

// ReadStats reads backlog, outbox lag, dead and parked rows in one
// statement of index lookups, cheap whatever the backlog (the lag is the
// age of the oldest pending row, on the database clock).
func ReadStats(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (Stats, error) {
	var s Stats
	var counted, live int64
	var age float64
	err := q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM (SELECT FROM outbox WHERE state = 'pending' LIMIT $1) c),
		       COALESCE((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass), 0),
		       COALESCE((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass), 0),
		       (SELECT greatest(last_vacuum, last_autovacuum) FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass),
		       COALESCE(EXTRACT(EPOCH FROM now() - (SELECT min(created_at) FROM outbox WHERE state = 'pending')), 0),
		       (SELECT count(*) FROM outbox WHERE state = 'dead'),
		       (SELECT count(*)
		          FROM (SELECT ordering_key, min(seq) AS seq FROM outbox
		                 WHERE state = 'dead' AND ordering_key <> '' GROUP BY ordering_key) d
		          JOIN LATERAL (SELECT FROM outbox p
		                 WHERE p.ordering_key = d.ordering_key AND p.seq > d.seq AND p.state = 'pending') p ON true)`,
		ExactBacklogLimit+1).Scan(&counted, &live, &s.DeadTuples, &s.LastVacuum, &age, &s.Dead, &s.Parked)
	if err != nil {
		return s, fmt.Errorf("outbox stats: %w", err)
	}
	s.Backlog = counted
	if counted > ExactBacklogLimit {
		s.Backlog = max(live-s.Dead, ExactBacklogLimit+1)
	}
	s.OldestUnsentSecs = max(age, 0)
	return s, nil
}
