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

func benchAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the running API")
	mem := fs.Uint("m", 19456, "argon2id memory (KiB), as the API is configured")
	iter := fs.Uint("t", 2, "argon2id iterations, as the API is configured")
	par := fs.Uint("p", 1, "argon2id parallelism, as the API is configured")
	cfast := fs.Int("cr", 16, "concurrent clients for refresh and /auth/me")
	fastOnly := fs.Bool("fast-only", false, "only the refresh and /auth/me phases")
	floodOnly := fs.Bool("flood-only", false, "only the login-flood phase")
	opsURL := fs.String("ops", "http://127.0.0.1:19090", "ops URL of the running API (/readyz)")
	flooders := fs.Int("flooders", 32, "concurrent clients sending failed logins in the flood phase")
	c, d, rounds := commonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	header()
	fmt.Printf("api: %s, concurrency %d, %d rounds of %s, argon2id m=%d t=%d p=%d\n\n", *url, *c, *rounds, *d, *mem, *iter, *par)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *c * 2}}
	do := func(ctx context.Context, method, path, bearer string, body any, want int, out any) error {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, *url+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := client.Do(req)
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
	post := func(ctx context.Context, path string, body any, want int) error {
		return do(ctx, "POST", path, "", body, want, nil)
	}

	// Each round measures the three phases back to back, so a ratio is
	// taken between figures measured under the same background load.
	run0 := time.Now().UnixNano()
	var hashRounds, regRounds, loginRounds []result
	var loginRatios, regRatios []float64
	var emails [][]string
	hashPhases := *rounds
	if *fastOnly || *floodOnly {
		hashPhases = 0
		for i := range *cfast {
			email := fmt.Sprintf("bench-%d-fast-%d@example.com", run0, i)
			if err := post(ctx, "/auth/register", map[string]string{"email": email, "password": benchPassword, "name": "Bench"}, http.StatusCreated); err != nil {
				return err
			}
			emails = append(emails, []string{email})
		}
	}
	for r := range hashPhases {
		// 1. The physical limit: argon2id on every core, nothing else.
		hash := run(ctx, runtime.NumCPU(), *d, func(context.Context, int, int) error {
			salt := make([]byte, 16)
			rand.Read(salt)
			argon2.IDKey([]byte(benchPassword), salt, uint32(*iter), uint32(*mem), uint8(*par), 32)
			return nil
		})
		// 2. Register: a fresh address per request.
		per := make([][]string, *c)
		reg := run(ctx, *c, *d, func(ctx context.Context, w, i int) error {
			email := fmt.Sprintf("bench-%d-%d-%d-%d@example.com", run0, r, w, i)
			err := post(ctx, "/auth/register", map[string]string{"email": email, "password": benchPassword, "name": "Bench"}, http.StatusCreated)
			if err == nil {
				per[w] = append(per[w], email)
			}
			return err
		})
		for _, p := range per {
			if len(p) > 0 {
				emails = append(emails, p)
			}
		}
		if len(emails) == 0 {
			return fmt.Errorf("no registration succeeded (is the API at %s up?)", *url)
		}
		// 3. Login with the accounts made so far.
		login := run(ctx, *c, *d, func(ctx context.Context, w, i int) error {
			set := emails[(w+i)%len(emails)]
			return post(ctx, "/auth/login", map[string]string{"email": set[i%len(set)], "password": benchPassword}, http.StatusOK)
		})
		hashRounds, regRounds, loginRounds = append(hashRounds, hash), append(regRounds, reg), append(loginRounds, login)
		loginRatios = append(loginRatios, login.rate()/hash.rate())
		regRatios = append(regRatios, reg.rate()/hash.rate())
	}
	var hash, reg, login result
	if hashPhases > 0 {
		hash, reg, login = median(hashRounds), median(regRounds), median(loginRounds)
	}

	// 4. Refresh: each client owns one session and rotates it over and
	// over, as real clients do. Sessions come from one login each.
	type pair struct{ AccessToken, RefreshToken string }
	pairs := make([]pair, *cfast)
	for i := range pairs {
		set := emails[i%len(emails)]
		if err := do(ctx, "POST", "/auth/login", "", map[string]string{"email": set[i%len(set)], "password": benchPassword}, http.StatusOK, &pairs[i]); err != nil {
			return fmt.Errorf("login for refresh phase: %w", err)
		}
	}
	refreshOwn := func(ctx context.Context, w int) error {
		var next pair
		if err := do(ctx, "POST", "/auth/refresh", "", map[string]string{"refreshToken": pairs[w].RefreshToken}, http.StatusOK, &next); err != nil {
			return err
		}
		pairs[w] = next
		return nil
	}
	// 6. (run first when asked alone) A login flood against refresh and
	// /readyz: 4 refreshing clients, as in production most users are
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
		// 5. GET /auth/me: verify, denylist check, one user lookup.
		meRounds = append(meRounds, run(ctx, *cfast, *d, func(ctx context.Context, w, _ int) error {
			return do(ctx, "GET", "/auth/me", pairs[w].AccessToken, nil, http.StatusOK, nil)
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
	fmt.Printf("%-26s %10s %10s %10s %8s\n", "phase (median of rounds)", "ops/s", "p50", "p99", "errors")
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", "argon2id raw (all cores)", hash.rate(), ms(hash.p50), ms(hash.p99), 0)
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", "POST /auth/register", reg.rate(), ms(reg.p50), ms(reg.p99), reg.errors)
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", "POST /auth/login", login.rate(), ms(login.p50), ms(login.p99), login.errors)
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", fmt.Sprintf("POST /auth/refresh (c=%d)", *cfast), ref.rate(), ms(ref.p50), ms(ref.p99), ref.errors)
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", fmt.Sprintf("GET /auth/me (c=%d)", *cfast), me.rate(), ms(me.p50), ms(me.p99), me.errors)
	fmt.Printf("\nlogin / raw hash    = %.1f %% (median of per-round ratios; goal >= 90 %%)\n", 100*medianOf(loginRatios))
	fmt.Printf("register / raw hash = %.1f %%\n", 100*medianOf(regRatios))
	fmt.Printf("refresh per core        = %.0f/s (goal >= 600/s per core: 5x Keycloak's 120/s per vCPU)\n", ref.rate()/float64(runtime.NumCPU()))
	for i := range refRounds {
		fmt.Printf("round %d: refresh %.1f/s, me %.1f/s\n", i+1, refRounds[i].rate(), meRounds[i].rate())
	}
	for i := range loginRounds {
		fmt.Printf("round %d: hash %.1f/s, register %.1f/s, login %.1f/s, login/hash %.1f %%\n", i+1,
			hashRounds[i].rate(), regRounds[i].rate(), loginRounds[i].rate(), 100*loginRatios[i])
	}
	floodPhaseRun()
	return nil
}
