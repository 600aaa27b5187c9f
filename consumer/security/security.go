// Package security is the security-monitoring subscriber. It raises
// alerts, stored once per event and rule and counted in a metric, for:
//   - a login from an IP or user agent not seen for that user before
//     (the first login ever sets the baseline);
//   - at least FailedLogins failed logins for one account within Window;
//   - failed logins from one IP across at least StuffingAccounts accounts
//     within Window (credential stuffing);
//   - any refresh-token reuse (high severity).
package security

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres"
)

// Durable is the consumer name, a contract.
const Durable = "security"

// Rules, as stored in security_alerts.rule.
const (
	RuleNewIP           = "new_ip"
	RuleNewUserAgent    = "new_user_agent"
	RuleFailedLogins    = "failed_logins"
	RuleCredentialStuff = "credential_stuffing"
	RuleTokenReuse      = "token_reuse"
	SeverityMedium      = "medium"
	SeverityHigh        = "high"
)

// Thresholds configure the rules.
type Thresholds struct {
	FailedLogins     int           // per account within Window
	StuffingAccounts int           // distinct accounts per IP within Window
	Window           time.Duration //
}

// DefaultThresholds returns the thresholds of cmd/consumer when its
// SECURITY_* variables are unset.
func DefaultThresholds() Thresholds {
	return Thresholds{FailedLogins: 5, StuffingAccounts: 5, Window: 15 * time.Minute}
}

// Config subscribes to every auth event (nats-server 2.9 has a single
// filter subject per consumer); the handler ignores the types it does not
// watch.
func Config(stream, subjects string) consumer.Config {
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjects}
}

// Handler evaluates the rules.
type Handler struct {
	pool      *pgxpool.Pool
	th        Thresholds
	alerts    *prometheus.CounterVec
	retention time.Duration
}

// DefaultRetention keeps failed logins and alert markers 8 days: longer
// than the stream keeps an event (7 days) plus a window, so an event
// delivered late still finds the failures of its window.
const DefaultRetention = 8 * 24 * time.Hour

// KeepFor sets how long security_failed_logins and security_alert_marks
// keep their rows (at least the window; DefaultRetention when unset).
func (h *Handler) KeepFor(d time.Duration) *Handler {
	h.retention = d
	return h
}

// PruneTargets are the retention rules of the security tables; the
// consumer running the handler prunes them (consumer.Pruning).
func (h *Handler) PruneTargets() []consumer.PruneTarget {
	d := h.retention
	if d <= 0 {
		d = DefaultRetention
	}
	return PruneTargets(max(d, h.th.Window))
}

// PruneTargets are the retention rules of the security tables for
// rows older than retention (authctl prune uses them directly).
// security_alerts is the record of what was raised and is not pruned.
func PruneTargets(retention time.Duration) []consumer.PruneTarget {
	return []consumer.PruneTarget{
		{Table: "security_failed_logins", Where: "at < now() - $1::interval", Args: []any{retention}},
		{Table: "security_alert_marks", Where: "bucket < now() - $1::interval", Args: []any{retention}},
	}
}

// New returns the security handler; alerts are counted on reg.
func New(pool *pgxpool.Pool, th Thresholds, reg prometheus.Registerer) *Handler {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_security_alerts_total",
		Help: "Security alerts raised, by rule and severity."}, []string{"rule", "severity"})
	reg.MustRegister(c)
	return &Handler{pool: pool, th: th, alerts: c}
}

type data struct {
	UserID    string `json:"userId"`
	Email     string `json:"email"`
	IP        string `json:"ip"`
	UserAgent string `json:"userAgent"`
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
}

type alert struct {
	rule, severity string
	details        map[string]any
}

