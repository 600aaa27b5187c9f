package password

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/prometheus/client_golang/prometheus"
)

// TestWorkerKilledMidHash: the hash in flight fails at once with ErrBusy
// (a 503 with Retry-After), the dead worker is reaped and replaced, the
// restart is counted, and the next hashes work.
func TestWorkerKilledMidHash(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, ws := workerHasher(t, slow, 1, WorkerConfig{Registerer: reg})
	pid := ws.PIDs()[0]
	before := procStat(t, pid)
	done := make(chan error, 1)
	go func() { _, err := h.Hash(context.Background(), "killed mid-hash"); done <- err }()
	waitBusy(t, pid, before)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), strconv.Itoa(pid)) {
			t.Fatalf("Hash whose worker was killed = %v, want ErrBusy naming worker %d", err, pid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Hash hangs after its worker was killed")
	}
	if !gone(pid) {
		t.Errorf("killed worker %d not reaped", pid)
	}
	if got := ws.PIDs(); len(got) != 1 || got[0] == pid {
		t.Fatalf("workers after the kill = %v, want one new process", got)
	}
	const name = "authevents_password_hash_worker_restarts_total"
	if got := metrictest.Must(t, reg, name); got != 1 {
		t.Errorf("%s = %v, want 1", name, got)
	}
	enc, err := h.Hash(context.Background(), "after the restart")
	if err != nil {
		t.Fatalf("Hash after the restart: %v", err)
	}
	if ok, err := h.Verify(context.Background(), "after the restart", enc); !ok || err != nil {
		t.Fatalf("Verify after the restart = %v, %v", ok, err)
	}
}

// TestHungWorkerIsReplaced: a worker that stops answering (here: stopped
// by SIGSTOP) fails its hash after the timeout instead of holding the slot
// forever, and is killed and replaced.
func TestHungWorkerIsReplaced(t *testing.T) {
	t.Parallel()
	h, ws := workerHasher(t, cheap, 1, WorkerConfig{Timeout: 300 * time.Millisecond})
	pid := ws.PIDs()[0]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := h.Hash(context.Background(), "to a hung worker"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash to a hung worker = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("Hash to a hung worker failed after %s, want about the 300ms timeout", d)
	}
	if !gone(pid) {
		t.Errorf("hung worker %d still there", pid)
	}
	if _, err := h.Hash(context.Background(), "to its replacement"); err != nil {
		t.Fatalf("Hash after the replacement: %v", err)
	}
}

// TestCancelWhileWorkerHashes: a caller whose context ends while its hash
// runs in a worker returns at once; its slot stays taken until the worker
// has answered (the worker is busy until then), and then serves the next
// caller.
func TestCancelWhileWorkerHashes(t *testing.T) {
	t.Parallel()
	h, ws := workerHasher(t, slow, 1, WorkerConfig{})
	pid := ws.PIDs()[0]
	before := procStat(t, pid)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "cancelled mid-hash"); done <- err }()
	waitBusy(t, pid, before)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Hash = %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("cancelled Hash did not return within 1s")
	}
	if len(h.slots) != 1 {
		t.Errorf("%d slots taken right after the cancel, want 1: the worker still hashes", len(h.slots))
	}
	if _, err := h.Hash(context.Background(), "the next caller"); err != nil {
		t.Fatalf("Hash after a cancelled one: %v", err)
	}
	if got := ws.PIDs(); len(got) != 1 || got[0] != pid {
		t.Errorf("workers = %v, want %d still: a cancel must not cost a process", got, pid)
	}
}

// TestCloseStopsWorkers: Close ends every worker process, and a hash asked
// for afterwards fails with ErrBusy instead of waiting for one.
func TestCloseStopsWorkers(t *testing.T) {
	t.Parallel()
	h, ws := workerHasher(t, cheap, 2, WorkerConfig{})
	pids := ws.PIDs()
	if err := ws.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("worker %d still running after Close", pid)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.Hash(ctx, "after close"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash after Close = %v, want ErrBusy", err)
	}
}

// TestWorkersDieWithTheAPI: when the API process is killed outright
// (SIGKILL: no Close), its workers read the end of their pipe and exit
// instead of living on as orphans.
func TestWorkersDieWithTheAPI(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(exe, "hash-parent")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		parent.Process.Kill()
		t.Fatalf("stand-in API: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(strings.Trim(line, "[]\n")) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("stand-in API printed %q, want two pids", line)
	}
	for _, pid := range pids {
		if gone(pid) {
			t.Fatalf("worker %d not running before the kill", pid)
		}
	}
	parent.Process.Kill()
	parent.Wait()
	for _, pid := range pids {
		for deadline := time.Now().Add(10 * time.Second); !gone(pid); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("worker %d still running 10s after its API was killed", pid)
			}
		}
	}
}
