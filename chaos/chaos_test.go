package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/chaos"
	"github.com/authevents/authevents/chaos/load"
)

// TestChaos runs the system on a 3-node JetStream cluster under steady load
// while the seeded schedule kills, crashes and partitions its parts, then
// judges the run against the load's ground truth (see package doc and
// docs/reliability.md). Reproduce a run with CHAOS_SEED=<seed>.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos suite runs a minute")
	}
	p := profile(t)
	plan := schedule(t, p)
	s := startSystem(t, p)

	start := time.Now()
	lcfg := load.Config{URLs: s.apiURLs, Rate: p.Rate, Duration: p.Duration, Seed: p.Seed, Actors: 32,
		Mail: s.sink.Mailbox(), NoRateLimits: true}
	if os.Getenv("CHAOS_PROGRESS") != "" {
		lcfg.Progress = func(sn load.Snapshot) {
			fmt.Fprintf(os.Stderr, "\r%5.0fs %7d req %5.1f/s %5d errors p99 %6.1f ms ", sn.Elapsed.Seconds(), sn.Requests, sn.Rate, sn.Errors, float64(sn.P99.Microseconds())/1000)
		}
	}
	var res *load.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		res, err = load.Run(context.Background(), lcfg)
		if err != nil {
			t.Error(err)
		}
	}()
	applied := s.run(start, plan)
	<-done
	if res == nil {
		t.FailNow()
	}
	ev, boots := s.evidence(p, start, applied, res)
	v := chaos.Judge(ev)

	var table strings.Builder
	v.Print(&table)
	t.Logf("verdict (seed %d):\n%s", p.Seed, table.String())
	for _, b := range boots {
		t.Logf("start-up exit, restarted by the supervisor: %s", b)
	}
	for _, x := range ev.Exits {
		t.Logf("unprompted death: %s", x)
	}
	report := map[string]any{"profile": p, "seed": p.Seed, "schedule": plan, "applied": appliedJSON(start, applied),
		"verdict": v, "load": res.Report(lcfg, false), "startupExits": boots, "logs": s.logs}
	writeReport(t, report, s.logs, start, res.Samples)
	if !v.OK {
		t.Errorf("chaos verdict violated (seed %d); reproduce with CHAOS_SEED=%d", p.Seed, p.Seed)
	}
}

// profile reads CHAOS_PROFILE (short|full), CHAOS_DURATION (full only),
// CHAOS_SEED (without it one is drawn and printed),
// CHAOS_EMAIL_VERIFICATION (required|optional; by default the seed's
// parity picks one, so that runs cover both modes and a seed reproduces
// its own) and CHAOS_EVENTS_V1 (true: both versions of the events, the
// dual period; false: version 2 alone; by default the seed's second bit
// picks one). Every process holds a PERSONAL_DATA_KEY of the run.
func profile(t *testing.T) chaos.Profile {
	p := schedProfile(t)
	p.EmailVerification = [2]string{"required", "optional"}[p.Seed%2]
	if m := os.Getenv("CHAOS_EMAIL_VERIFICATION"); m != "" {
		if m != "required" && m != "optional" {
			t.Fatalf("CHAOS_EMAIL_VERIFICATION must be required or optional: %q", m)
		}
		p.EmailVerification = m
	}
	p.Events = [2]chaos.Events{chaos.EventsDual, chaos.EventsV2}[p.Seed>>1%2]
	if m := os.Getenv("CHAOS_EVENTS_V1"); m != "" {
		v1, err := strconv.ParseBool(m)
		if err != nil {
			t.Fatalf("CHAOS_EVENTS_V1 must be true or false: %q", m)
		}
		p.Events = map[bool]chaos.Events{true: chaos.EventsDual, false: chaos.EventsV2}[v1]
	}
	return p
}

func schedProfile(t *testing.T) chaos.Profile {
	seed := rand.Uint64() % 1_000_000
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
		seed = v
	}
	if os.Getenv("CHAOS_PROFILE") == "full" {
		d := 5 * time.Minute
		if s := os.Getenv("CHAOS_DURATION"); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v < 2*time.Minute {
				t.Fatalf("CHAOS_DURATION must be a duration of at least 2m: %q", s)
			}
			d = v
		}
		return withNice(t, chaos.Full(seed, d))
	}
	return withNice(t, chaos.Short(seed))
}

// withNice applies CHAOS_NICE, the niceness of the NATS nodes, relays and
// consumers (default 10; 0 runs everything at one priority).
func withNice(t *testing.T, p chaos.Profile) chaos.Profile {
	p.Nice = 10
	if s := os.Getenv("CHAOS_NICE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 19 {
			t.Fatalf("CHAOS_NICE must be 0..19: %q", s)
		}
		p.Nice = v
	}
	return p
}

// schedule is p's plan, logged; CHAOS_ONLY=<kind> keeps one kind of fault
// alone, at its scheduled times, to study it.
func schedule(t *testing.T, p chaos.Profile) []chaos.Fault {
	plan := chaos.Plan(p)
	if only := os.Getenv("CHAOS_ONLY"); only != "" {
		var kept []chaos.Fault
		for _, f := range plan {
			if string(f.Kind) == only {
				kept = append(kept, f)
			}
		}
		plan = kept
	}
	t.Logf("chaos profile %s, seed %d (CHAOS_SEED=%d reproduces the schedule), %s of load at %.0f req/s, EMAIL_VERIFICATION=%s, events %s (EVENTS_V1=%t); schedule:",
		p.Name, p.Seed, p.Seed, p.Duration, p.Rate, p.EmailVerification, p.Events, p.Events == chaos.EventsDual)
	for _, f := range plan {
		t.Log("  " + f.String())
	}
	return plan
}

// writeReport writes the report to CHAOS_REPORT (else the test's
// temporary directory), and the samples as samples.jsonl beside the
// process logs.
func writeReport(t *testing.T, report map[string]any, logs string, start time.Time, samples []load.Sample) {
	path := os.Getenv("CHAOS_REPORT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "report.json")
	}
	if err := load.WriteJSON(path, report); err != nil {
		t.Error(err)
	}
	if f, err := os.Create(filepath.Join(logs, "samples.jsonl")); err == nil {
		enc := json.NewEncoder(f)
		for _, sm := range samples {
			enc.Encode(map[string]any{"at": sm.At.Sub(start).Seconds(), "op": sm.Op, "status": sm.Status, "ms": float64(sm.Latency.Microseconds()) / 1000})
		}
		f.Close()
	}
	t.Logf("report: %s; process logs and samples.jsonl: %s", path, logs)
}
