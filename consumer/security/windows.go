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

// window is where a threshold counts: a table with an at column, the
// column that holds the key, what is counted, and which rows count.
type window struct {
	table, keyCol, counted, rows, what string
}

// The windows of the threshold rules.
var (
	failuresPerAccount = window{"security_failed_logins", "email", "count(*)", "true", "failures"}
	accountsPerIP      = window{"security_failed_logins", "ip", "count(DISTINCT f.email)", "true", "accounts"}
	resetsPerAccount   = window{"security_account_events", "user_id::text", "count(*)", "f.kind = 'reset_requested'", "requests"}
	resetsPerIP        = window{"security_account_events", "ip", "count(*)", "f.kind = 'reset_requested'", "requests"}
)

// threshold raises rule for key (an account for failed_logins, an address
// for credential_stuffing, either for the reset requests of
// password_reset_abuse) when some window of length Window that contains
// the event at has reached n. Deliveries come in any order, so the
// windows checked are those ending at each counted row from at to
// at+Window (a window reaching n is seen whole by the last of its rows to
// be handled), and the comparison is >=. The alert is raised once per
// rule, key and fixed window bucket (the Window-aligned bucket of the
// first window end reaching n): a marker row in security_alert_marks,
// inserted with ON CONFLICT DO NOTHING, decides which event raises it. A
// burst that crosses a bucket boundary can alert once in each bucket.
func (h *Handler) threshold(ctx context.Context, tx pgx.Tx, rule string, w window, key string, at time.Time, n int) (*alert, error) {
	// Cheap guard first: every window containing at lies within
	// (at-Window, at+Window); below n there, no window reaches n. The
	// per-window scan below is quadratic in the rows of one key within a
	// window (bounded by the rate limits), so it runs only near a
	// threshold.
	var near int
	if err := tx.QueryRow(ctx, `SELECT `+w.counted+` FROM `+w.table+` f
		WHERE f.`+w.keyCol+` = $1 AND `+w.rows+` AND f.at > $2::timestamptz - $3::interval AND f.at < $2::timestamptz + $3::interval`,
		key, at, h.th.Window).Scan(&near); err != nil {
		return nil, fmt.Errorf("%s window: %w", rule, err)
	}
	if near < n {
		return nil, nil
	}
	var end time.Time
	var count int
	err := tx.QueryRow(ctx, `
		SELECT e.at, w.n FROM `+w.table+` e
		CROSS JOIN LATERAL (SELECT `+w.counted+` AS n FROM `+w.table+` f
		                    WHERE f.`+w.keyCol+` = $1 AND `+w.rows+` AND f.at > e.at - $3::interval AND f.at <= e.at) w
		WHERE e.`+w.keyCol+` = $1 AND `+strings.ReplaceAll(w.rows, "f.", "e.")+`
		  AND e.at >= $2 AND e.at < $2::timestamptz + $3::interval AND w.n >= $4
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
	return &alert{rule: rule, details: map[string]any{w.what: count, "window": h.th.Window.String(), "windowEnd": end.UTC().Format(time.RFC3339Nano)}}, nil
}

// seenValue is a value of a login as a baseline keeps it: the per-user
// pseudonym of a version 2 event (pseudonym), else the value itself.
type seenValue struct{ value, pseudonym string }

// userPseudonymPrefix starts a per-user pseudonym (personal, "pu1.").
const userPseudonymPrefix = "pu1."

// stored is what security_seen holds of v.
func (v seenValue) stored() string {
	if v.pseudonym != "" {
		return v.pseudonym
	}
	return v.value
}

// seen records v for the user and returns an alert if the user had values
// of that kind before and this one is new. kind is what security_seen
// stores (ip, user_agent); key names the value in the alert's details
// (ip, userAgent), which show the value.
//
// A baseline a version 1 login left in clear is moved to the pseudonym
// when the same value comes again in version 2 (first_seen kept): the
// switch to version 2 raises no alert for values already known, and the
// clear ones leave security_seen as their users log in.
func (h *Handler) seen(ctx context.Context, tx pgx.Tx, user uuid.UUID, kind, key string, v seenValue, rule string, at time.Time) (*alert, error) {
	if v.pseudonym != "" {
		if _, err := tx.Exec(ctx, `WITH clear AS (DELETE FROM security_seen WHERE user_id = $1 AND kind = $2 AND value = $3 RETURNING first_seen)
			INSERT INTO security_seen (user_id, kind, value, first_seen) SELECT $1, $2, $4, min(first_seen) FROM clear HAVING count(*) > 0
			ON CONFLICT (user_id, kind, value) DO UPDATE SET first_seen = least(security_seen.first_seen, excluded.first_seen)`,
			user, kind, v.value, v.pseudonym); err != nil {
			return nil, err
		}
	}
	var known int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM security_seen WHERE user_id = $1 AND kind = $2`, user, kind).Scan(&known); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO security_seen (user_id, kind, value, first_seen) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, user, kind, v.stored(), at)
	if err != nil {
		return nil, err
	}
	if known > 0 && tag.RowsAffected() == 1 {
		return &alert{rule, SeverityMedium, map[string]any{key: v.value}}, nil
	}
	return nil, nil
}
