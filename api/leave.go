package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authevents/authevents"
)

// Leaving: a signed-in user deletes the account, or takes its data away.

type deleteAccountRequest struct {
	Password string `json:"password"`
}

// ExportResponse is GET /auth/account/export: everything the API's
// database holds about the caller. No password hash, token or token hash.
type ExportResponse struct {
	ExportedAt     time.Time          `json:"exportedAt"`
	Profile        ExportProfile      `json:"profile"`
	Sessions       []ExportSession    `json:"sessions"`
	PendingLinks   []ExportLink       `json:"pendingLinks"`
	SecurityAlerts []ExportAlert      `json:"securityAlerts"`
	AuditEntries   []ExportAuditEntry `json:"auditEntries"`
}

// ExportProfile is the account itself.
type ExportProfile struct {
	ID              string     `json:"id"`
	Email           string     `json:"email"`
	Name            string     `json:"name"`
	CreatedAt       time.Time  `json:"createdAt"`
	EmailVerifiedAt *time.Time `json:"emailVerifiedAt,omitempty"`
	LastLoginAt     *time.Time `json:"lastLoginAt,omitempty"`
}

// ExportSession is one stored session, live or ended.
type ExportSession struct {
	ID           string     `json:"id"`
	CreatedAt    time.Time  `json:"createdAt"`
	LastUsedAt   time.Time  `json:"lastUsedAt"`
	ExpiresAt    time.Time  `json:"expiresAt"`
	IP           string     `json:"ip"`
	UserAgent    string     `json:"userAgent"`
	RevokedAt    *time.Time `json:"revokedAt,omitempty"`
	RevokeReason string     `json:"revokeReason,omitempty"`
}

// ExportLink is a one-time link not used yet.
type ExportLink struct {
	Purpose   string    `json:"purpose"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// ExportAlert is a security alert about the caller.
type ExportAlert struct {
	EventID   string          `json:"eventId"`
	Rule      string          `json:"rule"`
	Severity  string          `json:"severity"`
	Email     string          `json:"email"`
	IP        string          `json:"ip"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"createdAt"`
}

// ExportAuditEntry is one event of the caller in the audit log.
type ExportAuditEntry struct {
	EventID    string          `json:"eventId"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurredAt"`
	IP         string          `json:"ip"`
	UserAgent  string          `json:"userAgent"`
	Event      json.RawMessage `json:"event"`
}

func (s *Server) deleteAccount(c *gin.Context) {
	var req deleteAccountRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.accounts.DeleteAccount(c.Request.Context(), claims(c), req.Password, client(c)); err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.Status(http.StatusNoContent)
}

func (s *Server) exportAccount(c *gin.Context) {
	ex, err := s.accounts.Export(c.Request.Context(), claims(c))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, exportResponse(ex, time.Now()))
}

func exportResponse(ex *authevents.Export, now time.Time) ExportResponse {
	u := ex.User
	out := ExportResponse{
		ExportedAt: now.UTC().Truncate(time.Millisecond),
		Profile: ExportProfile{ID: u.ID.String(), Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt.UTC(),
			EmailVerifiedAt: utc(u.EmailVerifiedAt), LastLoginAt: utc(u.LastLoginAt)},
		Sessions:       make([]ExportSession, 0, len(ex.Sessions)),
		PendingLinks:   make([]ExportLink, 0, len(ex.Links)),
		SecurityAlerts: make([]ExportAlert, 0, len(ex.Alerts)),
		AuditEntries:   make([]ExportAuditEntry, 0, len(ex.Audit)),
	}
	for _, ss := range ex.Sessions {
		out.Sessions = append(out.Sessions, ExportSession{ID: ss.ID.String(), CreatedAt: ss.CreatedAt.UTC(), LastUsedAt: ss.LastUsedAt.UTC(),
			ExpiresAt: ss.ExpiresAt.UTC(), IP: ss.IP, UserAgent: ss.UserAgent, RevokedAt: utc(ss.RevokedAt), RevokeReason: ss.RevokeReason})
	}
	for _, l := range ex.Links {
		out.PendingLinks = append(out.PendingLinks, ExportLink{Purpose: l.Purpose, Email: l.Email, CreatedAt: l.CreatedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC()})
	}
	for _, a := range ex.Alerts {
		out.SecurityAlerts = append(out.SecurityAlerts, ExportAlert{EventID: a.EventID.String(), Rule: a.Rule, Severity: a.Severity,
			Email: a.Email, IP: a.IP, Details: a.Details, CreatedAt: a.CreatedAt.UTC()})
	}
	for _, e := range ex.Audit {
		out.AuditEntries = append(out.AuditEntries, ExportAuditEntry{EventID: e.EventID.String(), Type: e.Type,
			OccurredAt: e.OccurredAt.UTC(), IP: e.IP, UserAgent: e.UserAgent, Event: e.Envelope})
	}
	return out
}

// utc is t in UTC, or nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
