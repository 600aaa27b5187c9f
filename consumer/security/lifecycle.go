package security

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
)

// The rules on the account lifecycle.
const (
	// RuleResetAbuse: at least ResetRequests password reset requests for
	// one account, or ResetRequestsPerIP from one address, within Window.
	RuleResetAbuse = "password_reset_abuse"
	// RuleLoginAfterChange: a login from an address new for the user
	// within Window after a password or address change (a taken-over
	// account being used from elsewhere). High severity.
	RuleLoginAfterChange = "login_after_change"
)

// accountEventKind is security_account_events.kind of an event type.
func accountEventKind(eventType string) string {
	switch eventType {
	case authevents.EventPasswordResetRequested:
		return "reset_requested"
	case authevents.EventPasswordChanged:
		return "password_changed"
	}
	return "email_changed"
}

// recordSQL keeps an account event for the lifecycle rules.
const recordSQL = `INSERT INTO security_account_events (event_id, kind, user_id, ip, at) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT DO NOTHING`

// record keeps an account event for the lifecycle rules.
func record(ctx context.Context, tx pgx.Tx, f fact) error {
	_, err := tx.Exec(ctx, recordSQL, f.ev.EventID, accountEventKind(f.ev.Base), f.user, f.d.IP, f.ev.OccurredAt)
	return err
}

// queueRecord queues record on b.
func queueRecord(b *pgx.Batch, f fact) {
	b.Queue(recordSQL, f.ev.EventID, accountEventKind(f.ev.Base), f.user, f.d.IP, f.ev.OccurredAt)
}

// resetRequested records the request and raises password_reset_abuse when
// the account's or the address's requests reach their threshold.
func (h *Handler) resetRequested(b *pgx.Batch, f fact) func() []alert {
	if f.user == nil {
		return nil
	}
	// Under the locks of the account and the address (HandleBatch took
	// them), so replicas see each other's rows.
	queueRecord(b, f)
	var checks []func() []alert
	for _, r := range []struct {
		w   window
		key string
		n   int
	}{{resetsPerAccount, f.user.String(), h.th.ResetRequests}, {resetsPerIP, f.d.IP, h.th.ResetRequestsPerIP}} {
		if r.n > 0 {
			checks = append(checks, h.queueThreshold(b, RuleResetAbuse, SeverityMedium, r.w, r.key, f.ev.OccurredAt, r.n))
		}
	}
	return func() []alert {
		var raised []alert
		for _, c := range checks {
			raised = append(raised, c()...)
		}
		return raised
	}
}

// accountChanged records a password or address change, and raises
// login_after_change for a login from a new address already handled that
// happened within Window after it (deliveries come in any order).
func (h *Handler) accountChanged(ctx context.Context, tx pgx.Tx, f fact) ([]alert, error) {
	if f.user == nil {
		return nil, nil
	}
	// Under the user's change lock (HandleBatch took it), as the login
	// side is.
	if err := record(ctx, tx, f); err != nil {
		return nil, err
	}
	// An address first seen after the change, within the window, that is
	// not the user's first address (the baseline raises nothing).
	var ip string
	var at time.Time
	err := tx.QueryRow(ctx, `
		SELECT s.value, s.first_seen FROM security_seen s
		 WHERE s.user_id = $1 AND s.kind = 'ip' AND s.first_seen > $2 AND s.first_seen <= $2::timestamptz + $3::interval
		   AND s.first_seen > (SELECT min(first_seen) FROM security_seen WHERE user_id = $1 AND kind = 'ip')
		 ORDER BY s.first_seen LIMIT 1`, f.user, f.ev.OccurredAt, h.th.Window).Scan(&ip, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return h.markLoginAfterChange(ctx, tx, *f.user, ip, at)
}

// markLoginAfterChange raises login_after_change once per user and
// Window-aligned bucket of the login.
func (h *Handler) markLoginAfterChange(ctx context.Context, tx pgx.Tx, user uuid.UUID, ip string, at time.Time) ([]alert, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO security_alert_marks (rule, key, bucket) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		RuleLoginAfterChange, user.String(), at.Truncate(h.th.Window))
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err
	}
	return []alert{h.loginAfterChangeAlert(ip)}, nil
}

// loginAfterChangeAlert is the login_after_change alert of a login from
// ip.
func (h *Handler) loginAfterChangeAlert(ip string) alert {
	key := "ip"
	if strings.HasPrefix(ip, userPseudonymPrefix) {
		key = "ipPseudonym" // the baseline of a version 2 login keeps no value
	}
	return alert{RuleLoginAfterChange, SeverityHigh, map[string]any{key: ip, "window": h.th.Window.String()}}
}
