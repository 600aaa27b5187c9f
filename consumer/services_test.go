package consumer_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
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

// event builds a delivered event without NATS: the handlers' logic is
// tested directly against Postgres; the delivery plumbing is tested above.
func event(t *testing.T, eventType, at string, data any) *consumer.Event {
	t.Helper()
	d, _ := json.Marshal(data)
	ce := authevents.CloudEvent{SpecVersion: "1.0", ID: uuid.Must(uuid.NewV7()).String(), Source: "auth-service", Type: eventType,
		Time: at, DataContentType: "application/json", Data: d}
	body, _ := json.Marshal(ce)
	ev, err := consumer.NewEvent("auth."+eventType, body)
	if err != nil {
		t.Fatal(err)
	}
	ev.Deliveries = 1
	return ev
}

func handleTwice(t *testing.T, h consumer.Handler, ev *consumer.Event) {
	t.Helper()
	for range 2 {
		if err := h.Handle(context.Background(), ev); err != nil {
			t.Fatalf("Handle %s: %v", ev.Type, err)
		}
	}
}

func TestAnalyticsCountsOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	h := analytics.New(pool)
	u1, u2 := uuid.NewString(), uuid.NewString()
	for _, ev := range []*consumer.Event{
		event(t, "user.registered", "2026-11-28T10:05:00.000Z", map[string]string{"userId": u1}),
		event(t, "user.logged_in", "2026-11-28T10:59:59.999Z", map[string]string{"userId": u1}),
		event(t, "user.logged_in", "2026-11-28T11:00:00.000Z", map[string]string{"userId": u2}),
		event(t, "user.login_failed", "2026-11-28T11:30:00.000Z", map[string]string{"email": "x@y.z"}),
		event(t, "user.logged_in", "2026-11-29T00:10:00.000Z", map[string]string{"userId": u1}),
	} {
		handleTwice(t, h, ev) // each delivered twice: counted once
	}
	s, err := analytics.Read(context.Background(), pool, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range s.EventsByHour {
		got[c.Hour.UTC().Format("2006-01-02T15")+" "+c.Type] = c.Count
	}
	want := map[string]int64{
		"2026-11-28T10 user.registered": 1, "2026-11-28T10 user.logged_in": 1, "2026-11-28T11 user.logged_in": 1,
		"2026-11-28T11 user.login_failed": 1, "2026-11-29T00 user.logged_in": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("events by hour = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	days := map[string]int64{}
	for _, d := range s.ActiveUsersByDay {
		days[d.Day] = d.Users
	}
	if days["2026-11-28"] != 2 || days["2026-11-29"] != 1 {
		t.Errorf("active users by day = %v, want 28th: 2, 29th: 1 (failures do not count)", days)
	}
}

// TestHandlersRefuseDataTheyCannotDecode: data of the wrong shape is a
// permanent failure for every handler, not an event counted with empty
// fields (analytics used to ignore the decoding error).
func TestHandlersRefuseDataTheyCannotDecode(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	for name, h := range map[string]consumer.Handler{
		"analytics": analytics.New(pool),
		"audit":     audit.New(pool),
		"security":  security.New(pool, security.DefaultThresholds(), prometheus.NewRegistry()),
		"email":     email.New(pool, email.Files{Dir: t.TempDir()}, "authevents <no-reply@authevents.test>"),
	} {
		typ := authevents.EventUserLoggedIn
		if name == "email" {
			typ = authevents.EventUserRegistered
		}
		ev := event(t, typ, "2026-11-28T10:00:00.000Z", []string{"not", "an", "object"})
		if err := h.Handle(context.Background(), ev); !consumer.IsPermanent(err) {
			t.Errorf("%s: Handle(data of the wrong shape) = %v, want a permanent error", name, err)
		}
	}
	var n int
	pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM processed_events) + (SELECT count(*) FROM audit_log)`).Scan(&n)
	if n != 0 {
		t.Errorf("%d rows written for events that did not decode", n)
	}
}

func TestSecurityRules(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	reg := prometheus.NewRegistry()
	h := security.New(pool, security.Thresholds{FailedLogins: 3, StuffingAccounts: 3, Window: 10 * time.Minute}, reg)
	user := uuid.NewString()
	login := func(at, ip, ua string) *consumer.Event {
		return event(t, "user.logged_in", at, map[string]string{"userId": user, "email": "v@example.com", "ip": ip, "userAgent": ua})
	}
	failed := func(at, email, ip string) *consumer.Event {
		return event(t, "user.login_failed", at, map[string]string{"email": email, "ip": ip, "userAgent": "bot", "reason": "invalid_password"})
	}
	evs := []*consumer.Event{
		login("2026-11-28T10:00:00.000Z", "198.51.100.1", "firefox"), // baseline: no alert
		login("2026-11-28T10:01:00.000Z", "198.51.100.1", "firefox"), // known: no alert
		login("2026-11-28T10:02:00.000Z", "203.0.113.9", "firefox"),  // new ip
		login("2026-11-28T10:03:00.000Z", "203.0.113.9", "curl/8"),   // new user agent
		// Three failures for one account within the window: one alert.
		failed("2026-11-28T11:00:00.000Z", "v@example.com", "192.0.2.1"),
		failed("2026-11-28T11:01:00.000Z", "v@example.com", "192.0.2.2"),
		failed("2026-11-28T11:02:00.000Z", "v@example.com", "192.0.2.3"),
		failed("2026-11-28T11:03:00.000Z", "v@example.com", "192.0.2.4"), // past the threshold: no new alert
		// One IP, three accounts: credential stuffing.
		failed("2026-11-28T12:00:00.000Z", "a@example.com", "192.0.2.66"),
		failed("2026-11-28T12:00:01.000Z", "b@example.com", "192.0.2.66"),
		failed("2026-11-28T12:00:02.000Z", "c@example.com", "192.0.2.66"),
		// Spread beyond the window: nothing.
		failed("2026-11-28T13:00:00.000Z", "w@example.com", "192.0.2.77"),
		failed("2026-11-28T13:20:00.000Z", "w@example.com", "192.0.2.77"),
		failed("2026-11-28T13:40:00.000Z", "w@example.com", "192.0.2.77"),
		event(t, "user.token_reuse_detected", "2026-11-28T14:00:00.000Z", map[string]string{"userId": user, "sessionId": uuid.NewString(), "ip": "192.0.2.9", "userAgent": "evil"}),
		event(t, "user.logged_out", "2026-11-28T14:01:00.000Z", map[string]string{"userId": user}), // not watched
	}
	for _, ev := range evs {
		handleTwice(t, h, ev)
	}
	got := alertRules(t, pool)
	want := []string{"new_ip/medium", "new_user_agent/medium", "failed_logins/medium", "credential_stuffing/high", "token_reuse/high"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("alerts = %v, want %v", got, want)
	}
	mfs, _ := reg.Gather()
	var total float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	if total != 5 {
		t.Errorf("alert metric total = %v, want 5", total)
	}
}

func TestWelcomeEmailOnce(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	sink := smtptest.New(t)
	sender, err := email.NewSMTP(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	h := email.New(pool, sender, "authevents <no-reply@authevents.test>")
	ev := event(t, "user.registered", "2026-11-28T10:00:00.000Z", authevents.UserRegistered{UserID: uuid.NewString(), Email: "new@example.com", Name: "Newt"})

	sink.Refuse(true)
	if err := h.Handle(context.Background(), ev); err == nil {
		t.Fatal("Handle succeeded although the SMTP server refused the message")
	}
	sink.Refuse(false)
	handleTwice(t, h, ev) // redelivery after the failure, then a duplicate
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails sent, want exactly 1", len(msgs))
	}
	m := string(msgs[0].Data)
	for _, want := range []string{"Message-ID: <" + email.MessageID(ev.ID) + ">", "To: <new@example.com>", "Subject: Welcome to authevents"} {
		if !strings.Contains(m, want) {
			t.Errorf("email lacks %q:\n%s", want, m)
		}
	}
	// Found in review: whoever registers chooses the name, and the address
	// is not proven yet, so the name would carry anyone's words to any
	// address. Mails to an address not proven to be the user's leave it out.
	if strings.Contains(m, "Newt") {
		t.Errorf("the welcome mail to an unproven address shows the name the registrant chose:\n%s", m)
	}
	// Other event types are not its business.
	if err := h.Handle(context.Background(), event(t, "user.logged_in", "2026-11-28T10:00:00.000Z", map[string]string{})); err != nil || sink.Count() != 1 {
		t.Errorf("a non-registration event sent mail or failed: %v", err)
	}
	// A registration without an email is permanent, not retried.
	bad := event(t, "user.registered", "2026-11-28T10:00:00.000Z", map[string]string{"userId": uuid.NewString()})
	if err := h.Handle(context.Background(), bad); !consumer.IsPermanent(err) {
		t.Errorf("Handle(no email) = %v, want a permanent error", err)
	}
}

func TestWelcomeEmailAsFileInDevelopment(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	dir := filepath.Join(t.TempDir(), "mail")
	h := email.New(pool, email.Files{Dir: dir}, "authevents <no-reply@authevents.test>")
	ev := event(t, "user.registered", "2026-11-28T10:00:00.000Z", authevents.UserRegistered{UserID: uuid.NewString(), Email: "dev@example.com", Name: "Dev"})
	handleTwice(t, h, ev)
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 || filepath.Base(files[0]) != ev.ID+".eml" {
		t.Fatalf("files = %v, want one <event id>.eml", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "To: <dev@example.com>") {
		t.Errorf(".eml content:\n%s", b)
	}
}

// alertRules lists the stored alerts as rule/severity, oldest first.
func alertRules(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	alerts, err := security.List(context.Background(), pool, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(alerts) - 1; i >= 0; i-- {
		got = append(got, alerts[i].Rule+"/"+alerts[i].Severity)
	}
	return got
}
