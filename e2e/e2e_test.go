// Package e2e runs the whole system as processes — bin/api, bin/relay and
// bin/consumer --service all — against real PostgreSQL, Redis and a private
// NATS JetStream server, and checks every downstream effect of a sequence
// of auth requests.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

func build(t *testing.T) string {
	t.Helper()
	return testenv.BuildCommands(t, "./cmd/api", "./cmd/relay", "./cmd/consumer")
}

func start(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	logf, _ := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			logf.Seek(0, 0)
			sc := bufio.NewScanner(logf)
			n := 0
			for sc.Scan() && n < 30 {
				t.Logf("[%s] %s", filepath.Base(bin), sc.Text())
				n++
			}
		}
	})
}

type client struct {
	t    *testing.T
	base string
}

func (c client) post(path string, body any, bearer string, hdr ...string) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "e2e/1.0")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	bins := build(t)
	pool, dbURL := pgtest.NewWithURL(t)
	_, prefix := redistest.New(t)
	nats := natstest.Start(t)
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := token.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	mailDir := filepath.Join(t.TempDir(), "mail")
	httpAddr := testenv.FreeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+redistest.URL(), "REDIS_KEY_PREFIX="+prefix,
		"NATS_URL="+nats.URL(), "JWT_PRIVATE_KEY_FILE="+key, "ARGON2_MEMORY_KIB=256", "ARGON2_ITERATIONS=1",
		"TRUSTED_PROXIES=127.0.0.1", "RATE_LIMIT_ENABLED=false", "MAIL_DIR="+mailDir, "LOG_LEVEL=warn",
		"CONSUMER_BACKOFF=200ms,200ms")
	start(t, filepath.Join(bins, "relay"), append(env, "OPS_ADDR="+testenv.FreeAddr(t)))
	start(t, filepath.Join(bins, "consumer"), append(env, "OPS_ADDR="+testenv.FreeAddr(t)), "--service", "all")
	start(t, filepath.Join(bins, "api"), append(env, "HTTP_ADDR="+httpAddr, "OPS_ADDR="+testenv.FreeAddr(t)))
	c := client{t, "http://" + httpAddr}
	testenv.WaitFor(t, "the api", 20*time.Second, func() bool {
		res, err := http.Get(c.base + "/.well-known/jwks.json")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})

	const pw = "correct horse battery staple"
	users := map[string]map[string]any{}
	for _, name := range []string{"ada", "bob", "cyd"} {
		code, res := c.post("/auth/register", map[string]string{"email": name + "@example.com", "password": pw, "name": name}, "")
		if code != 201 {
			t.Fatalf("register %s: %d %v", name, code, res)
		}
		users[name] = res
	}
	login := func(name, ip string) map[string]any {
		code, res := c.post("/auth/login", map[string]string{"email": name + "@example.com", "password": pw}, "", "X-Forwarded-For", ip)
		if code != 200 {
			t.Fatalf("login %s: %d %v", name, code, res)
		}
		return res
	}
	ada1 := login("ada", "198.51.100.1")
	login("ada", "203.0.113.50") // a new IP for ada: alert
	bob := login("bob", "198.51.100.2")
	// Two rotations, then a replay of the first token: reuse.
	t0 := ada1["refreshToken"].(string)
	code, r1 := c.post("/auth/refresh", map[string]string{"refreshToken": t0}, "")
	if code != 200 {
		t.Fatalf("first refresh: %d %v", code, r1)
	}
	if code, r2 := c.post("/auth/refresh", map[string]string{"refreshToken": r1["refreshToken"].(string)}, ""); code != 200 {
		t.Fatalf("second refresh: %d %v", code, r2)
	}
	if code, _ := c.post("/auth/refresh", map[string]string{"refreshToken": t0}, ""); code != 401 {
		t.Fatalf("replayed refresh token: %d, want 401", code)
	}
	if code, _ := c.post("/auth/logout", nil, bob["accessToken"].(string)); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	for range 5 {
		c.post("/auth/login", map[string]string{"email": "cyd@example.com", "password": "not the password"}, "", "X-Forwarded-For", "192.0.2.99")
	}
	const events = 3 + 3 + 2 + 1 + 1 + 5 // registered, logged_in, refreshed, reuse, logged_out, login_failed

	testenv.WaitFor(t, "every event in the audit log", 30*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM audit_log`) == events
	})
	testenv.WaitFor(t, "analytics", 10*time.Second, func() bool {
		return count(t, pool, `SELECT COALESCE(sum(count), 0) FROM analytics_event_counts`) == events
	})
	testenv.WaitFor(t, "three welcome emails", 10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
		return len(files) == 3
	})
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d outbox rows left", n)
	}
	byType := map[string]int{}
	rows, _ := pool.Query(context.Background(), `SELECT type, sum(count) FROM analytics_event_counts GROUP BY type`)
	for rows.Next() {
		var typ string
		var n int
		rows.Scan(&typ, &n)
		byType[typ] = n
	}
	rows.Close()
	want := map[string]int{"user.registered": 3, "user.logged_in": 3, "user.token_refreshed": 2,
		"user.token_reuse_detected": 1, "user.logged_out": 1, "user.login_failed": 5}
	for k, v := range want {
		if byType[k] != v {
			t.Errorf("analytics %s = %d, want %d", k, byType[k], v)
		}
	}
	testenv.WaitFor(t, "security alerts", 10*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM security_alerts`) >= 3
	})
	var rules []string
	rows, _ = pool.Query(context.Background(), `SELECT rule FROM security_alerts ORDER BY id`)
	for rows.Next() {
		var r string
		rows.Scan(&r)
		rules = append(rules, r)
	}
	rows.Close()
	if got := strings.Join(rules, ","); got != "new_ip,token_reuse,failed_logins" {
		t.Errorf("security alerts = %s, want new_ip,token_reuse,failed_logins", got)
	}
	files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	var to []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\r\n") {
			if strings.HasPrefix(line, "To: ") {
				to = append(to, line)
			}
		}
	}
	if len(to) != 3 {
		t.Errorf("welcome emails to %v, want one each for ada, bob, cyd", to)
	}
}
