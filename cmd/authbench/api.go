package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"time"

	"golang.org/x/crypto/argon2"
)

const benchPassword = "bench password that is long enough"

// apiClient sends the benchmark's requests to one running API.
type apiClient struct {
	http *http.Client
	base string
}

// do sends one request and checks its status; out, if not nil, receives
// the JSON answer.
func (a apiClient) do(ctx context.Context, method, path, bearer string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		io.Copy(io.Discard, res.Body)
		return fmt.Errorf("%s: status %d", path, res.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(res.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, res.Body)
	return err
}

func (a apiClient) post(ctx context.Context, path string, body any, want int) error {
	return a.do(ctx, "POST", path, "", body, want, nil)
}

// rawHash computes one argon2id hash of the benchmark's password.
func rawHash(mem, iter uint32, par uint8) {
	salt := make([]byte, 16)
	rand.Read(salt)
	argon2.IDKey([]byte(benchPassword), salt, iter, mem, par, 32)
}

// benchArgon2 is the raw argon2id rate alone, for rawAtNice: one goroutine
// per core for -d; it prints the hashes done and the time taken.
func benchArgon2(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("argon2", flag.ContinueOnError)
	mem := fs.Uint("m", 19456, "argon2id memory (KiB)")
	iter := fs.Uint("t", 2, "argon2id iterations")
	par := fs.Uint("p", 1, "argon2id parallelism")
	d := fs.Duration("d", 5*time.Second, "duration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := run(ctx, runtime.NumCPU(), *d, func(context.Context, int, int) error {
		rawHash(uint32(*mem), uint32(*iter), uint8(*par))
		return nil
	})
	fmt.Println(r.ops, int64(r.elapsed))
	return nil
}

func benchAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the running API (EMAIL_VERIFICATION=optional)")
	urlRequired := fs.String("url-required", "", "base URL of a second API on the same database with EMAIL_VERIFICATION=required (empty: no such phase)")
	mem := fs.Uint("m", 19456, "argon2id memory (KiB), as the API is configured")
	iter := fs.Uint("t", 2, "argon2id iterations, as the API is configured")
	par := fs.Uint("p", 1, "argon2id parallelism, as the API is configured")
	cfast := fs.Int("cr", 16, "concurrent clients for refresh and /auth/me")
	cfloor := fs.Int("cf", 32, "concurrent clients for the answers held to ENUMERATION_FLOOR (register when verification is required, forgot)")
	cforgot := fs.Int("cforgot", 64, "concurrent clients for forgot-password (held to ENUMERATION_FLOOR, no hash)")
	rawNice := fs.Int("raw-nice", 10, "also measure the raw argon2id rate in a process at this nice value, as HASH_WORKER_NICE (0: no)")
	fastOnly := fs.Bool("fast-only", false, "only the refresh and /auth/me phases")
	floodOnly := fs.Bool("flood-only", false, "only the login-flood phase")
	opsURL := fs.String("ops", "http://127.0.0.1:19090", "ops URL of the running API (/readyz)")
	flooders := fs.Int("flooders", 32, "concurrent clients sending failed logins in the flood phase")
	c, d, rounds := commonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	header()
	fmt.Printf("api: %s, concurrency %d (%d for floor-bound answers), %d rounds of %s, argon2id m=%d t=%d p=%d\n\n", *url, *c, *cfloor, *rounds, *d, *mem, *iter, *par)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: max(*c, *cfloor, *flooders) * 2}}
	a, b := apiClient{client, *url}, apiClient{client, *urlRequired}
	run0 := time.Now().UnixNano()
	var emails [][]string
	var hp hashPhases
	if *fastOnly || *floodOnly {
		for i := range *cfast {
			email := fmt.Sprintf("bench-%d-fast-%d@example.com", run0, i)
			if err := a.post(ctx, "/auth/register", map[string]string{"email": email, "password": benchPassword, "name": "Bench"}, http.StatusCreated); err != nil {
				return err
			}
			emails = append(emails, []string{email})
		}
	} else {
		var err error
		argon2Args := []string{"-m", fmt.Sprint(*mem), "-t", fmt.Sprint(*iter), "-p", fmt.Sprint(*par)}
		hp, emails, err = runHashPhases(ctx, a, b, *rounds, *c, *cfloor, *cforgot, *rawNice, argon2Args, *d, run0, func() {
			rawHash(uint32(*mem), uint32(*iter), uint8(*par))
		})
		if err != nil {
			return err
		}
	}

	// Refresh: each client owns one session and rotates it over and
	// over, as real clients do. Sessions come from one login each.
	type pair struct{ AccessToken, RefreshToken string }
	pairs := make([]pair, *cfast)
	for i := range pairs {
		set := emails[i%len(emails)]
		if err := a.do(ctx, "POST", "/auth/login", "", map[string]string{"email": set[i%len(set)], "password": benchPassword}, http.StatusOK, &pairs[i]); err != nil {
			return fmt.Errorf("login for refresh phase: %w", err)
		}
	}
	refreshOwn := func(ctx context.Context, w int) error {
		var next pair
		if err := a.do(ctx, "POST", "/auth/refresh", "", map[string]string{"refreshToken": pairs[w].RefreshToken}, http.StatusOK, &next); err != nil {
			return err
		}
		pairs[w] = next
		return nil
	}
	// A login flood against refresh and /readyz (run first when asked
	// alone): 4 refreshing clients, as in production most users are
	// signed in and few are logging in.
	floodPhaseRun := func() {
		failLogin := func(ctx context.Context) (int, error) {
			b, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("nobody-%d@example.com", time.Now().UnixNano()), "password": "wrong password, flood"})
			req, _ := http.NewRequestWithContext(ctx, "POST", *url+"/auth/login", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode, nil
		}
		c := min(4, len(pairs))
		base, flood := floodPhase(ctx, *d, *rounds, c, *flooders, *opsURL, refreshOwn, failLogin, client)
		printFlood(*d, c, *flooders, base, flood)
	}
	if *floodOnly {
		floodPhaseRun()
		return nil
	}
	var refRounds, meRounds []result
	for range *rounds {
		refRounds = append(refRounds, run(ctx, *cfast, *d, func(ctx context.Context, w, _ int) error {
			return refreshOwn(ctx, w)
		}))
		// GET /auth/me: verify, denylist check, one user lookup.
		meRounds = append(meRounds, run(ctx, *cfast, *d, func(ctx context.Context, w, _ int) error {
			return a.do(ctx, "GET", "/auth/me", pairs[w].AccessToken, nil, http.StatusOK, nil)
		}))
	}
	ref, me := median(refRounds), median(meRounds)

	if *fastOnly {
		for i := range refRounds {
			fmt.Printf("round %d: refresh %.1f/s p50 %s p99 %s, me %.1f/s\n", i+1, refRounds[i].rate(), ms(refRounds[i].p50), ms(refRounds[i].p99), meRounds[i].rate())
		}
		fmt.Printf("median: refresh %.1f/s (%.0f/s per core), me %.1f/s\n", ref.rate(), ref.rate()/float64(runtime.NumCPU()), me.rate())
		return nil
	}
	hp.print()
	printRow(fmt.Sprintf("POST /auth/refresh (c=%d)", *cfast), ref)
	printRow(fmt.Sprintf("GET /auth/me (c=%d)", *cfast), me)
	fmt.Println()
	hp.printRatios()
	fmt.Printf("refresh per core        = %.0f/s (goal >= 600/s per core: 5x Keycloak's 120/s per vCPU)\n", ref.rate()/float64(runtime.NumCPU()))
	for i := range refRounds {
		fmt.Printf("round %d: refresh %.1f/s, me %.1f/s\n", i+1, refRounds[i].rate(), meRounds[i].rate())
	}
	hp.printRounds()
	floodPhaseRun()
	return nil
}
