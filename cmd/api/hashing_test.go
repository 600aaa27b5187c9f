package main

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestMain serves the hidden hash-worker mode when the api under test,
// running in this test binary, starts its workers from it.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == hashWorkerArg {
		hashWorker()
	}
	os.Exit(m.Run())
}

func TestHashingConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     map[string]string
		slots   int
		workers bool
		err     string
	}{
		{map[string]string{}, 2, true, ""},
		{map[string]string{"HASH_WORKERS": "0"}, 2, false, ""},
		{map[string]string{"HASH_WORKERS": "0", "HASH_CONCURRENCY": "3"}, 3, false, ""},
		{map[string]string{"HASH_CONCURRENCY": "3"}, 3, true, ""},
		{map[string]string{"HASH_WORKERS": "3"}, 3, true, ""},
		{map[string]string{"HASH_WORKERS": "3", "HASH_CONCURRENCY": "3"}, 3, true, ""},
		{map[string]string{"HASH_WORKERS": "3", "HASH_CONCURRENCY": "2"}, 0, false, "disagree"},
		{map[string]string{"HASH_WORKERS": "-1"}, 0, false, "HASH_WORKERS"},
		{map[string]string{"HASH_WORKERS": "many"}, 0, false, "HASH_WORKERS"},
		{map[string]string{"HASH_WORKER_NICE": "0"}, 0, false, "HASH_WORKER_NICE"},
		{map[string]string{"HASH_WORKER_NICE": "20"}, 0, false, "HASH_WORKER_NICE"},
		{map[string]string{"HASH_WORKER_NICE": "19"}, 2, true, ""},
	} {
		tc.env["EMAIL_VERIFICATION"] = "optional" // hashing, not mail, is the point here
		cfg, err := loadConfig(tc.env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("loadConfig(%v) = %v, want an error naming %s", tc.env, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("loadConfig(%v) = %v", tc.env, err)
			continue
		}
		if slots, workers, _ := cfg.hashing(2); slots != tc.slots || workers != tc.workers {
			t.Errorf("%v: hashing(2 cores) = %d slots, workers %v; want %d, %v", tc.env, slots, workers, tc.slots, tc.workers)
		}
	}
}

var workersRE = regexp.MustCompile(`"msg":"hash workers started".*?"pids":\[([0-9,]*)\]`)

// workerPIDs reads the pids of the api's hash workers from its start-up log.
func workerPIDs(t *testing.T, logs string) []int {
	t.Helper()
	m := workersRE.FindStringSubmatch(logs)
	if m == nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Split(m[1], ",") {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	return pids
}

func postJSON(t *testing.T, url, body string) *http.Response {
	t.Helper()
	res, err := apiHTTP(t).Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// cpuTicks is a process's utime + stime (proc(5) fields 14 and 15).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// TestHashWorkersServeTheAPI: a user registered by an api hashing in
// process logs in to one hashing in worker processes; the workers are
// bin/api's hidden mode, hold none of the api's secrets, and a worker
// killed in the middle of a login costs that login a 503 with Retry-After,
// not a hang, and not the next login; the workers end with the api.
func TestHashWorkersServeTheAPI(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.NewWithURL(t)
	env := baseEnv(t, dbURL)
	env["ARGON2_MEMORY_KIB"], env["ARGON2_ITERATIONS"] = "65536", "4" // ~0.3 s per hash: time to kill one mid-hash
	env["RATE_LIMIT_ENABLED"] = "false"
	env["EMAIL_VERIFICATION"] = "optional" // a login right after registration
	env["DATABASE_URL"] += "&password=hunter2-secret"
	const login = `{"email":"w@example.com","password":"a long enough password"}`

	env["HASH_WORKERS"] = "0"
	apiURL, _, logs, stop := start(t, env)
	if pids := workerPIDs(t, logs.String()); pids != nil {
		t.Errorf("HASH_WORKERS=0 started workers %v", pids)
	}
	if res := postJSON(t, apiURL+"/auth/register", `{"email":"w@example.com","password":"a long enough password","name":"W"}`); res.StatusCode != http.StatusCreated {
		t.Fatalf("register in process = %d", res.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	env["HASH_WORKERS"] = "1"
	apiURL, opsURL, logs, stop := start(t, env)
	pids := workerPIDs(t, logs.String())
	if len(pids) != 1 {
		t.Fatalf("hash workers = %v, want 1 logged at start\n%s", pids, logs.String())
	}
	pid := pids[0]
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !strings.HasSuffix(string(cmdline), "\x00"+hashWorkerArg+"\x00") {
		t.Errorf("worker command line %q, want the api's hidden %s mode", cmdline, hashWorkerArg)
	}
	// The api's environment here has no Go runtime setting to pass on;
	// the worker's one setting is its Go processors (TestWorkerEnv).
	if string(environ) != "GOMAXPROCS=1\x00" {
		t.Errorf("worker environment %q, want none of the api's settings, only GOMAXPROCS=1", environ)
	}
	if res := postJSON(t, apiURL+"/auth/login", login); res.StatusCode != http.StatusOK {
		t.Fatalf("login via a worker with an in-process hash = %d", res.StatusCode)
	}

	before := cpuTicks(t, pid)
	done := make(chan *http.Response, 1)
	go func() { done <- postJSON(t, apiURL+"/auth/login", login) }()
	testenv.WaitFor(t, "the worker to be hashing", 10*time.Second, func() bool { return cpuTicks(t, pid) >= before+2 })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Fatalf("login whose worker was killed = %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("login hangs after its worker was killed")
	}
	if res := postJSON(t, apiURL+"/auth/login", login); res.StatusCode != http.StatusOK {
		t.Fatalf("login after the worker's restart = %d", res.StatusCode)
	}
	if !strings.Contains(metricsText(t, opsURL), "authevents_password_hash_worker_restarts_total 1") {
		t.Error("authevents_password_hash_worker_restarts_total is not 1 after one kill")
	}
	lost := regexp.MustCompile(`"msg":"hash worker lost mid-hash; restarted".*"pid":` + strconv.Itoa(pid) + `.*"new_pid":([0-9]+)`).FindStringSubmatch(logs.String())
	if lost == nil {
		t.Fatalf("the lost worker %d and its successor are not logged:\n%s", pid, logs.String())
	}
	if strings.Contains(logs.String(), "a long enough password") || strings.Contains(logs.String(), "hunter2") {
		t.Error("a password reached the log")
	}
	next, _ := strconv.Atoi(lost[1])
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", next)); err == nil {
		t.Errorf("worker %d still there after the api stopped", next)
	}
}

// A hash worker runs as many Go processors as the hash has lanes, however
// many the api has: the API's GOMAXPROCS does not reach it, its other Go
// runtime settings do, and nothing else of the api's environment.
func TestWorkerEnv(t *testing.T) {
	t.Parallel()
	environ := map[string]string{"GOMAXPROCS": "4", "GOGC": "200", "DATABASE_URL": "postgres://secret@db/x", "JWT_PRIVATE_KEY": "k"}
	for _, tc := range []struct {
		parallelism uint8
		want        []string
	}{
		{1, []string{"GOGC=200", "GOMAXPROCS=1"}},
		{4, []string{"GOGC=200", "GOMAXPROCS=4"}},
		{0, []string{"GOGC=200", "GOMAXPROCS=1"}},
	} {
		if got := workerEnv(environ, tc.parallelism); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("workerEnv(p=%d) = %v, want %v", tc.parallelism, got, tc.want)
		}
	}
}
