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
	c, d, rounds := commonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	header()
	fmt.Printf("api: %s, concurrency %d, %d rounds of %s, argon2id m=%d t=%d p=%d\n\n", *url, *c, *rounds, *d, *mem, *iter, *par)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *c * 2}}
	post := func(ctx context.Context, path string, body any, want int) error {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", *url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != want {
			return fmt.Errorf("%s: status %d", path, res.StatusCode)
		}
		return nil
	}

	// Each round measures the three phases back to back, so a ratio is
	// taken between figures measured under the same background load.
	run0 := time.Now().UnixNano()
	var hashRounds, regRounds, loginRounds []result
	var loginRatios, regRatios []float64
	var emails [][]string
	for r := range *rounds {
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
	hash, reg, login := median(hashRounds), median(regRounds), median(loginRounds)

	fmt.Printf("%-26s %10s %10s %10s %8s\n", "phase (median of rounds)", "ops/s", "p50", "p99", "errors")
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", "argon2id raw (all cores)", hash.rate(), ms(hash.p50), ms(hash.p99), 0)
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", "POST /auth/register", reg.rate(), ms(reg.p50), ms(reg.p99), reg.errors)
	fmt.Printf("%-26s %10.1f %10s %10s %8d\n", "POST /auth/login", login.rate(), ms(login.p50), ms(login.p99), login.errors)
	fmt.Printf("\nlogin / raw hash    = %.1f %% (median of per-round ratios; goal >= 90 %%)\n", 100*medianOf(loginRatios))
	fmt.Printf("register / raw hash = %.1f %%\n", 100*medianOf(regRatios))
	for i := range loginRounds {
		fmt.Printf("round %d: hash %.1f/s, register %.1f/s, login %.1f/s, login/hash %.1f %%\n", i+1,
			hashRounds[i].rate(), regRounds[i].rate(), loginRounds[i].rate(), 100*loginRatios[i])
	}
	return nil
}
