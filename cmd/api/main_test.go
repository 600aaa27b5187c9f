package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

func baseEnv(t *testing.T, dbURL string) map[string]string {
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := token.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	pub, _ := token.GenerateSealKey() // EMAIL_VERIFICATION=required, the default, mails links
	return map[string]string{
		"DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "OPS_ADDR": "127.0.0.1:0",
		"JWT_PRIVATE_KEY_FILE": key, "ARGON2_MEMORY_KIB": "256", "ARGON2_ITERATIONS": "1",
		"MAIL_SEAL_PUBLIC_KEY": pub,
	}
}

func TestRefusesToStart(t *testing.T) {
	t.Parallel()
	_, migrated := pgtest.NewWithURL(t)
	empty := pgtest.NewDatabase(t)
	badKey := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(badKey, []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"), 0o600)
	rsaish := filepath.Join(t.TempDir(), "pub.pem")
	os.WriteFile(rsaish, []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  func(map[string]string)
		want string
	}{
		{"schema not migrated", func(e map[string]string) { e["DATABASE_URL"] = empty }, "not migrated"},
		{"key file missing", func(e map[string]string) { e["JWT_PRIVATE_KEY_FILE"] = "/nonexistent/key.pem" }, "does not exist"},
		{"key file invalid", func(e map[string]string) { e["JWT_PRIVATE_KEY_FILE"] = badKey }, "JWT_PRIVATE_KEY_FILE"},
		{"public key as signing key", func(e map[string]string) { e["JWT_PRIVATE_KEY_FILE"] = rsaish }, "JWT_PRIVATE_KEY_FILE"},
		{"production without key", func(e map[string]string) { e["APP_ENV"] = "production"; delete(e, "JWT_PRIVATE_KEY_FILE") }, "required when APP_ENV=production"},
		{"unknown environment", func(e map[string]string) { e["APP_ENV"] = "staging" }, "APP_ENV"},
		{"absurd argon2 memory", func(e map[string]string) { e["ARGON2_MEMORY_KIB"] = "2000000" }, "ARGON2"},
		{"bad duration", func(e map[string]string) { e["ACCESS_TOKEN_TTL"] = "soon" }, "ACCESS_TOKEN_TTL"},
		{"prune interval too short", func(e map[string]string) { e["SESSION_PRUNE_INTERVAL"] = "1ms" }, "SESSION_PRUNE_INTERVAL"},
		{"zero request timeout", func(e map[string]string) { e["REQUEST_TIMEOUT"] = "0s" }, "REQUEST_TIMEOUT"},
		{"negative hash queue", func(e map[string]string) { e["HASH_QUEUE_DEPTH"] = "-1" }, "HASH_QUEUE_DEPTH"},
		{"IPv6 prefix out of range", func(e map[string]string) { e["RATE_LIMIT_IPV6_PREFIX"] = "129" }, "RATE_LIMIT_IPV6_PREFIX"},
		// Verification is required by default: without the email
		// service's key no link could be mailed, and nobody could sign in.
		{"default verification without a seal key", func(e map[string]string) { delete(e, "MAIL_SEAL_PUBLIC_KEY") }, "EMAIL_VERIFICATION=required needs MAIL_SEAL_PUBLIC_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv(t, migrated)
			tc.env(env)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, nil, env, &testenv.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("reason spans several lines: %q", err)
			}
		})
	}
}

var urlRE = regexp.MustCompile(`"url":"(http://[^"]+)","ops_url":"(http://[^"]+)"`)

