package security

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres"
)

// evaluate evaluates run in its order and stores the alerts: the queued
// rules of consecutive events go to the server in one round trip, each
// statement seeing what those before it wrote; an event evaluated
// directly (a change, an erasure) first sends what is queued. It returns
// the alerts stored.
func (h *Handler) evaluate(ctx context.Context, tx pgx.Tx, run []fact) ([]alert, error) {
	var stored []alert
	b := &pgx.Batch{}
	var queuedFacts []fact
	var results []func() []alert
	flush := func() error {
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
		var raised []raisedBy
		for i, f := range queuedFacts {
			if results[i] != nil {
				for _, a := range results[i]() {
					raised = append(raised, raisedBy{f, a})
				}
			}
		}
		b, queuedFacts, results = &pgx.Batch{}, nil, nil
		s, err := storeAll(ctx, tx, raised)
		stored = append(stored, s...)
		return err
	}
	for _, f := range run {
		q, direct := h.ruleFor(f.ev.Base)
		if q != nil {
			queuedFacts, results = append(queuedFacts, f), append(results, q(b, f))
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		as, err := direct(ctx, tx, f)
		if err != nil {
			return nil, err
		}
		raised := make([]raisedBy, len(as))
		for i, a := range as {
			raised[i] = raisedBy{f, a}
		}
		s, err := storeAll(ctx, tx, raised)
		if err != nil {
			return nil, err
		}
		stored = append(stored, s...)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return stored, nil
}

// raisedBy is an alert and the event that raised it.
type raisedBy struct {
	f fact
	a alert
}

// storeAll writes the alerts, in their order, once per event and rule,
// in one statement, and returns those it wrote: of two alerts of one
// rule and event (password_reset_abuse of the account and of the
// address) only the first is stored, and counted.
func storeAll(ctx context.Context, tx pgx.Tx, raised []raisedBy) ([]alert, error) {
	if len(raised) == 0 {
		return nil, nil
	}
	type key struct {
		id   uuid.UUID
		rule string
	}
	n := len(raised)
	ids, rules, severities, users := make([]uuid.UUID, 0, n), make([]string, 0, n), make([]string, 0, n), make([]*string, 0, n)
	emails, ips, details := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	first := map[key]alert{}
	for _, r := range raised {
		k := key{r.f.ev.EventID, r.a.rule}
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = r.a
		d, err := json.Marshal(r.a.details)
		if err != nil {
			return nil, err
		}
		var user *string
		if r.f.user != nil {
			u := r.f.user.String()
			user = &u
		}
		ids, rules, severities, users = append(ids, r.f.ev.EventID), append(rules, r.a.rule), append(severities, r.a.severity), append(users, user)
		emails, ips, details = append(emails, r.f.d.Email), append(ips, r.f.d.IP), append(details, string(d))
	}
	rows, err := tx.Query(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id, email, ip, details)
		SELECT id, ru, sev, u::uuid, em, ip, det::jsonb
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS a(id, ru, sev, u, em, ip, det, i)
		ORDER BY i
		ON CONFLICT (event_id, rule) DO NOTHING RETURNING event_id, rule`,
		postgres.UUIDs(ids), rules, severities, users, emails, ips, details)
	if err != nil {
		return nil, fmt.Errorf("store alerts: %w", err)
	}
	var stored []alert
	var k key
	if _, err := pgx.ForEachRow(rows, []any{&k.id, &k.rule}, func() error {
		stored = append(stored, first[k])
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store alerts: %w", err)
	}
	return stored, nil
}
