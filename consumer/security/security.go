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
	"fmt"
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

// DefaultThresholds are the defaults of cmd/consumer.
var DefaultThresholds = Thresholds{FailedLogins: 5, StuffingAccounts: 5, Window: 15 * time.Minute}

// Config subscribes to every auth event (nats-server 2.9 has a single
// filter subject per consumer); the handler ignores the types it does not
// watch.
func Config(stream, subjects string) consumer.Config {
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjects}
}

// Handler evaluates the rules.
type Handler struct {
	pool   *pgxpool.Pool
	th     Thresholds
	alerts *prometheus.CounterVec
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
				for _, k := range []struct{ kind, value, rule string }{{"ip", d.IP, RuleNewIP}, {"user_agent", d.UserAgent, RuleNewUserAgent}} {
					a, err := h.seen(ctx, tx, *user, k.kind, k.value, k.rule, at)
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
			if _, err := tx.Exec(ctx, `INSERT INTO security_failed_logins (event_id, email, ip, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, id, d.Email, d.IP, at); err != nil {
				return err
			}
			var perAccount, accountsFromIP int
			if err := tx.QueryRow(ctx, `
				SELECT (SELECT count(*) FROM security_failed_logins WHERE email = $1 AND at > $3::timestamptz - $4::interval AND at <= $3),
				       (SELECT count(DISTINCT email) FROM security_failed_logins WHERE ip = $2 AND at > $3::timestamptz - $4::interval AND at <= $3)`,
				d.Email, d.IP, at, h.th.Window).Scan(&perAccount, &accountsFromIP); err != nil {
				return err
			}
			// Alert when a threshold is crossed, not on every failure after it.
			if perAccount == h.th.FailedLogins {
				raised = append(raised, alert{RuleFailedLogins, SeverityMedium, map[string]any{"failures": perAccount, "window": h.th.Window.String()}})
			}
			if accountsFromIP == h.th.StuffingAccounts {
				raised = append(raised, alert{RuleCredentialStuff, SeverityHigh, map[string]any{"accounts": accountsFromIP, "window": h.th.Window.String()}})
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

// seen records value for the user and returns an alert if the user had
// values of that kind before and this one is new.
func (h *Handler) seen(ctx context.Context, tx pgx.Tx, user uuid.UUID, kind, value, rule string, at time.Time) (*alert, error) {
	var known int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM security_seen WHERE user_id = $1 AND kind = $2`, user, kind).Scan(&known); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO security_seen (user_id, kind, value, first_seen) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, user, kind, value, at)
	if err != nil {
		return nil, err
	}
	if known > 0 && tag.RowsAffected() == 1 {
		return &alert{rule, SeverityMedium, map[string]any{kind: value}}, nil
	}
	return nil, nil
}

// Alert is one stored alert, as authctl prints it.
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
		return a, err
	})
}
