package security

import (
	"context"

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

// rule evaluates one event in the batch's transaction and returns the
// alerts it raises: what must read its own writes before it goes on
// (account changes, erasures).
type rule func(ctx context.Context, tx pgx.Tx, f fact) ([]alert, error)

// queued evaluates one event with statements queued on b, after those of
// the events before it, each statement seeing what the ones before it
// wrote; once b has run, alerts returns what the event raised. Every
// decision is made by the statements, so the events of a batch go to
// the server in one round trip.
type queued func(b *pgx.Batch, f fact) (alerts func() []alert)

// ruleFor returns how an event type is evaluated: queued, or directly
// (rule); both nil for a type not watched.
func (h *Handler) ruleFor(eventType string) (queued, rule) {
	switch eventType {
	case authevents.EventUserLoggedIn:
		return h.loggedIn, nil
	case authevents.EventUserLoginFailed:
		return h.loginFailed, nil
	case authevents.EventTokenReuseDetected:
		return tokenReuse, nil
	case authevents.EventPasswordResetRequested:
		return h.resetRequested, nil
	case authevents.EventPasswordChanged, authevents.EventEmailChanged:
		return nil, h.accountChanged
	case authevents.EventUserDeleted:
		return nil, h.erase
	}
	return nil, nil
}

// Handle evaluates ev once, by its base type (both versions of a type
// are one rule), as a batch of one (HandleBatch). A type not watched
// costs nothing: no transaction, no processed_events row. A version 2
// event whose key is erased is recorded and evaluates nothing: its
// values read personal.Erased.
func (h *Handler) Handle(ctx context.Context, ev *consumer.Event) error {
	if q, r := h.ruleFor(ev.Base); q == nil && r == nil {
		return nil
	}
	return consumer.WithTx(ctx, h.pool, func(tx pgx.Tx) error { return h.HandleBatch(ctx, tx, []*consumer.Event{ev}) })
}

// loggedIn raises new_ip and new_user_agent for a login from an address or
// a user agent the user has not logged in from before. Of a version 2
// login the baselines keep the per-user pseudonyms, and the alert the
// values.
func (h *Handler) loggedIn(b *pgx.Batch, f fact) func() []alert {
	if f.user == nil {
		return nil
	}
	var s seen
	h.queueSeen(b, *f.user, seenValue{f.d.IP, f.d.IPPseudonym}, seenValue{f.d.UserAgent, f.d.UserAgentPseudonym}, f.ev.OccurredAt, &s)
	return func() []alert {
		var raised []alert
		if s.newIP {
			raised = append(raised, alert{RuleNewIP, SeverityMedium, map[string]any{"ip": f.d.IP}})
		}
		if s.afterChange {
			raised = append(raised, h.loginAfterChangeAlert(f.d.IP))
		}
		if s.newUserAgent {
			raised = append(raised, alert{RuleNewUserAgent, SeverityMedium, map[string]any{"userAgent": f.d.UserAgent}})
		}
		return raised
	}
}

// loginFailed records the failure and raises failed_logins and
// credential_stuffing when a window reaches its threshold.
func (h *Handler) loginFailed(b *pgx.Batch, f fact) func() []alert {
	if f.d.Reason == authevents.ReasonRateLimited {
		return nil // the limiter already acted; counting it again would double the failures
	}
	// Under the locks of the account and the address (HandleBatch took
	// them), so of two replicas the later one sees the earlier one's
	// failure.
	at := f.ev.OccurredAt
	b.Queue(`INSERT INTO security_failed_logins (event_id, email, ip, at, user_id) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, f.ev.EventID, f.d.Email, f.d.IP, at, f.user)
	account := h.queueThreshold(b, RuleFailedLogins, SeverityMedium, failuresPerAccount, f.d.Email, at, h.th.FailedLogins)
	address := h.queueThreshold(b, RuleCredentialStuff, SeverityHigh, accountsPerIP, f.d.IP, at, h.th.StuffingAccounts)
	return func() []alert { return append(account(), address()...) }
}

// tokenReuse raises token_reuse for every reuse of a rotated refresh token.
func tokenReuse(_ *pgx.Batch, f fact) func() []alert {
	return func() []alert {
		return []alert{{RuleTokenReuse, SeverityHigh, map[string]any{"sessionId": f.d.SessionID, "userAgent": f.d.UserAgent}}}
	}
}
