package dashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/dashboard"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natsconn"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// wantEvents is the event panel for publishMix's mix.
var wantEvents = map[string][]string{
	"user.registered":           {"3", "3", "0", "0"},
	"user.logged_in":            {"2", "2", "0", "0"},
	"user.login_failed":         {"1", "1", "0", "0"},
	"user.token_refreshed":      {"1", "1", "0", "0"},
	"user.logged_out":           {"1", "0", "0", "1"},             // parked behind the dead row
	"user.token_reuse_detected": {"0", "0", "0", "0"},             // every type has a row
	"admin.note":                {"1", "0", "2 (1 dead) ⚠️", "0"}, // refused twice, then dead
}

func init() {
	// Every type the system emits has a row, the ones the mix lacks at 0.
	for _, typ := range authevents.EventTypes() {
		if _, ok := wantEvents[typ]; !ok {
			wantEvents[typ] = []string{"0", "0", "0", "0"}
		}
	}
}

// TestDashboardShowsTheMixInEveryPanel drives the page in headless
// Chromium: a known mix of events goes through a real relay to a private
// JetStream, consumers are left in known states, and every panel must show
// the numbers that mix implies. Then NATS is stopped: the JetStream panels
// say since when it is unreachable (no zeros), the PostgreSQL panels keep
// their figures. A screenshot is saved (DASHBOARD_SCREENSHOT=path keeps
// it, as docs/dashboard.png in the README).
func TestDashboardShowsTheMixInEveryPanel(t *testing.T) {
	ctx := browser(t)
	_, dbURL := pgtest.NewWithURL(t)
	srv := natstest.Start(t)
	publishMix(t, startRelay(t, dbURL, srv.URL()))
	leaveConsumersInKnownStates(t, srv.URL())
	d := openDashboard(t, dbURL, srv.URL())
	web := httptest.NewServer(d.Handler())
	t.Cleanup(web.Close)

	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL)); err != nil {
		t.Fatal(err)
	}
	s := waitShown(t, ctx, fmt.Sprintf("the event panel to show %v, 2 consumers and a backlog of 1", wantEvents), 15*time.Second,
		func(s shown) bool {
			return reflect.DeepEqual(s.Events, wantEvents) && len(s.Consumers) == 2 && s.Outbox[0] == "1"
		})
	checkPanels(t, s)
	// The JSON behind it says the same.
	ov := d.Overview(context.Background())
	switch p95 := ov.Latency.P95Ms; {
	case p95 == nil:
		t.Errorf("page shows p95 %q, /api/overview none", s.Latency)
	case msText(*p95) != s.Latency:
		t.Errorf("page shows p95 %q, /api/overview %v", s.Latency, *p95)
	}
	screenshot(t, ctx, "dashboard.png")

	// Readable on a phone: nothing wider than the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "a refresh at phone width", 5*time.Second, func() bool { return len(read(t, ctx).Events) > 0 })
	if s := read(t, ctx); s.Overflow {
		t.Error("at 390 px the page is wider than the screen")
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatal(err)
	}

	// NATS stops: the JetStream panels say so, with the time; the
	// PostgreSQL panels keep their figures.
	stopped := time.Now()
	srv.Stop()
	s = waitShown(t, ctx, "a JetStream down-state after NATS stopped", 15*time.Second,
		func(s shown) bool { return s.Down["jetstream"] != "" })
	checkJetStreamDown(t, s, stopped)
	screenshot(t, ctx, "dashboard-jetstream-down.png")
}