// start runs the api in-process and returns its URLs and a stop function
// that cancels it and returns run's error.
func start(t *testing.T, env map[string]string) (apiURL, opsURL string, logs *testenv.Buffer, stop func() error) {
	t.Helper()
	logs = &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlRE.FindStringSubmatch(logs.String()); m != nil {
			return m[1], m[2], logs, func() error { cancel(); return <-done }
		}
		select {
		case err := <-done:
			t.Fatalf("api exited during start: %v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("api did not start:\n%s", logs.String())
	return
}

// apiHTTP is a client whose every exchange with the API is checked
// against api/openapi.yaml (the ops endpoints are not part of it).
func apiHTTP(t *testing.T) *http.Client {
	return &http.Client{Transport: openapitest.Transport(t, nil)}
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	return getWith(t, http.DefaultClient, url)
}

func getWith(t *testing.T, c *http.Client, url string) (int, map[string]any) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

func TestServesAndShutsDownCleanly(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	// A session that ended 31 days ago: the API's retention prunes it.
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		WITH u AS (INSERT INTO users (id, email, name, password_hash) VALUES (gen_random_uuid(), 'old@example.com', 'O', 'x') RETURNING id)
		INSERT INTO sessions (id, user_id, expires_at, refresh_jti, refresh_issued_at, refresh_expires_at)
		SELECT gen_random_uuid(), id, now() - interval '31 days', gen_random_uuid(), now(), now() FROM u`); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t, dbURL)
	env["DATABASE_URL"] = dbURL + "&password=hunter2-secret"
	apiURL, opsURL, logs, stop := start(t, env)
	if code, _ := get(t, opsURL+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	code, body := get(t, opsURL+"/readyz")
	if code != 200 || body["status"] != "ok" {
		t.Errorf("/readyz = %d %v", code, body)
	}
	if code, _ := getWith(t, apiHTTP(t), apiURL+"/.well-known/jwks.json"); code != 200 {
		t.Errorf("jwks = %d", code)
	}
	res, err := http.Get(opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/metrics = %d", res.StatusCode)
	}
	if !strings.Contains(metricsText(t, opsURL), "authevents_password_hash_queued 0") {
		t.Error("authevents_password_hash_queued missing from /metrics")
	}
	testenv.WaitFor(t, "retention to prune the old session", 10*time.Second, func() bool {
		return strings.Contains(metricsText(t, opsURL), "authevents_api_pruned_sessions_total 1")
	})
	var left int
	pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&left)
	if left != 0 {
		t.Errorf("%d sessions left after retention, want 0", left)
	}
	if err := stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	if _, err := http.Get(apiURL + "/.well-known/jwks.json"); err == nil {
		t.Error("api still serving after shutdown")
	}
	if strings.Contains(logs.String(), "hunter2-secret") {
		t.Error("database password logged")
	}
	if !strings.Contains(logs.String(), `"msg":"api stopped"`) {
		t.Errorf("no clean stop logged:\n%s", logs.String())
	}
}

func TestReadyzFailsWithoutRedis(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.NewWithURL(t)
	env := baseEnv(t, dbURL)
	env["REDIS_URL"] = "redis://127.0.0.1:1/0" // nothing listens on port 1
	_, opsURL, _, stop := start(t, env)
	defer stop()
	code, body := get(t, opsURL+"/readyz")
	checks, _ := body["checks"].(map[string]any)
	if code != http.StatusServiceUnavailable || checks["postgres"] != "ok" || checks["redis"] == "ok" {
		t.Fatalf("/readyz = %d %v, want 503 naming redis", code, body)
	}
}

// TestReadyzRefusesAnEvictingRedis: a Redis that may evict denylist
// entries (any maxmemory-policy but noeviction) makes the api unready.
func TestReadyzRefusesAnEvictingRedis(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.NewWithURL(t)
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.ConfigSet(context.Background(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(t, dbURL)
	env["REDIS_URL"] = srv.URL()
	_, opsURL, _, stop := start(t, env)
	defer stop()
	code, body := get(t, opsURL+"/readyz")
	checks, _ := body["checks"].(map[string]any)
	if redisCheck, _ := checks["redis"].(string); code != http.StatusServiceUnavailable || !strings.Contains(redisCheck, "allkeys-lru") {
		t.Fatalf("/readyz = %d %v, want 503 naming the eviction policy", code, body)
	}
}

// TestShutdownLetsInFlightRequestsFinish cancels the api while a register
// request (an expensive argon2id hash) is in flight: the request must
// complete with 202 (verification is required by default) and its user
// and events (registered, verification requested) must be committed.
func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	env := baseEnv(t, dbURL)
	env["ARGON2_MEMORY_KIB"], env["ARGON2_ITERATIONS"] = "65536", "4" // ~0.3 s per hash
	env["RATE_LIMIT_ENABLED"] = "false"
	apiURL, opsURL, logs, stop := start(t, env)
	if !strings.Contains(logs.String(), "RATE_LIMIT_ENABLED=false") {
		t.Error("no warning logged with rate limiting switched off")
	}

	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", apiURL+"/auth/register",
			strings.NewReader(`{"email":"inflight@example.com","password":"a long enough password","name":"In Flight"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := apiHTTP(t).Do(req)
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			done <- nil
			return
		}
		done <- res
	}()
	// Stop only once the server is handling the request (a request still
	// in the listen backlog is not in flight: closing the listener resets it).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsText(t, opsURL), "authevents_http_requests_in_flight 1") {
		if time.Now().After(deadline) {
			t.Fatal("the request never became in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	res := <-done
	if res == nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight request = %v, want 202\n%s", res, logs.String())
	}
	res.Body.Close()
	var users, events int
	pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM outbox)`).Scan(&users, &events)
	if users != 1 || events != 2 {
		t.Fatalf("after shutdown: %d users, %d events; want 1 and 2", users, events)
	}
}

func metricsText(t *testing.T, opsURL string) string {
	t.Helper()
	res, err := http.Get(opsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestProcessorsLeaveRoomBesideHashing: with HASH_PRIORITY=low the API
// keeps as many Go processors as cores free of hashing.
func TestProcessorsLeaveRoomBesideHashing(t *testing.T) {
	for _, tc := range []struct {
		priority                        string
		procs, slots, parallelism, want int
	}{
		// argon2 runs one goroutine per lane: ARGON2_PARALLELISM=4 with 2
		// slots is 8 hashing goroutines (found in the second review).
		{"low", 2, 2, 1, 4}, {"low", 8, 3, 1, 11}, {"low", 2, 2, 4, 10}, {"normal", 2, 2, 1, 2},
	} {
		if got := processors(tc.priority, tc.procs, tc.slots, tc.parallelism); got != tc.want {
			t.Errorf("processors(%q, %d, %d, %d) = %d, want %d", tc.priority, tc.procs, tc.slots, tc.parallelism, got, tc.want)
		}
	}
}
