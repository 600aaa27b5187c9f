// Package security is the security-monitoring subscriber. It raises
// alerts, stored once per event and rule and counted in a metric, for:
//   - a login from an IP or user agent not seen for that user before
//     (the first login ever sets the baseline);
//   - at least FailedLogins failed logins for one account within Window;
//   - failed logins from one IP across at least StuffingAccounts accounts
//     within Window (credential stuffing);
//   - any refresh-token reuse (high severity);
//   - at least ResetRequests password reset requests for one account, or
//     ResetRequestsPerIP from one address, within Window
//     (password_reset_abuse);
//   - a login from a new address within Window after a password or
//     address change (login_after_change, high severity).
//
// It watches the types of Watched (each in both versions, evaluated
// alike by base type) and no other: user.token_refreshed
// carries no IP or user agent, so no rule can be evaluated on it.
// user.deleted erases what it holds of the user (erase.go); an event of a
// user already erased stores nothing.
//
// Events are applied in batches (batch.go: HandleBatch), one transaction
// per batch that takes all its locks first, in one order, then evaluates
// each event in stream order; Handle is a batch of one.
//
// Files: batch.go the batch transaction and its locks; evaluate.go runs
// the rules of a batch's events, most of them in one round trip, and
// stores the alerts; rules.go the rule of each watched type; windows.go
// holds the threshold windows and the seen-before check;
// erase.go the erasure on user.deleted; retention.go what is pruned;
// alerts.go the stored alerts as authctl reads them.
package security

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/personal"
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
	FailedLogins     int // per account within Window
	StuffingAccounts int // distinct accounts per IP within Window
	// ResetRequests and ResetRequestsPerIP: password reset requests per
	// account and per address within Window (password_reset_abuse).
	ResetRequests      int
	ResetRequestsPerIP int
	Window             time.Duration //
}

// DefaultThresholds returns the thresholds of cmd/consumer when its
// SECURITY_* variables are unset.
func DefaultThresholds() Thresholds {
	return Thresholds{FailedLogins: 5, StuffingAccounts: 5, ResetRequests: 5, ResetRequestsPerIP: 10, Window: 15 * time.Minute}
}

// Watched returns the event types the rules evaluate.
func Watched() []string {
	return []string{authevents.EventUserLoggedIn, authevents.EventUserLoginFailed, authevents.EventTokenReuseDetected,
		authevents.EventPasswordResetRequested, authevents.EventPasswordChanged, authevents.EventEmailChanged,
		authevents.EventUserDeleted}
}

// Config subscribes to the Watched types under subjectPrefix ("auth."),
// each with its version 2 where it has one (read when the service holds
// the personal data key, acked unread otherwise: consumer.Versioned).
// On nats-server 2.9, which has a single filter subject per consumer, the
// durable receives every auth event instead, and Handle acks the types it
// does not watch without a transaction.
func Config(stream, subjectPrefix string) consumer.Config {
	var subjects []string
	for _, t := range Watched() {
		subjects = append(subjects, subjectPrefix+t)
		if v2 := authevents.ProtectedType(t); v2 != "" {
			subjects = append(subjects, subjectPrefix+v2)
		}
	}
	return consumer.Config{Stream: stream, Durable: Durable, FilterSubject: subjectPrefix + "user.*", FilterSubjects: subjects}
}

// Handler evaluates the rules.
type Handler struct {
	pool      *pgxpool.Pool
	th        Thresholds
	alerts    *prometheus.CounterVec
	retention time.Duration
	keys      *personal.Keys // Guard only: security decrypts nothing
}

// New returns the security handler; alerts are counted on reg.
func New(pool *pgxpool.Pool, th Thresholds, reg prometheus.Registerer) *Handler {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_security_alerts_total",
		Help: "Security alerts raised, by rule and severity."}, []string{"rule", "severity"})
	reg.MustRegister(c)
	return &Handler{pool: pool, th: th, alerts: c, keys: personal.NewKeys(pool, nil, personal.Options{})}
}
