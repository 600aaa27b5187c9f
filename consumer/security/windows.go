package security

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// threshold raises rule for key (an account for failed_logins, an address
// for credential_stuffing) when some window of length Window that contains
// the event at has reached n: failures for the account, or distinct
// accounts failing from the address. Deliveries come in any order, so the
// windows checked are those ending at each failure from at to at+Window
// (a window reaching n is seen whole by the last of its failures to be
// handled), and the comparison is >=. The alert is raised once per rule,
// key and fixed window bucket (the Window-aligned bucket of the first
// window end reaching n): a marker row in security_alert_marks, inserted
// with ON CONFLICT DO NOTHING, decides which event raises it. A burst that
// crosses a bucket boundary can alert once in each bucket.
func (h *Handler) threshold(ctx context.Context, tx pgx.Tx, rule, key string, at time.Time, n int) (*alert, error) {
	keyCol, counted := "email", "count(*)"
	if rule == RuleCredentialStuff {
		keyCol, counted = "ip", "count(DISTINCT f.email)"
	}
	// Cheap guard first: every window containing at lies within
	// (at-Window, at+Window); below n there, no window reaches n. The
	// per-window scan below is quadratic in the failures of one key
	// within a window (bounded by the login rate limits, which are not
	// recorded as failures), so it runs only near a threshold.
	var near int
	if err := tx.QueryRow(ctx, `SELECT `+strings.Replace(counted, "f.", "", 1)+` FROM security_failed_logins
		WHERE `+keyCol+` = $1 AND at > $2::timestamptz - $3::interval AND at < $2::timestamptz + $3::interval`,
		key, at, h.th.Window).Scan(&near); err != nil {
		return nil, fmt.Errorf("%s window: %w", rule, err)
	}
	if near < n {
		return nil, nil
	}
	var end time.Time
	var count int
	err := tx.QueryRow(ctx, `
		SELECT e.at, w.n FROM security_failed_logins e
		CROSS JOIN LATERAL (SELECT `+counted+` AS n FROM security_failed_logins f
		                    WHERE f.`+keyCol+` = $1 AND f.at > e.at - $3::interval AND f.at <= e.at) w
		WHERE e.`+keyCol+` = $1 AND e.at >= $2 AND e.at < $2::timestamptz + $3::interval AND w.n >= $4
		ORDER BY e.at LIMIT 1`, key, at, h.th.Window, n).Scan(&end, &count)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s window: %w", rule, err)
	}
	bucket := end.Truncate(h.th.Window)
	tag, err := tx.Exec(ctx, `INSERT INTO security_alert_marks (rule, key, bucket) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, rule, key, bucket)
	if err != nil {
		return nil, fmt.Errorf("%s marker: %w", rule, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, nil // already raised for this window
	}
	what := "failures"
	if rule == RuleCredentialStuff {
		what = "accounts"
	}
	return &alert{rule: rule, details: map[string]any{what: count, "window": h.th.Window.String(), "windowEnd": end.UTC().Format(time.RFC3339Nano)}}, nil
}

// seen records value for the user and returns an alert if the user had
// values of that kind before and this one is new. kind is what
// security_seen stores (ip, user_agent); key names the value in the
// alert's details (ip, userAgent).
func (h *Handler) seen(ctx context.Context, tx pgx.Tx, user uuid.UUID, kind, key, value, rule string, at time.Time) (*alert, error) {
	var known int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM security_seen WHERE user_id = $1 AND kind = $2`, user, kind).Scan(&known); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO security_seen (user_id, kind, value, first_seen) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, user, kind, value, at)
	if err != nil {
		return nil, err
	}
	if known > 0 && tag.RowsAffected() == 1 {
		return &alert{rule, SeverityMedium, map[string]any{key: value}}, nil
	}
	return nil, nil
}
