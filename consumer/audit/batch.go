package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"

	"github.com/authevents/authevents/db/postgres"
)

// HandleBatch records evs, each once, in tx, as Handle records one: one
// multi-row INSERT … ON CONFLICT (event_id) DO NOTHING (the primary key
// stays the idempotency record), in the order of the event ids, after
// the erasure locks of the batch's users (personal.Keys.GuardBatch:
// exclusive for a user a user.deleted of the batch erases, shared for
// the others). Then audit_erase_user runs for each user deleted in the
// batch, after the batch's own rows are in, as it would have one event
// at a time.
func (h *Handler) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*consumer.Event) error {
	rows := make([]record, len(evs))
	var guard, erase []uuid.UUID
	for i, ev := range evs {
		r, err := newRecord(ev)
		if err != nil {
			return consumer.EventFailed(ev, err)
		}
		rows[i] = r
		switch {
		case r.user == nil:
		case r.deleted:
			erase = append(erase, *r.user)
		default:
			guard = append(guard, *r.user)
		}
	}
	erasedUsers, err := h.keys.GuardBatch(ctx, tx, guard, erase)
	if err != nil {
		return err
	}
	n := len(rows)
	ids, types, users, ats := make([]uuid.UUID, 0, n), make([]string, 0, n), make([]*string, 0, n), make([]time.Time, 0, n)
	ips, agents, envelopes := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	for _, r := range rows {
		e := r.entry
		if r.ev.Erased() || (r.user != nil && !r.deleted && erasedUsers[*r.user]) {
			if e, err = erased(e); err != nil {
				return consumer.EventFailed(r.ev, err)
			}
		}
		var user *string
		if r.user != nil {
			s := r.user.String()
			user = &s
		}
		ids, types, users = append(ids, r.ev.EventID), append(types, r.ev.Type), append(users, user)
		ats = append(ats, r.ev.OccurredAt)
		ips, agents, envelopes = append(ips, e.ip), append(agents, e.userAgent), append(envelopes, string(e.envelope))
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO audit_log (event_id, type, user_id, occurred_at, ip, user_agent, envelope)
		SELECT id, ty, u::uuid, at, ip, ua, env::jsonb
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[]) AS r(id, ty, u, at, ip, ua, env)
		ORDER BY id
		ON CONFLICT (event_id) DO NOTHING`, postgres.UUIDs(ids), types, users, ats, ips, agents, envelopes); err != nil {
		return err
	}
	if len(erase) > 0 {
		// Every time, not only on the first insert: harmless when done
		// (it rewrites no row that holds nothing personal), and a
		// redelivery completes an erasure whatever came before it.
		if _, err := tx.Exec(ctx, `SELECT public.audit_erase_user(u) FROM unnest($1::uuid[]) AS u`, postgres.UUIDs(erase)); err != nil {
			return fmt.Errorf("erase the user's audit rows: %w", err)
		}
	}
	return nil
}

// record is what an event puts in its audit row.
type record struct {
	ev      *consumer.Event
	entry   entry
	user    *uuid.UUID
	deleted bool // a user.deleted that names its user
}

// newRecord reads ev's row. A version 2 event is recorded as received:
// the ip and user_agent columns get the per-user pseudonyms of its data.
func newRecord(ev *consumer.Event) (record, error) {
	var data struct {
		UserID             string `json:"userId"`
		IP                 string `json:"ip"`
		UserAgent          string `json:"userAgent"`
		IPPseudonym        string `json:"ipPseudonym"`
		UserAgentPseudonym string `json:"userAgentPseudonym"`
	}
	if len(ev.Data) > 0 {
		if err := ev.Decode(&data); err != nil {
			return record{}, err
		}
	}
	if ev.Version == 2 {
		data.IP, data.UserAgent = data.IPPseudonym, data.UserAgentPseudonym
	}
	r := record{ev: ev, entry: entry{ip: data.IP, userAgent: data.UserAgent, envelope: ev.Body}}
	if u, err := uuid.Parse(data.UserID); err == nil {
		r.user = &u
	}
	if !json.Valid(ev.Body) {
		return r, consumer.Permanent(errors.New("envelope is not JSON"))
	}
	r.deleted = ev.Base == authevents.EventUserDeleted && r.user != nil
	return r, nil
}
