// Package analytics is the analytics subscriber: events per type and hour,
// and distinct active users per day, each event counted once.
package analytics

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/personal"
)

// Durable is the consumer name, a contract.
const Durable = "analytics"

// Config subscribes to every auth event.
func Config(stream, subjects string) consumer.Config {
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjects}
}

// Handler updates the analytics tables.
type Handler struct {
	pool *pgxpool.Pool
	keys *personal.Keys // Guard only: analytics decrypts nothing
}

// New returns the analytics handler.
func New(pool *pgxpool.Pool) *Handler {
	return &Handler{pool: pool, keys: personal.NewKeys(pool, nil, personal.Options{})}
}

// active lists the event types that show a user active (not failures).
var active = map[string]bool{
	authevents.EventUserRegistered: true, authevents.EventUserLoggedIn: true,
	authevents.EventUserTokenRefreshed: true, authevents.EventUserLoggedOut: true,
}

// Handle counts ev once, under its base type: both versions of a change
// are one event (consumer.Versioned hands over one of them), and a type's
// counts run on when the API adds version 2. Analytics holds no personal field, only user
// ids (analytics_active_users); on user.deleted the user's ids there are
// replaced, row by row, by random ones, so the distinct counts per day
// stay and name no one. An event of a user already erased (an older one
// redelivered, or delivered late) is counted by type, but stores no user
// id: it leaves that day's active users as they are (the user may already
// be among them under a random id). So is a version 2 event whose key is
// erased.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	return postgres.WithTx(ctx, h.pool, func(tx pgx.Tx) error { return h.HandleBatch(ctx, tx, []*consumer.Event{ev}) })
}

// Stats is what `authctl stats --json` prints.
type Stats struct {
	EventsByHour     []HourCount `json:"eventsByHour"`
	ActiveUsersByDay []DayCount  `json:"activeUsersByDay"`
}

// HourCount is events of one type in one hour.
type HourCount struct {
	Hour  time.Time `json:"hour"`
	Type  string    `json:"type"`
	Count int64     `json:"count"`
}

// DayCount is distinct active users on one day (UTC).
type DayCount struct {
	Day   string `json:"day"`
	Users int64  `json:"users"`
}

// Read returns the stats since a time.
func Read(ctx context.Context, q postgres.Querier, since time.Time) (Stats, error) {
	s := Stats{EventsByHour: []HourCount{}, ActiveUsersByDay: []DayCount{}}
	rows, err := q.Query(ctx, `SELECT hour, type, count FROM analytics_event_counts WHERE hour >= date_trunc('hour', $1::timestamptz) ORDER BY hour, type`, since)
	if err != nil {
		return s, err
	}
	if s.EventsByHour, err = pgx.CollectRows(rows, pgx.RowToStructByPos[HourCount]); err != nil {
		return s, err
	}
	rows, err = q.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), count(*) FROM analytics_active_users WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date GROUP BY day ORDER BY day`, since)
	if err != nil {
		return s, err
	}
	s.ActiveUsersByDay, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DayCount])
	return s, err
}
