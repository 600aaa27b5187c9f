package security

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/personal"
)

// alertPersonal are the keys of an alert's details that hold personal
// values.
var alertPersonal = []string{"ip", "ipPseudonym", "userAgent", "user_agent", "email"}

// erase removes what the service holds of the user of a user.deleted,
// in the batch's transaction, which holds the user's exclusive erasure
// lock (personal.Keys.GuardBatch: a guarded store in flight commits
// first, and is removed here; a later one finds the user erased and
// stores nothing):
//   - security_seen (the baselines) and security_account_events: the
//     user's rows deleted;
//   - security_failed_logins: the rows of the user's id or address, or of
//     an address the user's own rows name (user.deleted_v2 may arrive
//     after its address became unreadable);
//   - security_alert_marks: the marks keyed by the user's id, address or
//     one of the addresses (IPs) the rows above held (a later burst from
//     such an IP may then alert again within the same window);
//   - security_alerts: kept (rule, severity, time, user id: the record of
//     what was raised), email and ip blanked, and every personal value of
//     the details (ip, userAgent, user_agent, email) replaced by
//     personal.Erased.
//
// It runs on every delivery, not only the first: a second run deletes
// nothing and writes the alerts as they already are.
func (h *Handler) erase(ctx context.Context, tx pgx.Tx, f fact) ([]alert, error) {
	user, addr := *f.user, f.d.Email
	if f.ev.Erased() {
		// user.deleted_v2 after the email service erased the farewell key:
		// the address is gone; rows of the user's id, and of the addresses
		// the user's own failed logins name, are still found.
		addr = ""
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`WITH keyed AS (
				SELECT value FROM security_seen WHERE user_id = $1 AND kind = 'ip'
				UNION SELECT ip FROM security_account_events WHERE user_id = $1
				UNION SELECT ip FROM security_failed_logins WHERE user_id = $1 OR (email = $2 AND $2 <> '')
				   OR email IN (SELECT email FROM security_failed_logins WHERE user_id = $1)
				UNION SELECT email FROM security_failed_logins WHERE user_id = $1)
			  DELETE FROM security_alert_marks WHERE key = $3 OR (key = $2 AND $2 <> '') OR key IN (SELECT value FROM keyed)`,
			[]any{user, addr, user.String()}},
		{`DELETE FROM security_seen WHERE user_id = $1`, []any{user}},
		{`DELETE FROM security_account_events WHERE user_id = $1`, []any{user}},
		{`DELETE FROM security_failed_logins WHERE user_id = $1 OR (email = $2 AND $2 <> '')
			   OR email IN (SELECT email FROM security_failed_logins WHERE user_id = $1)`, []any{user, addr}},
		{`UPDATE security_alerts SET email = '', ip = '',
				details = (SELECT COALESCE(jsonb_object_agg(k, CASE WHEN k = ANY ($3::text[]) THEN to_jsonb($4::text) ELSE v END), '{}')
				             FROM jsonb_each(details) AS d (k, v))
			  WHERE user_id = $1 OR (email = $2 AND $2 <> '')`,
			[]any{user, addr, alertPersonal, personal.Erased}},
	} {
		if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
			return nil, fmt.Errorf("erase the user's security data: %w", err)
		}
	}
	return nil, nil
}
