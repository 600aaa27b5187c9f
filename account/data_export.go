package account

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

// Export returns everything the API's database holds about the signed-in
// user: the profile, every stored session, the pending links, and the
// security alerts and audit entries the consumers wrote about the user
// (their tables live in the same database when the consumers share its
// DATABASE_URL). It holds no password hash, no token and no token hash.
// Exports are limited per user (LimitExportUser).
func (s *Service) Export(ctx context.Context, v *token.Verified) (_ *authevents.Export, err error) {
	defer markUnavailable(&err)
	if err := s.allow(ctx, LimitExportUser, v.UserID.String()); err != nil {
		return nil, err
	}
	u, err := s.Me(ctx, v.UserID)
	if err != nil {
		return nil, err
	}
	ex := &authevents.Export{User: u}
	ex.User.PasswordHash = ""
	if ex.Sessions, err = postgres.UserSessions(ctx, s.pool, u.ID); err != nil {
		return nil, err
	}
	for i := range ex.Sessions {
		ss := &ex.Sessions[i]
		ss.RefreshJTI, ss.PrevRefreshJTI, ss.RefreshChildBox = uuid.Nil, uuid.Nil, nil
	}
	if ex.Links, err = postgres.PendingLinks(ctx, s.pool, u.ID); err != nil {
		return nil, err
	}
	if ex.Alerts, err = postgres.SecurityAlertsOf(ctx, s.pool, u.ID); err != nil {
		return nil, err
	}
	if ex.Audit, err = postgres.AuditEntriesOf(ctx, s.pool, u.ID); err != nil {
		return nil, err
	}
	for i := range ex.Audit {
		e := &ex.Audit[i]
		base, _ := authevents.BaseType(e.Type)
		e.Envelope = forOwner(base, s.opened(ctx, e.Type, e.Envelope))
	}
	s.log.InfoContext(ctx, "account exported", "user_id", u.ID, "sessions", len(ex.Sessions), "audit_entries", len(ex.Audit))
	return ex, nil
}

// opened returns an audit envelope of version 2 with its personal fields
// read with the owner's key, for the owner's export; any other envelope,
// or one that does not open (no key-encryption key here, a key erased), is
// returned as it is.
func (s *Service) opened(ctx context.Context, eventType string, envelope json.RawMessage) json.RawMessage {
	if _, v := authevents.BaseType(eventType); v != 2 || s.ring == nil {
		return envelope
	}
	var ce map[string]json.RawMessage
	var id string
	if json.Unmarshal(envelope, &ce) != nil || json.Unmarshal(ce["id"], &id) != nil {
		return envelope
	}
	data, _, err := s.keys.Open(ctx, eventType, id, ce["data"])
	if err != nil {
		s.log.WarnContext(ctx, "audit entry does not open for the export", "event_id", id, "err", err)
		return envelope
	}
	ce["data"] = data
	out, err := json.Marshal(ce)
	if err != nil {
		return envelope
	}
	return out
}

// notForOwner are the data fields of an event its user must not read in
// the export: whether an address someone asked to move to has an account
// (the answer to the request does not tell it either), and the sealed
// link (of no use to anyone but the email service).
var notForOwner = map[string][]string{
	authevents.EventEmailChangeRequested: {"newEmailTaken", "link"},
}

// forOwner removes from an audit envelope of eventType the data fields its
// user must not read (an envelope it cannot read becomes null); any other
// envelope is returned as it is.
func forOwner(eventType string, envelope json.RawMessage) json.RawMessage {
	drop := notForOwner[eventType]
	if len(drop) == 0 {
		return envelope
	}
	var ce map[string]json.RawMessage
	var data map[string]json.RawMessage
	if json.Unmarshal(envelope, &ce) != nil || json.Unmarshal(ce["data"], &data) != nil {
		return json.RawMessage("null") // cannot take the fields out: nothing of it
	}
	for _, k := range drop {
		delete(data, k)
	}
	ce["data"], _ = json.Marshal(data) // decoded from JSON: it encodes
	out, _ := json.Marshal(ce)
	return out
}
