package consumer_test

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

var camelCase = regexp.MustCompile(`^[a-z]+([A-Z][a-z0-9]*)*$`)

// TestSecurityAlertDetailsAreCamelCase: every key of every alert's
// details is camelCase, like the API's and the events' JSON (new_user_agent
// alerts wrote user_agent). Reading alerts back (authctl security alerts)
// gives new_user_agent alerts, stored before or after the change, both
// userAgent and the deprecated user_agent, so scripts reading either work.
func TestSecurityAlertDetailsAreCamelCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	h := security.New(pool, security.Thresholds{FailedLogins: 2, StuffingAccounts: 2, Window: 10 * time.Minute}, prometheus.NewRegistry())
	user := uuid.NewString()
	login := func(at, ip, ua string) *consumer.Event {
		return event(t, "user.logged_in", at, map[string]string{"userId": user, "email": "d@example.com", "ip": ip, "userAgent": ua})
	}
	failed := func(at, email string) *consumer.Event {
		return event(t, "user.login_failed", at, map[string]string{"email": email, "ip": "192.0.2.5", "userAgent": "bot", "reason": "invalid_password"})
	}
	for _, ev := range []*consumer.Event{
		login("2026-11-28T10:00:00.000Z", "198.51.100.1", "firefox"),
		login("2026-11-28T10:01:00.000Z", "203.0.113.9", "curl/8"), // new ip, new user agent
		failed("2026-11-28T11:00:00.000Z", "d@example.com"),
		failed("2026-11-28T11:01:00.000Z", "e@example.com"), // failed_logins? no: two accounts; credential_stuffing: yes
		failed("2026-11-28T11:02:00.000Z", "d@example.com"), // failed_logins
		event(t, "user.token_reuse_detected", "2026-11-28T12:00:00.000Z", map[string]string{"userId": user, "sessionId": uuid.NewString(), "ip": "192.0.2.9", "userAgent": "evil"}),
	} {
		handleTwice(t, h, ev)
	}

	rows, err := pool.Query(ctx, `SELECT rule, details FROM security_alerts ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]map[string]any{}
	for rows.Next() {
		var rule string
		var details map[string]any
		if err := rows.Scan(&rule, &details); err != nil {
			t.Fatal(err)
		}
		stored[rule] = details
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for _, rule := range []string{security.RuleNewIP, security.RuleNewUserAgent, security.RuleFailedLogins, security.RuleCredentialStuff, security.RuleTokenReuse} {
		details, ok := stored[rule]
		if !ok {
			t.Errorf("no %s alert stored (got %v)", rule, stored)
			continue
		}
		for k := range details {
			if !camelCase.MatchString(k) {
				t.Errorf("%s alert stores details key %q, want camelCase: %v", rule, k, details)
			}
		}
	}
	if ua := stored[security.RuleNewUserAgent]["userAgent"]; ua != "curl/8" {
		t.Errorf("new_user_agent details = %v, want userAgent curl/8", stored[security.RuleNewUserAgent])
	}

	// An alert stored before the change, with the old key.
	if _, err := pool.Exec(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id, details) VALUES ($1, 'new_user_agent', 'medium', $2, '{"user_agent": "old/1"}')`, uuid.New(), user); err != nil {
		t.Fatal(err)
	}
	alerts, err := security.List(ctx, pool, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, a := range alerts {
		var details map[string]any
		if err := json.Unmarshal(a.Details, &details); err != nil {
			t.Fatalf("%s details %s: %v", a.Rule, a.Details, err)
		}
		if a.Rule != security.RuleNewUserAgent {
			if _, ok := details["user_agent"]; ok {
				t.Errorf("%s alert lists user_agent: %s", a.Rule, a.Details)
			}
			continue
		}
		if details["userAgent"] == nil || details["userAgent"] != details["user_agent"] || len(details) != 2 {
			t.Errorf("new_user_agent alert lists details %s, want userAgent and user_agent, equal", a.Details)
		}
		ua, _ := details["userAgent"].(string)
		seen = append(seen, ua)
	}
	if len(seen) != 2 || seen[0] != "old/1" || seen[1] != "curl/8" {
		t.Errorf("new_user_agent alerts listed, newest first: %v, want [old/1 curl/8]", seen)
	}
}
