package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchKeepUp asks whether one replica of each consumer service keeps up
// with one API node serving refreshes flat out: the API (with its relay)
// at -url is driven by -c clients rotating their refresh tokens for -d,
// while each consumer's authevents_consumer_lag_seconds (the age of its
// oldest unacknowledged event, from its ops port) is read every -every.
// It prints the refresh rate, each service's lag (median and maximum of
// the samples) and how long each took to drain once the load stopped.
// scripts/bench-keepup.sh starts the API, the relay and the consumers on
// a NATS server and a database of their own.
func benchKeepUp(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("keepup", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:18080", "base URL of the API (EMAIL_VERIFICATION=optional, rate limits off)")
	consumers := fs.String("consumers", "", "service=ops URL of each consumer, comma-separated (analytics=http://127.0.0.1:19201,…)")
	relayOps := fs.String("relay", "", "ops URL of the relay, for its outbox lag (optional)")
	c := fs.Int("c", 16, "concurrent refreshing clients")
	users := fs.Int("users", 1000, "users signed in, each with a session that the clients rotate in turn (one key of the relay's per-user order each)")
	d := fs.Duration("d", 60*time.Second, "how long the API serves refreshes flat out")
	every := fs.Duration("every", time.Second, "how often each lag is read")
	goal := fs.Duration("goal", 5*time.Second, "the lag each service must stay under")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets, err := parseTargets(*consumers)
	if err != nil {
		return err
	}
	if *relayOps != "" {
		targets = append(targets, target{"relay (outbox)", *relayOps, "authevents_outbox_oldest_unsent_age_seconds"})
	}
	header()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *c * 2}}
	a := apiClient{client, *url}
	type pair struct{ AccessToken, RefreshToken string }
	// Many users, as an API node serves: the relay keeps each user's
	// events in order, one in flight per user, so a handful of users
	// refreshing thousands of times a second would measure that order,
	// not the consumers.
	pairs := make([]pair, max(*users, *c))
	run0 := time.Now().UnixNano()
	// Client w owns sessions w, w+c, w+2c, …, and rotates them in turn.
	var regWG sync.WaitGroup
	regErrs := make([]error, *c)
	for w := range *c {
		regWG.Go(func() {
			for k := w; k < len(pairs) && regErrs[w] == nil; k += *c {
				email := fmt.Sprintf("keepup-%d-%d@example.com", run0, k)
				regErrs[w] = a.do(ctx, "POST", "/auth/register", "", map[string]string{"email": email, "password": benchPassword, "name": "Bench"}, http.StatusCreated, &pairs[k])
			}
		})
	}
	regWG.Wait()
	if err := errors.Join(regErrs...); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	// Each gauge is absent until its process has read its state once;
	// the registrations' events (and mails) are applied before the load.
	for _, tg := range targets {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			v, err := readGauge(ctx, client, tg)
			if err == nil && v == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not caught up with the registrations in 2 minutes (lag %v, %v)", tg.name, v, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Printf("keep-up: %d clients refreshing the sessions of %d users flat out for %s at %s; lag read every %s\n\n", *c, len(pairs), *d, *url, *every)

	samples := make([][]float64, len(targets))
	missing := make([]int, len(targets))
	sctx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			for i, tg := range targets {
				v, err := readGauge(sctx, client, tg)
				if sctx.Err() != nil {
					return
				}
				if err != nil {
					missing[i]++
					continue
				}
				samples[i] = append(samples[i], v)
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	})
	r := run(ctx, *c, *d, func(ctx context.Context, w, i int) error {
		k := w + (i%((len(pairs)-w+*c-1)/(*c)))*(*c) // client w's sessions: w, w+c, …
		var next pair
		if err := a.do(ctx, "POST", "/auth/refresh", "", map[string]string{"refreshToken": pairs[k].RefreshToken}, http.StatusOK, &next); err != nil {
			return err
		}
		pairs[k] = next
		return nil
	})
	stopSampling()
	wg.Wait()
	loadEnd := time.Now()
	// Drain: how long after the load each lag reads 0 again.
	drained := make([]time.Duration, len(targets))
	for i := range drained {
		drained[i] = -1
	}
	for left := len(targets); left > 0 && time.Since(loadEnd) < 5*time.Minute; {
		for i, tg := range targets {
			if drained[i] >= 0 {
				continue
			}
			if v, err := readGauge(ctx, client, tg); err == nil && v == 0 {
				drained[i] = time.Since(loadEnd)
				left--
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("POST /auth/refresh: %.0f/s (p50 %s, p99 %s, %d errors) for %s\n\n", r.rate(), ms(r.p50), ms(r.p99), r.errors, *d)
	fmt.Printf("%-16s %10s %10s %10s %8s %14s\n", "service", "lag p50", "lag max", "samples", "absent", "drained after")
	for i, tg := range targets {
		p50, mx := "-", "-"
		if s := samples[i]; len(s) > 0 {
			p50 = fmt.Sprintf("%.1f s", medianOf(s))
			mx = fmt.Sprintf("%.1f s", slices.Max(s))
		}
		dr := "not in 5 min"
		if drained[i] >= 0 {
			dr = fmt.Sprintf("%.1f s", drained[i].Seconds())
		}
		fmt.Printf("%-16s %10s %10s %10d %8d %14s\n", tg.name, p50, mx, len(samples[i]), missing[i], dr)
	}
	fmt.Println()
	for i, tg := range targets {
		if tg.metric != consumerLag {
			continue
		}
		verdict := "met"
		if len(samples[i]) == 0 || slices.Max(samples[i]) >= goal.Seconds() || missing[i] > 0 {
			verdict = "NOT met"
		}
		fmt.Printf("%s: lag under %s throughout: %s\n", tg.name, *goal, verdict)
	}
	return nil
}

const consumerLag = "authevents_consumer_lag_seconds"

// target is one process whose lag gauge is read.
type target struct{ name, url, metric string }

func parseTargets(s string) ([]target, error) {
	var ts []target
	for _, kv := range strings.Split(s, ",") {
		name, url, ok := strings.Cut(kv, "=")
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("-consumers: want service=URL, got %q", kv)
		}
		ts = append(ts, target{name, url, consumerLag})
	}
	return ts, nil
}

// readGauge reads tg's metric (the first series of that name; each
// process here exports one) from its /metrics page. A gauge that is
// absent is an error: it could not be computed.
func readGauge(ctx context.Context, client *http.Client, tg target) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", tg.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, tg.metric) || len(line) <= len(tg.metric) || (line[len(tg.metric)] != '{' && line[len(tg.metric)] != ' ') {
			continue
		}
		f := strings.Fields(line)
		return strconv.ParseFloat(f[len(f)-1], 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(tg.metric + " absent")
}
