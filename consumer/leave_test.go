package consumer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/smtptest"
)

// TestUserDeletedFlowsThroughEveryService: a user.deleted event is handled
// by each of the four services without failing, once: the email service
// sends one confirmation to the address (no name), analytics counts it,
// the audit log records it, and security accepts it. The events of
// leaving are in the email service's filter.
func TestUserDeletedFlowsThroughEveryService(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	sink := smtptest.New(t)
	sender, err := email.NewSMTP(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	user := uuid.NewString()
	const at = "2026-11-28T10:00:00.000Z"
	deleted := event(t, authevents.EventUserDeleted, at, authevents.UserDeleted{UserID: user, Email: "gone@example.com", By: authevents.ByUser, SessionsEnded: 2})
	disabled := event(t, authevents.EventUserDisabled, at, authevents.UserDisabled{UserID: user, By: authevents.ByOperator})
	for _, h := range []consumer.Handler{
		email.New(pool, sender, "authevents <no-reply@authevents.test>"),
		analytics.New(pool), audit.New(pool), security.New(pool, security.DefaultThresholds(), prometheus.NewRegistry()),
	} {
		handleTwice(t, h, deleted)
		handleTwice(t, h, disabled)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails sent, want exactly 1", len(msgs))
	}
	m := string(msgs[0].Data)
	for _, want := range []string{"To: <gone@example.com>", "Subject: Your account was deleted", "X-Authevents-Kind: account-deleted"} {
		if !strings.Contains(m, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, m)
		}
	}
	var n int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE type IN ('user.deleted', 'user.disabled')`).Scan(&n)
	if n != 2 {
		t.Errorf("audit rows of leaving = %d, want 2", n)
	}
	pool.QueryRow(context.Background(), `SELECT COALESCE(sum(count), 0) FROM analytics_event_counts WHERE type = 'user.deleted'`).Scan(&n)
	if n != 1 {
		t.Errorf("analytics counted user.deleted %d times, want 1", n)
	}
	subjects := email.Config("auth-events", "auth.").FilterSubjects
	if !strings.Contains(strings.Join(subjects, ","), "auth.user.deleted") {
		t.Errorf("the email durable's filter %v lacks auth.user.deleted", subjects)
	}
}
