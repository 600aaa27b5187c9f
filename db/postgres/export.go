package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
)

// The reads of an account export. The consumers' tables (security_alerts,
// audit_log) are read here too: they live in the API's database as long
// as the consumers share DATABASE_URL with the API (docs/api.md).

// UserSessions lists every stored session of the user, ended ones too,
// newest first.
func UserSessions(ctx context.Context, q Querier, userID uuid.UUID) ([]authevents.Session, error) {
	rows, err := q.Query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (authevents.Session, error) {
		s, err := scanSession(r)
		if err != nil {
			return authevents.Session{}, err
		}
		return *s, nil
	})
}

// PendingLinks lists the user's one-time links that are not used or
// expired yet (purpose, address, times; never the token's hash).
func PendingLinks(ctx context.Context, q Querier, userID uuid.UUID) ([]authevents.PendingLink, error) {
	rows, err := q.Query(ctx, `SELECT purpose, email, created_at, expires_at FROM one_time_tokens
		 WHERE user_id = $1 AND expires_at > now() ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("pending links: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (l authevents.PendingLink, err error) {
		err = r.Scan(&l.Purpose, &l.Email, &l.CreatedAt, &l.ExpiresAt)
		return l, err
	})
}

// SecurityAlertsOf lists the security consumer's alerts about the user,
// oldest first.
func SecurityAlertsOf(ctx context.Context, q Querier, userID uuid.UUID) ([]authevents.SecurityAlert, error) {
	rows, err := q.Query(ctx, `SELECT event_id, rule, severity, email, ip, details, created_at FROM security_alerts
		 WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("security alerts: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (a authevents.SecurityAlert, err error) {
		err = r.Scan(&a.EventID, &a.Rule, &a.Severity, &a.Email, &a.IP, &a.Details, &a.CreatedAt)
		return a, err
	})
}

// AuditEntriesOf lists the audit log's entries of the user, oldest first.
func AuditEntriesOf(ctx context.Context, q Querier, userID uuid.UUID) ([]authevents.AuditEntry, error) {
	rows, err := q.Query(ctx, `SELECT event_id, type, occurred_at, ip, user_agent, envelope FROM audit_log
		 WHERE user_id = $1 ORDER BY occurred_at, event_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (e authevents.AuditEntry, err error) {
		err = r.Scan(&e.EventID, &e.Type, &e.OccurredAt, &e.IP, &e.UserAgent, &e.Envelope)
		return e, err
	})
}

// collect reads every row with fn; no rows is an empty, non-nil slice.
func collect[T any](rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	out, err := pgx.CollectRows(rows, fn)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}
