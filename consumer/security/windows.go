package security

import (
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

// queueThreshold queues on b the check that raises rule for key (an
// account for failed_logins, an address for credential_stuffing, either
// for the reset requests of password_reset_abuse) when some window of
// length Window that contains the event at has reached n; once b has
// run, the result returns the alert, if raised. Deliveries come in any
// order, so the windows checked are those ending at each counted row
// from at to at+Window (a window reaching n is seen whole by the last of
// its rows to be handled), and the comparison is >=. The alert is raised
// once per rule, key and fixed window bucket (the Window-aligned bucket
// of the first window end reaching n): a marker row in
// security_alert_marks, inserted with ON CONFLICT DO NOTHING, decides
// which event raises it. A burst that crosses a bucket boundary can
// alert once in each bucket.
//
// One statement: a cheap guard first (every window containing at lies
// within (at-Window, at+Window), and below n there no window reaches n;
// nor is there anything to raise when each bucket a window of at could
// end in is marked), then, only past the guard, the per-window scan,
// which is quadratic in the rows of one key within a window (bounded by
// the rate limits), and the marker.
func (h *Handler) queueThreshold(b *pgx.Batch, rule, severity string, w window, key string, at time.Time, n int) func() []alert {
	// A window reaching n ends in [at, at+Window): in bucket first, or
	// the next one.
	first := at.Truncate(h.th.Window)
	next := first.Add(h.th.Window)
	buckets := []time.Time{first}
	if at.Add(h.th.Window - time.Nanosecond).Truncate(h.th.Window).Equal(next) {
		buckets = append(buckets, next)
	}
	var end time.Time
	var count int
	raised := false
	b.Queue(`WITH guard AS (
		SELECT (SELECT `+w.counted+` FROM `+w.table+` f
		         WHERE f.`+w.keyCol+` = $1 AND `+w.rows+` AND f.at > $2::timestamptz - $3::interval AND f.at < $2::timestamptz + $3::interval) >= $4
		   AND (SELECT count(*) FROM security_alert_marks WHERE rule = $5 AND key = $1 AND bucket = ANY($6)) < $7 AS go),
		hit AS (
		SELECT e.at, w.n FROM `+w.table+` e
		CROSS JOIN LATERAL (SELECT `+w.counted+` AS n FROM `+w.table+` f
		                    WHERE f.`+w.keyCol+` = $1 AND `+w.rows+` AND f.at > e.at - $3::interval AND f.at <= e.at) w
		WHERE (SELECT go FROM guard) AND e.`+w.keyCol+` = $1 AND `+strings.ReplaceAll(w.rows, "f.", "e.")+`
		  AND e.at >= $2 AND e.at < $2::timestamptz + $3::interval AND w.n >= $4
		ORDER BY e.at LIMIT 1),
		mark AS (
		INSERT INTO security_alert_marks (rule, key, bucket)
		SELECT $5, $1, CASE WHEN hit.at < $8 THEN $9 ELSE $8 END FROM hit
		ON CONFLICT DO NOTHING RETURNING 1)
		SELECT hit.at, hit.n FROM hit WHERE EXISTS (SELECT 1 FROM mark)`,
		key, at, h.th.Window, n, rule, buckets, len(buckets), next, first).QueryRow(func(row pgx.Row) error {
		switch err := row.Scan(&end, &count); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil // below the threshold, or already raised for this window
		case err != nil:
			return fmt.Errorf("%s window: %w", rule, err)
		}
		raised = true
		return nil
	})
	return func() []alert {
		if !raised {
			return nil
		}
		return []alert{{rule: rule, severity: severity,
			details: map[string]any{w.what: count, "window": h.th.Window.String(), "windowEnd": end.UTC().Format(time.RFC3339Nano)}}}
	}
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

// seen is what queueSeen reads of a login: its address and its user
// agent are each new for a user who had values of that kind before, and
// the login, from a new address, raises login_after_change.
type seen struct{ newIP, newUserAgent, afterChange bool }

// queueSeen queues on b the recording of a login's address and user
// agent for the user, and the read of whether to alert (out). A new
// address within Window after a password or address change also marks
// login_after_change, once per user and Window-aligned bucket of the
// login (as markLoginAfterChange).
//
// A baseline a version 1 login left in clear is moved to the pseudonym
// when the same value comes again in version 2 (first_seen kept): the
// switch to version 2 raises no alert for values already known, and the
// clear ones leave security_seen as their users log in.
func (h *Handler) queueSeen(b *pgx.Batch, user uuid.UUID, ip, agent seenValue, at time.Time, out *seen) {
	for _, k := range []struct {
		kind string
		v    seenValue
	}{{"ip", ip}, {"user_agent", agent}} {
		if k.v.pseudonym != "" {
			b.Queue(`WITH clear AS (DELETE FROM security_seen WHERE user_id = $1 AND kind = $2 AND value = $3 RETURNING first_seen)
				INSERT INTO security_seen (user_id, kind, value, first_seen) SELECT $1, $2, $4, min(first_seen) FROM clear HAVING count(*) > 0
				ON CONFLICT (user_id, kind, value) DO UPDATE SET first_seen = least(security_seen.first_seen, excluded.first_seen)`,
				user, k.kind, k.v.value, k.v.pseudonym)
		}
	}
	// known reads the rows before the insert (one snapshot for the
	// statement); the changes are read under the user's change lock
	// (HandleBatch took it).
	b.Queue(`WITH known AS (SELECT kind, count(*) AS n FROM security_seen WHERE user_id = $1 AND kind IN ('ip', 'user_agent') GROUP BY kind),
		added AS (INSERT INTO security_seen (user_id, kind, value, first_seen) VALUES ($1, 'ip', $2, $4), ($1, 'user_agent', $3, $4)
		          ON CONFLICT DO NOTHING RETURNING kind),
		fresh AS (SELECT k.kind, EXISTS (SELECT 1 FROM known WHERE known.kind = k.kind AND n > 0) AND EXISTS (SELECT 1 FROM added WHERE added.kind = k.kind) AS v
		          FROM (VALUES ('ip'), ('user_agent')) AS k (kind)),
		changed AS (SELECT EXISTS (SELECT 1 FROM security_account_events
		             WHERE user_id = $1 AND kind IN ('password_changed', 'email_changed') AND at < $4 AND at >= $4::timestamptz - $5::interval) AS v),
		mark AS (INSERT INTO security_alert_marks (rule, key, bucket) SELECT $6, $1::text, $7
		         WHERE (SELECT v FROM fresh WHERE kind = 'ip') AND (SELECT v FROM changed)
		         ON CONFLICT DO NOTHING RETURNING 1)
		SELECT (SELECT v FROM fresh WHERE kind = 'ip'), (SELECT v FROM fresh WHERE kind = 'user_agent'), EXISTS (SELECT 1 FROM mark)`,
		user, ip.stored(), agent.stored(), at, h.th.Window, RuleLoginAfterChange, at.Truncate(h.th.Window)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&out.newIP, &out.newUserAgent, &out.afterChange)
	})
}
