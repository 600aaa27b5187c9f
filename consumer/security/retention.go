package security

import (
	"time"

	"github.com/authevents/authevents/consumer"
)

// DefaultRetention keeps failed logins and alert markers 8 days: longer
// than the stream keeps an event (7 days) plus a window, so an event
// delivered late still finds the failures of its window.
const DefaultRetention = 8 * 24 * time.Hour

// KeepFor sets how long security_failed_logins, security_account_events and security_alert_marks
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
		{Table: "security_account_events", Where: "at < now() - $1::interval", Args: []any{retention}},
	}
}