// openDashboard is the dashboard with its own connections, as
// cmd/dashboard opens them.
func openDashboard(t *testing.T, dbURL, natsURL string) *dashboard.Dashboard {
	t.Helper()
	nc, err := natsconn.Connect(natsURL, "authevents-dashboard", quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pool, err := postgres.Open(context.Background(), dbURL, 4, postgres.Session{AppName: "authevents-dashboard"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	d, err := dashboard.New(pool, nc, dashboard.Config{Stream: "auth-events", DLQ: "auth-events-dlq",
		Refresh: 500 * time.Millisecond, LagWarning: time.Hour}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkPanels checks panels 2 to 5 against the mix and the consumers'
// states (panel 1 is what the page was waited for).
func checkPanels(t *testing.T, s shown) {
	t.Helper()
	// Panel 2: a p95 of this run's publishes (created_at to PubAck: well
	// under the publish timeout) and a sparkline.
	latency := regexp.MustCompile(`^(\d+(\.\d)?) ms$`).FindStringSubmatch(s.Latency)
	if latency == nil || s.Lines == 0 {
		t.Errorf("latency panel shows %q with %d line(s), want a value in ms and a sparkline", s.Latency, s.Lines)
	}
	// Panel 3: the stream against its limits (relay.DefaultStream).
	if s.Stream[0] != "7 / 100,000" || !regexp.MustCompile(`^\d+(\.\d)? KB / 100 MB$`).MatchString(s.Stream[1]) ||
		!regexp.MustCompile(`^\d+(\.\d)? s ago$`).MatchString(s.Stream[2]) || s.Stream[3] != "2 (2 active)" ||
		s.Stream[4] != "1" || s.Stream[5] == "" {
		t.Errorf("stream panel shows %q, want 7 / 100,000 messages, KB / 100 MB, seconds ago, 2 (2 active) consumers, 1 replica, a leader", s.Stream)
	}
	// Panel 4: pending (undelivered + unacked), acked, lag, redelivered, DLQ.
	lag := regexp.MustCompile(`^\d+(\.\d)? s$|^\d+ ms$`)
	if c := s.Consumers["analytics"]; len(c) != 5 || c[0] != "2" || c[1] != "5" || !lag.MatchString(c[2]) || c[3] != "0" || c[4] != "0" {
		t.Errorf("analytics shows %q, want pending 2, acked 5, a lag, 0 redelivered, 0 dead letters", c)
	}
	if c := s.Consumers["email-service"]; len(c) != 5 || c[0] != "2" || c[1] != "1" || !lag.MatchString(c[2]) || c[3] != "1" || c[4] != "1 ⚠️" {
		t.Errorf("email-service shows %q, want pending 2, acked 1, a lag, 1 redelivered, 1 dead letter marked ⚠️", c)
	}
	// Panel 5: the parked row is the backlog; one dead, one relay.
	if o := s.Outbox; o[0] != "1" || !lag.MatchString(o[1]) || o[2] != "1 ⚠️" || o[3] != "1 ⚠️" || !isCount(o[4]) || o[5] != "1" {
		t.Errorf("outbox panel shows %q, want backlog 1, an age, 1 dead, 1 parked, a count of dead tuples, 1 relay replica", o)
	}
	if len(s.Down) != 0 {
		t.Errorf("down-states shown with every source up: %v", s.Down)
	}
}

// checkJetStreamDown: with NATS stopped at stopped, the page says since
// when JetStream is unreachable, shows no JetStream figures, and keeps
// the PostgreSQL panels.
func checkJetStreamDown(t *testing.T, s shown, stopped time.Time) {
	t.Helper()
	m := regexp.MustCompile(`^JetStream unreachable since (\d\d):(\d\d):(\d\d)$`).FindStringSubmatch(s.Down["jetstream"])
	if m == nil {
		t.Fatalf("down-state reads %q, want \"JetStream unreachable since HH:MM:SS\"", s.Down["jetstream"])
	}
	if since, _ := time.ParseInLocation("15:04:05", m[1]+":"+m[2]+":"+m[3], time.Local); !near(since, stopped) {
		t.Errorf("down since %s, NATS stopped at %s", s.Down["jetstream"], stopped.Format("15:04:05"))
	}
	for i, v := range s.Stream {
		if v != "–" && i < 5 {
			t.Errorf("stream panel still shows %q with NATS down, want –", s.Stream)
			break
		}
	}
	if len(s.Consumers) != 0 {
		t.Errorf("consumer panel still shows %v with NATS down", s.Consumers)
	}
	if s.Down["postgres"] != "" || !reflect.DeepEqual(s.Events, wantEvents) {
		t.Errorf("PostgreSQL panels changed when NATS stopped: down %q, events %v", s.Down["postgres"], s.Events)
	}
}

// isCount reports whether s is a number as the page formats counts (the
// outbox's dead tuples are PostgreSQL's estimate: any count will do).
func isCount(s string) bool { return regexp.MustCompile(`^[0-9][0-9,]*$`).MatchString(s) }
