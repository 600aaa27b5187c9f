package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/internal/testenv"
)

// leave is ada leaving, through the generated client: she takes her data
// (her audit entries are in it), a wrong password does not delete the
// account, the right one does (204), her tokens stop at once, and the
// deletion reaches every consumer without a dead letter: the audit log and
// analytics record it, and the email service mails one confirmation.
func leave(t *testing.T, c *client.ClientWithResponses, pool *pgxpool.Pool, js jetstream.JetStream, mailDir string, ada *client.LoginResponse, before int) {
	t.Helper()
	ctx := context.Background()
	ex, err := c.ExportAccountWithResponse(ctx, nil, bearer(ada.AccessToken))
	if err != nil || ex.JSON200 == nil {
		t.Fatalf("export: %v %s", err, body(ex))
	}
	if ex.JSON200.Profile.Id != ada.User.Id || len(ex.JSON200.Sessions) != 3 || len(ex.JSON200.AuditEntries) == 0 || len(ex.JSON200.SecurityAlerts) != 2 {
		t.Errorf("ada's export: %d sessions, %d audit entries, %d alerts; want 3, some, 2 (new_ip, token_reuse)",
			len(ex.JSON200.Sessions), len(ex.JSON200.AuditEntries), len(ex.JSON200.SecurityAlerts))
	}
	wrong, err := c.DeleteAccountWithResponse(ctx, nil, client.DeleteAccountRequest{Password: "not the password"}, bearer(ada.AccessToken))
	if err != nil || wrong.JSON401 == nil || wrong.JSON401.Error.Code != client.ErrorCodeInvalidCredentials {
		t.Fatalf("delete with a wrong password: %v %s, want 401 invalid_credentials", err, body(wrong))
	}
	del, err := c.DeleteAccountWithResponse(ctx, nil, client.DeleteAccountRequest{Password: "correct horse battery staple"}, bearer(ada.AccessToken))
	if err != nil || del.StatusCode() != 204 {
		t.Fatalf("delete: %v %s, want 204", err, body(del))
	}
	if me, err := c.MeWithResponse(ctx, nil, bearer(ada.AccessToken)); err != nil || me.JSON401 == nil {
		t.Errorf("me after the deletion: %v %s, want 401", err, body(me))
	}
	// login_failed, a logged_out for each of the two live sessions, deleted.
	events := before + 4
	testenv.WaitFor(t, "the deletion in the audit log and analytics", 30*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM audit_log`) == events &&
			count(t, pool, `SELECT COALESCE(sum(count), 0) FROM analytics_event_counts`) == events
	})
	testenv.WaitFor(t, "the confirmation of the deletion", 10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "Subject: Your account was deleted") && strings.Contains(string(b), "To: <ada@example.com>") {
				return true
			}
		}
		return false
	})
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE type = 'user.deleted'`); n != 1 {
		t.Errorf("user.deleted in the audit log %d times, want 1", n)
	}
	if dlq, err := js.Stream(ctx, "auth-events-dlq"); err != nil || dlq.CachedInfo().State.Msgs != 0 {
		t.Errorf("dead-letter stream after the deletion: %v, %+v", err, dlq)
	}
}
