package dashboard_test

// Driving headless Chromium and reading the page as a person reads it.

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authevents/authevents/internal/browsertest"
	"github.com/authevents/authevents/internal/testenv"
)

// browser starts headless Chromium (internal/browsertest).
func browser(t *testing.T) context.Context { return browsertest.Start(t) }

// shown is what the page displays, read from the DOM as a person reads it.
type shown struct {
	Events    map[string][]string `json:"events"`    // type -> count, published, failed, pending
	Consumers map[string][]string `json:"consumers"` // name -> pending, acked, lag, redelivered, dlq
	Latency   string              `json:"latency"`
	Lines     int                 `json:"lines"`
	Stream    []string            `json:"stream"` // messages, size, oldest, consumers, replicas, leader
	Outbox    []string            `json:"outbox"` // backlog, oldest, dead, parked, dead tuples, relays
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
    outbox: ["backlog", "oldest", "dead", "parked", "tuples", "relays"].map((k) => txt(document.getElementById("outbox-" + k))),
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

// waitShown reads the page until ok holds, and returns what it showed;
// if it times out, the failure says what the page showed last.
func waitShown(t *testing.T, ctx context.Context, what string, within time.Duration, ok func(shown) bool) shown {
	t.Helper()
	var s shown
	waited := false
	defer func() {
		if !waited {
			t.Logf("the page showed %+v", s)
		}
	}()
	testenv.WaitFor(t, what, within, func() bool { s = read(t, ctx); return ok(s) })
	waited = true
	return s
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
