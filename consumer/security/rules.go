package security

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
)

// data is the union of the watched types' data.
type data struct {
	UserID    string `json:"userId"`
	Email     string `json:"email"`
	IP        string `json:"ip"`
	UserAgent string `json:"userAgent"`
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
	// Version 2 only: the per-user pseudonyms of ip and userAgent, which
	// the baselines (security_seen) store instead of the values.
	IPPseudonym        string `json:"ipPseudonym"`
	UserAgentPseudonym string `json:"userAgentPseudonym"`
}

type alert struct {
	rule, severity string
	details        map[string]any
}

// fact is one event as the rules see it.
type fact struct {
	ev   *consumer.Event
	d    data
	user *uuid.UUID // nil when the event names no user
}

// rule evaluates one event type in the event's transaction and returns
// the alerts it raises.
type rule func(ctx context.Context, tx pgx.Tx, f fact) ([]alert, error)

// ruleFor returns the rule of an event type, nil for a type not watched.
func (h *Handler) ruleFor(eventType string) rule {
	switch eventType {
	case authevents.EventUserLoggedIn:
		return h.loggedIn
	case authevents.EventUserLoginFailed:
		return h.loginFailed
	case authevents.EventTokenReuseDetected:
		return h.tokenReuse
	case authevents.EventPasswordResetRequested:
		return h.resetRequested
	case authevents.EventPasswordChanged, authevents.EventEmailChanged:
		return h.accountChanged
	case authevents.EventUserDeleted:
		return noRule // erase, in HandleBatch
	}
	return nil
}

// Handle evaluates ev once, by its base type (both versions of a type
// are one rule), as a batch of one (HandleBatch). A type not watched
// costs nothing: no transaction, no processed_events row. A version 2
// event whose key is erased is recorded and evaluates nothing: its
// values read personal.Erased.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	if h.ruleFor(ev.Base) == nil {
		return nil
	}
	return consumer.WithTx(ctx, h.pool, func(tx pgx.Tx) error { return h.HandleBatch(ctx, tx, []*consumer.Event{ev}) })
}

// store writes the alerts of one event, once per rule, and returns
// those it wrote: of two alerts of one rule (password_reset_abuse of the
// account and of the address), the second is not stored, and not
// counted.
func store(ctx context.Context, tx pgx.Tx, f fact, raised []alert) ([]alert, error) {
	var stored []alert
	for _, a := range raised {
		details, _ := json.Marshal(a.details)
		tag, err := tx.Exec(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id, email, ip, details)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, rule) DO NOTHING`,
			f.ev.EventID, a.rule, a.severity, f.user, f.d.Email, f.d.IP, details)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			stored = append(stored, a)
		}
	}
	return stored, nil
}

// loggedIn raises new_ip and new_user_agent for a login from an address or
// a user agent the user has not logged in from before. Of a version 2
// login the baselines keep the per-user pseudonyms, and the alert the
// values.
func (h *Handler) loggedIn(ctx context.Context, tx pgx.Tx, f fact) ([]alert, error) {
	if f.user == nil {
		return nil, nil
	}
	var raised []alert
	for _, k := range []struct{ kind, key, value, pseudonym, rule string }{
		{"ip", "ip", f.d.IP, f.d.IPPseudonym, RuleNewIP},
		{"user_agent", "userAgent", f.d.UserAgent, f.d.UserAgentPseudonym, RuleNewUserAgent},
	} {
		a, err := h.seen(ctx, tx, *f.user, k.kind, k.key, seenValue{k.value, k.pseudonym}, k.rule, f.ev.OccurredAt)
		if err != nil {
			return nil, err
		}
		if a != nil {
			raised = append(raised, *a)
			if k.rule == RuleNewIP {
				if a, err := h.loginAfterChange(ctx, tx, *f.user, f.d.IP, f.ev.OccurredAt); err != nil || a != nil {
					if err != nil {
						return nil, err
					}
					raised = append(raised, *a)
				}
			}
		}
	}
	return raised, nil
}

// loginFailed records the failure and raises failed_logins and
// credential_stuffing when a window reaches its threshold.
func (h *Handler) loginFailed(ctx context.Context, tx pgx.Tx, f fact) ([]alert, error) {
	if f.d.Reason == authevents.ReasonRateLimited {
		return nil, nil // the limiter already acted; counting it again would double the failures
	}
	// Under the locks of the account and the address (HandleBatch took
	// them), so of two replicas the later one sees the earlier one's
	// failure.
	at := f.ev.OccurredAt
	if _, err := tx.Exec(ctx, `INSERT INTO security_failed_logins (event_id, email, ip, at, user_id) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, f.ev.EventID, f.d.Email, f.d.IP, at, f.user); err != nil {
		return nil, err
	}
	var raised []alert
	for _, r := range []struct {
		rule, severity string
		w              window
		key            string
		threshold      int
	}{
		{RuleFailedLogins, SeverityMedium, failuresPerAccount, f.d.Email, h.th.FailedLogins},
		{RuleCredentialStuff, SeverityHigh, accountsPerIP, f.d.IP, h.th.StuffingAccounts},
	} {
		a, err := h.threshold(ctx, tx, r.rule, r.w, r.key, at, r.threshold)
		if err != nil {
			return nil, err
		}
		if a != nil {
			a.severity = r.severity
			raised = append(raised, *a)
		}
	}
	return raised, nil
}

// tokenReuse raises token_reuse for every reuse of a rotated refresh token.
func (h *Handler) tokenReuse(_ context.Context, _ pgx.Tx, f fact) ([]alert, error) {
	return []alert{{RuleTokenReuse, SeverityHigh, map[string]any{"sessionId": f.d.SessionID, "userAgent": f.d.UserAgent}}}, nil
}
