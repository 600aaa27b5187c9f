// Command authload sends a realistic mix of auth requests to an authevents
// API at a target rate for a duration — registrations, logins (some with a
// wrong password), refresh chains, /auth/me, logout and logout-all, and
// now and then an address verification, a password reset, a password or
// address change — shows a live progress line and writes a JSON report
// with per-operation latencies (HDR histograms), the waits for the mailed
// links, and the ground truth: every event a 2xx answer promised.
//
//	authload -url http://127.0.0.1:8080 -rate 50 -duration 1m -report var/load/report.json
//
// Its virtual users read their mail in -mail-dir (the MAIL_DIR of the email
// service: ./var/mail under make run) and follow the links in it, so it
// works whether the API requires verified addresses (the default) or not.
// Point it at your own deployment; with rate limits on, expect 429s.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/internal/mailbox"
)

func main() {
	urls := flag.String("url", "http://127.0.0.1:8080", "API base URLs, comma-separated (round-robin; a refused connection goes to the next)")
	rate := flag.Float64("rate", 50, "requests per second")
	duration := flag.Duration("duration", time.Minute, "how long to send")
	actors := flag.Int("actors", 32, "concurrent virtual users")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the mix")
	report := flag.String("report", "var/load/report.json", "JSON report path")
	truth := flag.Bool("truth", true, "include every ground-truth event in the report")
	quiet := flag.Bool("quiet", false, "no progress line")
	mailDir := flag.String("mail-dir", "var/mail", "the email service's MAIL_DIR, where the virtual users read the links mailed to them")
	mailWait := flag.Duration("mail-wait", 15*time.Second, "how long a virtual user waits for a mail before it gives up and does something else")
	noLimits := flag.Bool("no-rate-limits", false, "the API runs with RATE_LIMIT_ENABLED=false: a 202 of a resend or a forgotten password promises its event")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := load.Config{URLs: strings.Split(*urls, ","), Rate: *rate, Duration: *duration, Actors: *actors, Seed: *seed,
		Mail: &mailbox.Dir{Path: *mailDir}, MailWait: *mailWait, NoRateLimits: *noLimits}
	if !*quiet {
		bar := progressbar.NewOptions64(int64(duration.Seconds()), progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetWidth(20), progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionThrottle(500*time.Millisecond))
		cfg.Progress = func(s load.Snapshot) {
			bar.Describe(fmt.Sprintf("%6d req  %5.1f/s  %4d errors  p99 %6.1f ms", s.Requests, s.Rate, s.Errors, float64(s.P99.Microseconds())/1000))
			bar.Set64(int64(s.Elapsed.Seconds()))
		}
		defer fmt.Fprintln(os.Stderr)
	}
	res, err := load.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authload:", err)
		os.Exit(2)
	}
	rep := res.Report(cfg, *truth)
	if err := load.WriteJSON(*report, rep); err != nil {
		fmt.Fprintln(os.Stderr, "authload:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "\n%d requests in %.1f s (%.1f/s), %d errors; report %s\n", rep.Requests, rep.DurationS, rep.Rate, rep.Errors, *report)
	fmt.Fprintf(os.Stderr, "%-19s %8s %7s %8s %8s %8s\n", "op", "requests", "errors", "p50 ms", "p99 ms", "max ms")
	for _, op := range load.SortedOps(rep.Ops) {
		o := rep.Ops[op]
		fmt.Fprintf(os.Stderr, "%-19s %8d %7d %8.1f %8.1f %8.1f\n", op, o.Requests, o.Errors, o.P50ms, o.P99ms, o.Maxms)
	}
	if len(rep.Mails) > 0 {
		fmt.Fprintf(os.Stderr, "\n%-19s %8s %7s %8s %8s %8s\n", "mail (wait)", "found", "gave up", "p50 ms", "p99 ms", "max ms")
		for _, kind := range slices.Sorted(maps.Keys(rep.Mails)) {
			m := rep.Mails[kind]
			fmt.Fprintf(os.Stderr, "%-19s %8d %7d %8.1f %8.1f %8.1f\n", kind, m.Found, m.GaveUp, m.P50ms, m.P99ms, m.Maxms)
		}
	}
	if rep.Errors > 0 {
		os.Exit(1)
	}
}
