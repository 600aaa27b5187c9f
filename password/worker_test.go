package password

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain runs the test binary as a hash worker when the pool starts it
// so, as bin/api's hidden mode does.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == "hash-worker" {
		if err := ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) == 2 && os.Args[1] == "hash-parent" {
		// An API stand-in: start two workers, print their pids, wait to
		// be killed.
		exe, _ := os.Executable()
		ws, err := StartWorkers(2, WorkerConfig{Command: []string{exe, "hash-worker"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(ws.PIDs())
		select {}
	}
	// A secret of the API's environment, which no worker may inherit.
	os.Setenv("AUTHEVENTS_TEST_SECRET", "hunter2")
	os.Exit(m.Run())
}

// slow takes a few hundred milliseconds a hash: long enough to act on a
// worker in the middle of one.
var slow = Params{Memory: 64 * 1024, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func startWorkers(t testing.TB, n int, cfg WorkerConfig) *Workers {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = []string{exe, "hash-worker"}
	ws, err := StartWorkers(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// workerHasher is a Hasher with one worker process per slot.
func workerHasher(t testing.TB, p Params, n int, cfg WorkerConfig, opts ...HasherOption) (*Hasher, *Workers) {
	t.Helper()
	ws := startWorkers(t, n, cfg)
	h, err := NewHasher(p, n, nil, append(opts, WithWorkers(ws))...)
	if err != nil {
		t.Fatal(err)
	}
	return h, ws
}

// stat is what the tests read of /proc/<pid>[/task/<tid>]/stat.
type stat struct {
	state byte
	cpu   int // utime + stime, in clock ticks
	nice  int
}

func readStat(path string) (stat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return stat{}, err
	}
	// The fields after the command name, which may hold spaces: state is
	// field 3 of proc(5), utime 14, stime 15, nice 19.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	nice, _ := strconv.Atoi(f[16])
	return stat{state: f[0][0], cpu: utime + stime, nice: nice}, nil
}

func procStat(t *testing.T, pid int) stat {
	t.Helper()
	s, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// threadNices returns the nice value of every thread of pid.
func threadNices(t *testing.T, pid int) map[string]int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	out := map[string]int{}
	for _, f := range tasks {
		if s, err := readStat(f); err == nil { // a thread may end meanwhile
			out[filepath.Base(filepath.Dir(f))] = s.nice
		}
	}
	return out
}

// gone reports whether pid has exited and been reaped (or is a zombie
// whose parent is not this process).
func gone(pid int) bool {
	s, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || s.state == 'Z'
}

// waitBusy waits until the worker pid has spent CPU time since before: it
// is in the middle of a hash.
func waitBusy(t *testing.T, pid int, before stat) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); procStat(t, pid).cpu < before.cpu+2; {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d never started hashing", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestHashesCrossTheProcessBoundary: a hash made in the API process
// verifies in a worker and the other way round, with the same answers.
func TestHashesCrossTheProcessBoundary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	local := newHasher(t, cheap, 1, nil)
	remote, _ := workerHasher(t, cheap, 1, WorkerConfig{})
	const pw = "correct horse battery staple"
	for _, tc := range []struct {
		name         string
		hash, verify *Hasher
	}{
		{"in-process hash, worker verify", local, remote},
		{"worker hash, in-process verify", remote, local},
		{"worker hash, worker verify", remote, remote},
	} {
		enc, err := tc.hash.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("%s: Hash: %v", tc.name, err)
		}
		for _, try := range []struct {
			pw   string
			want bool
		}{{pw, true}, {pw + " ", false}, {"", false}} {
			if ok, err := tc.verify.Verify(ctx, try.pw, enc); ok != try.want || err != nil {
				t.Errorf("%s: Verify(%q) = %v, %v; want %v, nil", tc.name, try.pw, ok, err, try.want)
			}
		}
	}
	// The OWASP parameters too, once each way.
	local, remote = newHasher(t, OWASP(), 1, nil), nil
	remote, _ = workerHasher(t, OWASP(), 1, WorkerConfig{})
	enc, _ := remote.Hash(ctx, pw)
	if ok, err := local.Verify(ctx, pw, enc); !ok || err != nil {
		t.Errorf("OWASP worker hash, in-process Verify = %v, %v", ok, err)
	}
	enc, _ = local.Hash(ctx, pw)
	if ok, err := remote.Verify(ctx, pw, enc); !ok || err != nil {
		t.Errorf("OWASP in-process hash, worker Verify = %v, %v", ok, err)
	}
}

// TestWorkersRunAtLowerPriority: every thread of every worker, the Go
// runtime's own included, runs DefaultWorkerNice above the API's nice
// value, and no thread of the API keeps a raised one.
func TestWorkersRunAtLowerPriority(t *testing.T) {
	t.Parallel()
	self := procStat(t, os.Getpid()).nice
	h, ws := workerHasher(t, cheap, 2, WorkerConfig{})
	if _, err := h.Hash(context.Background(), "make the runtime start its threads"); err != nil {
		t.Fatal(err)
	}
	want := min(self+DefaultWorkerNice, 19)
	for _, pid := range ws.PIDs() {
		threads := threadNices(t, pid)
		if len(threads) < 2 {
			t.Errorf("worker %d has %d threads; a Go process has several", pid, len(threads))
		}
		for tid, nice := range threads {
			if nice != want {
				t.Errorf("worker %d thread %s: nice %d, want %d", pid, tid, nice, want)
			}
		}
	}
	// The thread that started a worker is niced, then ends: it may still
	// be ending now, or another parallel test may be starting a worker
	// from one (CI saw one such thread). What must not be is a raised
	// thread that stays.
	var leaked []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		leaked = leaked[:0]
		for tid, nice := range threadNices(t, os.Getpid()) {
			if nice != self {
				leaked = append(leaked, fmt.Sprintf("%s (nice %d)", tid, nice))
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(leaked) > 0 {
		t.Errorf("API threads %v kept a nice value other than %d for 5 s (the priority leaked into the parent)", leaked, self)
	}
}

// TestWorkersGetOnlyTheirEnvironment: a worker's environment is
// WorkerConfig.Env alone, never the API's (its URLs, keys and passwords).
func TestWorkersGetOnlyTheirEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range [][]string{nil, {"GOGC=400"}} {
		ws := startWorkers(t, 1, WorkerConfig{Env: env})
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", ws.PIDs()[0]))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(b) == 0 {
			got = nil
		}
		if !slices.Equal(got, env) {
			t.Errorf("WorkerConfig.Env %q: the worker's environment is %q", env, got)
		}
	}
}

// TestWorkerQueueIsBounded: with workers, the queue bound still sheds
// with ErrBusy at once, and the gauge's count is the callers waiting.
func TestWorkerQueueIsBounded(t *testing.T) {
	t.Parallel()
	h, _ := workerHasher(t, cheap, 1, WorkerConfig{}, WithQueueDepth(1))
	ctx := context.Background()
	// One slot held, one caller queued: the next is shed.
	if err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "queued"); queued <- err }()
	for deadline := time.Now().Add(5 * time.Second); h.Queued() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second hash never queued")
		}
	}
	if _, err := h.Hash(ctx, "shed"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash past the queue depth = %v, want ErrBusy", err)
	}
	h.release()
	if err := <-queued; err != nil {
		t.Fatalf("queued Hash: %v", err)
	}
}