// Handle evaluates ev once.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	switch ev.Type {
	case authevents.EventUserLoggedIn, authevents.EventUserLoginFailed, authevents.EventTokenReuseDetected, authevents.EventUserTokenRefreshed:
	default:
		return nil // not watched
	}
	id, err := uuid.Parse(ev.ID)
	if err != nil {
		return consumer.Permanent(fmt.Errorf("event id: %w", err))
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil {
		return consumer.Permanent(fmt.Errorf("event time: %w", err))
	}
	var d data
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return consumer.Permanent(fmt.Errorf("event data: %w", err))
	}
	var user *uuid.UUID
	if u, err := uuid.Parse(d.UserID); err == nil {
		user = &u
	}
	var raised []alert
	err = postgres.WithTx(ctx, h.pool, func(tx pgx.Tx) error {
		raised = raised[:0]
		first, err := consumer.Once(ctx, tx, Durable, id)
		if err != nil || !first {
			return err
		}
		switch ev.Type {
		case authevents.EventUserLoggedIn:
			if user != nil {
				for _, k := range []struct{ kind, key, value, rule string }{
					{"ip", "ip", d.IP, RuleNewIP},
					{"user_agent", "userAgent", d.UserAgent, RuleNewUserAgent},
				} {
					a, err := h.seen(ctx, tx, *user, k.kind, k.key, k.value, k.rule, at)
					if err != nil {
						return err
					}
					if a != nil {
						raised = append(raised, *a)
					}
				}
			}
		case authevents.EventUserLoginFailed:
			if d.Reason == authevents.ReasonRateLimited {
				return nil // the limiter already acted; counting it again would double the failures
			}
			// One account's and one address's failures are counted under
			// a transaction lock on each (account first, then address, in
			// every transaction: no deadlock), so of two replicas the later
			// one sees the earlier one's failure.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(1, hashtext($1)), pg_advisory_xact_lock(2, hashtext($2))`, d.Email, d.IP); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO security_failed_logins (event_id, email, ip, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, id, d.Email, d.IP, at); err != nil {
				return err
			}
			for _, r := range []struct {
				rule, severity, key string
				threshold           int
			}{
				{RuleFailedLogins, SeverityMedium, d.Email, h.th.FailedLogins},
				{RuleCredentialStuff, SeverityHigh, d.IP, h.th.StuffingAccounts},
			} {
				a, err := h.threshold(ctx, tx, r.rule, r.key, at, r.threshold)
				if err != nil {
					return err
				}
				if a != nil {
					a.severity = r.severity
					raised = append(raised, *a)
				}
			}
		case authevents.EventTokenReuseDetected:
			raised = append(raised, alert{RuleTokenReuse, SeverityHigh, map[string]any{"sessionId": d.SessionID, "userAgent": d.UserAgent}})
		}
		for _, a := range raised {
			details, _ := json.Marshal(a.details)
			if _, err := tx.Exec(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id, email, ip, details)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, rule) DO NOTHING`,
				id, a.rule, a.severity, user, d.Email, d.IP, details); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range raised {
		h.alerts.WithLabelValues(a.rule, a.severity).Inc()
	}
	return nil
}

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

// Alert is one stored alert, as authctl prints it. Details keys are
// camelCase, like every JSON the service writes.
type Alert struct {
	ID        int64           `json:"id"`
	EventID   uuid.UUID       `json:"eventId"`
	Rule      string          `json:"rule"`
	Severity  string          `json:"severity"`
	UserID    *uuid.UUID      `json:"userId"`
	Email     string          `json:"email"`
	IP        string          `json:"ip"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"createdAt"`
}

// List returns alerts since a time, newest first.
func List(ctx context.Context, q postgres.Querier, since time.Time, limit int) ([]Alert, error) {
	rows, err := q.Query(ctx, `SELECT id, event_id, rule, severity, user_id, email, ip, details, created_at
		FROM security_alerts WHERE created_at >= $1 ORDER BY id DESC LIMIT $2`, since, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		var det []byte
		err := r.Scan(&a.ID, &a.EventID, &a.Rule, &a.Severity, &a.UserID, &a.Email, &a.IP, &det, &a.CreatedAt)
		a.Details = det
		if err == nil && a.Rule == RuleNewUserAgent {
			a.Details, err = withUserAgentAlias(det)
		}
		return a, err
	})
}

// withUserAgentAlias gives new_user_agent details both keys: userAgent,
// written since the details became camelCase, and user_agent, written
// before and read by existing scripts (authctl security alerts --json is a
// contract). Alerts stored either way then list alike. user_agent is
// deprecated.
func withUserAgentAlias(details []byte) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(details, &m); err != nil {
		return nil, fmt.Errorf("new_user_agent details: %w", err)
	}
	if _, ok := m["userAgent"]; !ok {
		m["userAgent"] = m["user_agent"]
	}
	if _, ok := m["user_agent"]; !ok {
		m["user_agent"] = m["userAgent"]
	}
	return json.Marshal(m)
}
