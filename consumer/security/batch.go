package security

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
)

// HandleBatch evaluates the rules of evs, each event once, in tx, as
// one transaction per event did, and in the order of evs (the stream's):
// a rule reads what the events before it in the batch wrote, so one
// user's, one account's and one address's events are evaluated in their
// order within a batch, and the batches of a replica follow each other.
//
// Every lock the batch needs is taken before any rule runs, in one order
// that every transaction shares: the users' erasure locks in user-id
// order (personal.Keys.GuardBatch: exclusive for a user a user.deleted
// of the batch erases), the idempotency records in event-id order
// (consumer.OnceAll), then the rules' advisory locks by class and key
// (lock). Two replicas given overlapping batches wait for each other
// instead of deadlocking; a deadlock PostgreSQL would still detect fails
// the batch, which the consumer bisects and applies again.
//
// A user.deleted erases on every delivery, at its place in the batch;
// an event of a user erased before the batch, a version 2 event whose
// key is erased, and a redelivery evaluate nothing. The alerts are
// stored in tx and counted in authevents_security_alerts_total after its
// commit (consumer.OnCommit): a batch rolled back and applied again
// counts each alert once.
func (h *Handler) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*consumer.Event) error {
	facts := make([]fact, 0, len(evs))
	var guard, erase []uuid.UUID
	for _, ev := range evs {
		if q, r := h.ruleFor(ev.Base); q == nil && r == nil {
			continue
		}
		f, err := newFact(ev)
		if err != nil {
			return consumer.EventFailed(ev, err)
		}
		switch {
		case ev.Base == authevents.EventUserDeleted && f.user == nil:
			return consumer.EventFailed(ev, consumer.Permanent(fmt.Errorf("%s without a user id", ev.Type)))
		case ev.Base == authevents.EventUserDeleted:
			erase = append(erase, *f.user)
		case f.user != nil:
			guard = append(guard, *f.user)
		}
		facts = append(facts, f)
	}
	if len(facts) == 0 {
		return nil
	}
	erased, err := h.keys.GuardBatch(ctx, tx, guard, erase)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(facts))
	for i, f := range facts {
		ids[i] = f.ev.EventID
	}
	first, err := consumer.OnceAll(ctx, tx, Durable, ids)
	if err != nil {
		return err
	}
	// What runs: every erasure; a rule for the first delivery of an
	// event whose user is not erased (its baselines and windows are gone
	// with the user, and must stay gone) and whose values are readable.
	run := facts[:0]
	var keys []lockKey
	for _, f := range facts {
		deleted := f.ev.Base == authevents.EventUserDeleted
		if !deleted && !first[f.ev.EventID] {
			continue
		}
		delete(first, f.ev.EventID) // an event twice in the batch runs once
		if !deleted && (f.ev.Erased() || f.user != nil && erased[*f.user]) {
			continue
		}
		run = append(run, f)
		keys = append(keys, h.locks(f)...)
	}
	if err := lock(ctx, tx, keys); err != nil {
		return err
	}
	raised, err := h.evaluate(ctx, tx, run)
	if err != nil {
		return err
	}
	if len(raised) > 0 {
		consumer.OnCommit(tx, func() {
			for _, a := range raised {
				h.alerts.WithLabelValues(a.rule, a.severity).Inc()
			}
		})
	}
	return nil
}

// newFact reads ev as the rules see it.
func newFact(ev *consumer.Event) (fact, error) {
	f := fact{ev: ev}
	if err := ev.Decode(&f.d); err != nil {
		return f, err
	}
	if u, err := uuid.Parse(f.d.UserID); err == nil {
		f.user = &u
	}
	return f, nil
}

// The classes of the rules' advisory locks (pg_advisory_xact_lock(class,
// hashtext(key))), taken in this order: one account's and one address's
// failed logins, one user's and one address's reset requests, one
// user's account changes and logins.
const (
	lockFailedAccount int32 = 1
	lockFailedIP      int32 = 2
	lockResetUser     int32 = 3
	lockResetIP       int32 = 4
	lockChangeUser    int32 = 5
)

type lockKey struct {
	class int32
	key   string
}

// locks returns the advisory locks the rule of f runs under: of two
// replicas, the later sees the earlier's rows of that key.
func (h *Handler) locks(f fact) []lockKey {
	switch f.ev.Base {
	case authevents.EventUserLoginFailed:
		if f.d.Reason != authevents.ReasonRateLimited {
			return []lockKey{{lockFailedAccount, f.d.Email}, {lockFailedIP, f.d.IP}}
		}
	case authevents.EventPasswordResetRequested:
		if f.user != nil {
			return []lockKey{{lockResetUser, f.user.String()}, {lockResetIP, f.d.IP}}
		}
	case authevents.EventPasswordChanged, authevents.EventEmailChanged, authevents.EventUserLoggedIn:
		// A login may raise login_after_change: it reads the changes.
		if f.user != nil {
			return []lockKey{{lockChangeUser, f.user.String()}}
		}
	}
	return nil
}

// lock takes keys in one statement, ordered by class, then by the
// lock's key (the hash: two keys that hash alike are one lock), so every
// transaction takes them in one order. The sorted subquery is not
// flattened (DISTINCT), and each row's lock is taken before the next
// row is read.
func lock(ctx context.Context, tx pgx.Tx, keys []lockKey) error {
	if len(keys) == 0 {
		return nil
	}
	classes, values := make([]int32, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		classes[i], values[i] = k.class, k.key
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(c, h)
		FROM (SELECT DISTINCT c, hashtext(k) AS h FROM unnest($1::int4[], $2::text[]) AS t(c, k) ORDER BY c, h) s`,
		classes, values); err != nil {
		return fmt.Errorf("lock the rules' keys: %w", err)
	}
	return nil
}

// Watching is the step that lets only the watched types through to the
// handler. In front of a batch (consumer.Chain) the others are
// acknowledged with it, unapplied: a batch of them opens no transaction.
func Watching(next consumer.Handler) consumer.Handler {
	return consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error {
		if !slices.Contains(Watched(), ev.Base) {
			return nil
		}
		return next.Handle(ctx, ev)
	})
}
