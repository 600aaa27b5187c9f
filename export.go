package authevents

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Export is everything the API's database holds about one user, for the
// user to take away (GET /auth/account/export). It never holds a password
// hash, a token or a token's hash.
type Export struct {
	User     *User
	Sessions []Session // every session still stored, ended ones too, newest first
	Links    []PendingLink
	Alerts   []SecurityAlert
	Audit    []AuditEntry
}

// PendingLink is a one-time link of the user that has not been used yet
// (its token is stored only as a hash, and is not part of it).
type PendingLink struct {
	Purpose   string // verify_email, reset_password, change_email
	Email     string // the address the link was sent to
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SecurityAlert is an alert the security consumer raised about the user.
type SecurityAlert struct {
	EventID   uuid.UUID
	Rule      string
	Severity  string
	Email     string
	IP        string
	Details   json.RawMessage
	CreatedAt time.Time
}

// AuditEntry is one event of the user as the audit log recorded it.
type AuditEntry struct {
	EventID    uuid.UUID
	Type       string
	OccurredAt time.Time
	IP         string
	UserAgent  string
	Envelope   json.RawMessage // the CloudEvent as published
}
