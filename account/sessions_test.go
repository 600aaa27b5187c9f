package account_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestLogoutAllAndSessions: Sessions lists the user's live sessions,
// newest first, with the address and agent they were opened from;
// EndSession ends one of the user's own sessions and nothing else
// (another user's, unknown or already ended: ErrNotFound); LogoutAll ends
// every live session, counts them and appends one user.logged_out per
// session ended.
func TestLogoutAllAndSessions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	reg := f.register(t, "all@example.com")
	phone := authevents.Client{IP: "198.51.100.4", UserAgent: "phone/2.0"}
	all := []*account.Result{reg, f.login(t, "all@example.com", phone), f.login(t, "all@example.com", phone)}
	other := f.register(t, "someone-else@example.com")

	v := f.authenticate(t, all[1].AccessToken)
	list, err := f.Service.Sessions(ctx, v.UserID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	if want := []uuid.UUID{all[2].Session.ID, all[1].Session.ID, all[0].Session.ID}; len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("Sessions = %v, want the three, newest first: %v", ids, want)
	}
	if s := list[1]; s.IP != phone.IP || s.UserAgent != phone.UserAgent || s.UserID != reg.User.ID || s.RevokedAt != nil {
		t.Errorf("session = %+v, want opened from %+v", s, phone)
	}

	// End one session by id; another user's session is not found.
	target := all[2].Session.ID
	wantErr(t, f.Service.EndSession(ctx, v, other.Session.ID), authevents.ErrNotFound)
	wantErr(t, f.Service.EndSession(ctx, v, uuid.New()), authevents.ErrNotFound)
	if row := f.sessionRow(t, other.Session.ID); row.revoked {
		t.Fatal("EndSession ended another user's session")
	}
	if err := f.Service.EndSession(ctx, v, target); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	if f.works(t, all[2].AccessToken) || !f.works(t, all[1].AccessToken) {
		t.Error("ending one session affected the wrong tokens")
	}
	if row := f.sessionRow(t, target); !row.revoked || row.reason != account.RevokedByUser {
		t.Errorf("ended session = %+v, want revoked %s", row, account.RevokedByUser)
	}
	wantErr(t, f.Service.EndSession(ctx, v, target), authevents.ErrNotFound)
	if list, _ := f.Service.Sessions(ctx, v.UserID); len(list) != 2 {
		t.Errorf("%d live sessions after ending one, want 2", len(list))
	}

	n, err := f.Service.LogoutAll(ctx, f.authenticate(t, all[0].AccessToken))
	if err != nil || n != 2 {
		t.Fatalf("LogoutAll = %d, %v; want 2 sessions ended", n, err)
	}
	for i, p := range all {
		if f.works(t, p.AccessToken) {
			t.Errorf("access token %d survived LogoutAll", i)
		}
		_, err := f.refresh(p.RefreshToken)
		wantErr(t, err, authevents.ErrInvalidRefreshToken)
	}
	if list, _ := f.Service.Sessions(ctx, reg.User.ID); len(list) != 0 {
		t.Errorf("%d live sessions after LogoutAll", len(list))
	}
	if !f.works(t, other.AccessToken) {
		t.Error("LogoutAll ended another user's session")
	}
	// One user.logged_out per session ended: EndSession's, then two.
	seen := map[any]bool{}
	for _, d := range f.events(t, authevents.EventUserLoggedOut, reg.User.ID.String()) {
		seen[d["sessionId"]] = true
	}
	if len(seen) != 3 {
		t.Errorf("logged_out events name %d distinct sessions, want 3", len(seen))
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventUserLoggedOut, 3)
}
