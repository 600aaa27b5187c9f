package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/dashboard"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// chromium returns the browser, which scripts/test-deps.sh (make test's
// set-up) installs from Debian when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "chromium (scripts/test-deps.sh installs it)", exec.ErrNotFound)
	return ""
}

// browser starts headless Chromium with the flags that work in this
// sandbox (no GPU, no sandbox as root, no background network calls).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// insert appends one event row in its own transaction.
func insert(t *testing.T, pool *pgxpool.Pool, subject, key string) {
	t.Helper()
	err := postgres.WithTx(context.Background(), pool, func(tx pgx.Tx) error {
		return outbox.Append(context.Background(), tx, outbox.Message{ID: uuid.Must(uuid.NewV7()), Subject: subject,
			Payload: []byte(`{"specversion":"1.0"}`), OrderingKey: key})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// shown is what the page displays, read from the DOM as a person reads it.
type shown struct {
	Events    map[string][]string `json:"events"`    // type -> count, published, failed, pending
	Consumers map[string][]string `json:"consumers"` // name -> pending, acked, lag, redelivered, dlq
	Latency   string              `json:"latency"`
	Lines     int                 `json:"lines"`
	Stream    []string            `json:"stream"` // messages, size, oldest, consumers, replicas, leader
	Outbox    []string            `json:"outbox"` // backlog, oldest, dead, parked, relays
	Down      map[string]string   `json:"down"`   // source -> message, when shown
	Overflow  bool                `json:"overflow"`
}

const readPage = `(() => {
  const txt = (el) => el.textContent.trim();
  const rows = (sel, key) => Object.fromEntries([...document.querySelectorAll(sel + " tbody tr")]
    .map((tr) => [tr.dataset[key], [...tr.querySelectorAll("td[data-col]")].map(txt)]));
  const down = {};
  for (const el of document.querySelectorAll(".down")) if (!el.hidden) down[el.dataset.source] = txt(el);
  return {
    events: rows("#events", "type"),
    consumers: rows("#consumers", "consumer"),
    latency: txt(document.getElementById("latency-current")),
    lines: document.querySelectorAll("#sparkline polyline, #sparkline circle").length,
    stream: ["messages", "bytes", "oldest", "consumers", "replicas", "leader"].map((k) => txt(document.getElementById("stream-" + k))),
    outbox: ["backlog", "oldest", "dead", "parked", "relays"].map((k) => txt(document.getElementById("outbox-" + k))),
    down,
    overflow: document.documentElement.scrollWidth > window.innerWidth,
  };
})()`

func read(t *testing.T, ctx context.Context) shown {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[shown](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return s
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
	bg := context.Background()
	_, dbURL := pgtest.NewWithURL(t)
	// The relay's own pool carries its application_name, as cmd/relay's
	// does: the outbox panel counts relay replicas by it.
	relayPool, err := postgres.Open(bg, dbURL, 4, postgres.Session{AppName: "authevents-relay"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relayPool.Close)
	srv := natstest.Start(t)

	cfg := relay.DefaultConfig()
	cfg.BatchSize, cfg.MinPollInterval, cfg.PollInterval = 50, 5*time.Millisecond, 50*time.Millisecond
	cfg.MaxAttempts, cfg.RetryBackoff, cfg.MaxRetryBackoff = 2, 10*time.Millisecond, 20*time.Millisecond
	cfg.Stream = relay.DefaultStream()
	rnc := natstest.Connect(t, srv.URL(), nats.MaxReconnects(-1))
	r, err := relay.New(relayPool, rnc, cfg, prometheus.NewRegistry(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(bg)
	relayDone := make(chan struct{})
	go func() { r.Run(rctx); close(relayDone) }()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	// The mix: 7 events published; one on a subject the stream does not
	// bind (refused twice, then dead), and one event of the same user
	// behind it (parked: per-user order).
	mix := map[string]int{"user.registered": 3, "user.logged_in": 2, "user.login_failed": 1, "user.token_refreshed": 1}
	for typ, n := range mix {
		for i := range n {
			insert(t, relayPool, "auth."+typ, fmt.Sprintf("%s-%d", typ, i))
		}
	}
	insert(t, relayPool, "auth.admin.note", "poisoned-user")
	insert(t, relayPool, "auth.user.logged_out", "poisoned-user")
	testenv.WaitFor(t, "7 published, 1 dead, 1 parked", 20*time.Second, func() bool {
		s, err := outbox.ReadStats(bg, relayPool)
		return err == nil && s.Backlog == 1 && s.Dead == 1 && s.Parked == 1
	})

	// Consumers in known states.
	nc := natstest.Connect(t, srv.URL())
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(bg, "auth-events")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "7 messages in the stream", 10*time.Second, func() bool {
		si, err := stream.Info(bg)
		return err == nil && si.State.Msgs == 7
	})
	consumer := func(name, filter string) jetstream.Consumer {
		c, err := stream.CreateOrUpdateConsumer(bg, jetstream.ConsumerConfig{Durable: name, FilterSubject: filter,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	fetch := func(c jetstream.Consumer, n int) []jetstream.Msg {
		b, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var out []jetstream.Msg
		for m := range b.Messages() {
			out = append(out, m)
		}
		if len(out) != n {
			t.Fatalf("fetched %d messages, want %d", len(out), n)
		}
		return out
	}
	// analytics: all 7 delivered, 5 acknowledged, 2 held.
	for _, m := range fetch(consumer("analytics", "auth.user.*"), 7)[:5] {
		if err := m.DoubleAck(bg); err != nil {
			t.Fatal(err)
		}
	}
	// email-service (3 registrations): 1 acknowledged, 1 refused once and
	// redelivered, 1 held; one dead letter.
	email := consumer("email-service", "auth.user.registered")
	got := fetch(email, 3)
	if err := got[0].DoubleAck(bg); err != nil {
		t.Fatal(err)
	}
	if err := got[1].Nak(); err != nil {
		t.Fatal(err)
	}
	if again := fetch(email, 1); again[0].Headers().Get(jetstream.MsgIDHeader) != got[1].Headers().Get(jetstream.MsgIDHeader) {
		t.Fatal("the refused message was not the one redelivered")
	}
	if _, err := js.CreateStream(bg, jetstream.StreamConfig{Name: "auth-events-dlq", Subjects: []string{"auth-events-dlq.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(bg, "auth-events-dlq.email-service", []byte("{}")); err != nil {
		t.Fatal(err)
	}

	// The dashboard, with its own connections, as cmd/dashboard opens them.
	dnc := natstest.Connect(t, srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	dpool, err := postgres.Open(bg, dbURL, 4, postgres.Session{AppName: "authevents-dashboard"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dpool.Close)
	d, err := dashboard.New(dpool, dnc, dashboard.Config{Stream: "auth-events", DLQ: "auth-events-dlq",
		Refresh: 500 * time.Millisecond, LagWarning: time.Hour}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(d.Handler())
	t.Cleanup(web.Close)

	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL)); err != nil {
		t.Fatal(err)
	}
	wantEvents := map[string][]string{
		"user.registered":           {"3", "3", "0", "0"},
		"user.logged_in":            {"2", "2", "0", "0"},
		"user.login_failed":         {"1", "1", "0", "0"},
		"user.token_refreshed":      {"1", "1", "0", "0"},
		"user.logged_out":           {"1", "0", "0", "1"},             // parked behind the dead row
		"user.token_reuse_detected": {"0", "0", "0", "0"},             // every type has a row
		"admin.note":                {"1", "0", "2 (1 dead) ⚠️", "0"}, // refused twice, then dead
	}
	var s shown
	deadline := time.Now().Add(15 * time.Second)
	for {
		s = read(t, ctx)
		if reflect.DeepEqual(s.Events, wantEvents) && len(s.Consumers) == 2 && s.Outbox[0] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event panel shows %v, want %v (consumers %v, outbox %v)", s.Events, wantEvents, s.Consumers, s.Outbox)
		}
		time.Sleep(100 * time.Millisecond)
	}

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
	if o := s.Outbox; o[0] != "1" || !lag.MatchString(o[1]) || o[2] != "1 ⚠️" || o[3] != "1 ⚠️" || o[4] != "1" {
		t.Errorf("outbox panel shows %q, want backlog 1, an age, 1 dead, 1 parked, 1 relay replica", o)
	}
	if len(s.Down) != 0 {
		t.Errorf("down-states shown with every source up: %v", s.Down)
	}
	// The JSON behind it says the same.
	ov := d.Overview(bg)
	if ov.Latency.P95Ms == nil || msText(*ov.Latency.P95Ms) != s.Latency {
		t.Errorf("page shows p95 %q, /api/overview %v", s.Latency, *ov.Latency.P95Ms)
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
	deadline = time.Now().Add(15 * time.Second)
	for s = read(t, ctx); s.Down["jetstream"] == ""; s = read(t, ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("no down-state 15 s after NATS stopped: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
	screenshot(t, ctx, "dashboard-jetstream-down.png")
}

// msText formats milliseconds as the page does.
func msText(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", math.Round(v)) // as JavaScript's Math.round, not fmt's half-to-even
}

// near: a clock time (today, local) within 10 s of when.
func near(clock, when time.Time) bool {
	c := time.Date(when.Year(), when.Month(), when.Day(), clock.Hour(), clock.Minute(), clock.Second(), 0, time.Local)
	d := c.Sub(when.Truncate(time.Second))
	return d > -2*time.Second && d < 10*time.Second
}

// screenshot saves the page to the test's temporary directory, or under
// DASHBOARD_SCREENSHOT_DIR (the README's docs/ images are made so).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("DASHBOARD_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := dir + "/" + name
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
