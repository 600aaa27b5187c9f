package account

import (
	"context"

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
	s.log.InfoContext(ctx, "account exported", "user_id", u.ID, "sessions", len(ex.Sessions), "audit_entries", len(ex.Audit))
	return ex, nil
}
