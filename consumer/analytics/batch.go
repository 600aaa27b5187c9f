package analytics

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"

	"github.com/authevents/authevents/db/postgres"
)

// HandleBatch counts evs, each once, in tx, as Handle counts one: three
// multi-row statements (the counts, the active users, the erasures)
// whatever the number of events, after the idempotency records
// (consumer.OnceAll) and the erasure locks (personal.Keys.GuardBatch,
// exclusive for the users a user.deleted of the batch erases). Rows are
// written in the order of their keys, so overlapping batches of two
// replicas wait instead of deadlocking. The active users of an erased
// user are stored by nobody, and those of a user deleted in the batch are
// replaced after the batch's own inserts, as they would have been one
// event at a time.
func (h *Handler) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*consumer.Event) error {
	type item struct {
		ev    *consumer.Event
		user  uuid.UUID
		known bool
	}
	items := make([]item, len(evs))
	ids := make([]uuid.UUID, len(evs))
	var guard, erase []uuid.UUID
	for i, ev := range evs {
		var data struct {
			UserID string `json:"userId"`
		}
		if err := ev.Decode(&data); err != nil {
			return consumer.EventFailed(ev, err)
		}
		user, err := uuid.Parse(data.UserID)
		items[i] = item{ev: ev, user: user, known: err == nil}
		ids[i] = ev.EventID
		switch {
		case !items[i].known:
		case ev.Base == authevents.EventUserDeleted:
			erase = append(erase, user)
		case active[ev.Base] && !ev.Erased():
			guard = append(guard, user)
		}
	}
	erased, err := h.keys.GuardBatch(ctx, tx, guard, erase)
	if err != nil {
		return err
	}
	first, err := consumer.OnceAll(ctx, tx, Durable, ids)
	if err != nil {
		return err
	}
	var at []time.Time
	var types []string
	var activeAt []time.Time
	var activeUsers []uuid.UUID
	for _, it := range items {
		if !first[it.ev.EventID] {
			continue
		}
		delete(first, it.ev.EventID) // an id twice in the batch counts once
		at, types = append(at, it.ev.OccurredAt.UTC()), append(types, it.ev.Base)
		if it.known && active[it.ev.Base] && !it.ev.Erased() && !erased[it.user] {
			activeAt, activeUsers = append(activeAt, it.ev.OccurredAt.UTC()), append(activeUsers, it.user)
		}
	}
	if len(at) > 0 {
		if _, err := tx.Exec(ctx, `
			INSERT INTO analytics_event_counts (hour, type, count)
			SELECT date_trunc('hour', t), ty, count(*) FROM unnest($1::timestamptz[], $2::text[]) AS e(t, ty) GROUP BY 1, 2 ORDER BY 1, 2
			ON CONFLICT (hour, type) DO UPDATE SET count = analytics_event_counts.count + excluded.count`, at, types); err != nil {
			return err
		}
	}
	if len(activeUsers) > 0 {
		if _, err := tx.Exec(ctx, `
			INSERT INTO analytics_active_users (day, user_id)
			SELECT DISTINCT (t AT TIME ZONE 'UTC')::date, u FROM unnest($1::timestamptz[], $2::uuid[]) AS a(t, u) ORDER BY 1, 2
			ON CONFLICT DO NOTHING`, activeAt, postgres.UUIDs(activeUsers)); err != nil {
			return err
		}
	}
	if len(erase) > 0 {
		// On every delivery: a second run finds no row left.
		if _, err := tx.Exec(ctx, `UPDATE analytics_active_users SET user_id = gen_random_uuid() WHERE user_id = ANY($1)`, postgres.UUIDs(erase)); err != nil {
			return err
		}
	}
	return nil
}
