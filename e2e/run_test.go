package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// makeRun starts scripts/run.sh (what `make run` runs) with binaries from
// bin, on private ports, a database and stream names of its own.
func makeRun(t *testing.T, bin string, env ...string) (*exec.Cmd, *testenv.Buffer, <-chan error) {
	t.Helper()
	root, _ := filepath.Abs("..")
	_, dbURL := pgtest.NewWithURL(t)
	_, _, names := natstest.Shared(t)
	cmd := exec.Command("bash", filepath.Join(root, "scripts/run.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BIN_DIR="+bin, "DATABASE_URL="+dbURL,
		"NATS_URL="+natstest.URL(), "REDIS_KEY_PREFIX="+testenv.Name("run")+":",
		"HTTP_ADDR="+testenv.FreeAddr(t), "OPS_ADDR="+testenv.FreeAddr(t),
		"RELAY_OPS_ADDR="+testenv.FreeAddr(t), "CONSUMER_OPS_ADDR="+testenv.FreeAddr(t),
		"DASHBOARD_ADDR="+testenv.FreeAddr(t), "DASHBOARD_OPS_ADDR="+testenv.FreeAddr(t),
		"MAIL_DIR="+t.TempDir(), "LOG_DIR="+t.TempDir(), "JWT_PRIVATE_KEY_FILE=", "STREAM_NAME="+names.Stream,
		"STREAM_SUBJECTS="+names.Subject, "STREAM_SUBJECT_PREFIX="+names.Prefix+".",
		"DLQ_STREAM="+names.Stream+"-dlq")
	cmd.Env = append(cmd.Env, env...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, js, _ := natstest.Shared(t)
		js.DeleteStream(ctx, names.Stream+"-dlq")
	})
	return cmd, out, done
}

// makeRunOwnNATS is makeRun on a NATS server of its own, with the
// contract's stream names, as a newcomer's make run has them.
func makeRunOwnNATS(t *testing.T, bin string, env ...string) (*exec.Cmd, *testenv.Buffer, <-chan error) {
	t.Helper()
	nats := natstest.Start(t)
	return makeRun(t, bin, append([]string{"NATS_URL=" + nats.URL(), "STREAM_NAME=auth-events", "STREAM_SUBJECTS=auth.user.*",
		"STREAM_SUBJECT_PREFIX=auth.", "DLQ_STREAM=auth-events-dlq"}, env...)...)
}

func buildAll(t *testing.T) string {
	t.Helper()
	return testenv.BuildCommands(t, "./cmd/api", "./cmd/relay", "./cmd/consumer", "./cmd/authctl", "./cmd/dashboard")
}

// waitRunning waits until make run prints its banner, failing t, with the
// output so far, when it ends first or takes longer than within.
func waitRunning(t *testing.T, what string, out *testenv.Buffer, done <-chan error, within time.Duration) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", what, out)
		}
	}()
	testenv.WaitFor(t, what+" to print its banner", within, func() bool {
		select {
		case err := <-done:
			t.Fatalf("%s ended (%v) before it was running", what, err)
		default:
		}
		return strings.Contains(out.String(), "authevents is running")
	})
}

// waitExit waits for run.sh to end and returns its error (nil = status 0).
func waitExit(t *testing.T, done <-chan error, out *testenv.Buffer, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("make run still running after %s:\n%s", within, out)
		return nil
	}
}

// TestMakeRunFailsWhenAComponentCannotStart: with the API's ops port
// taken, the API dies at start. make run used to print its banner anyway
// and exit 0; it must name the component, show its last log lines, stop
// the rest and exit non-zero.
func TestMakeRunFailsWhenAComponentCannotStart(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, out, done := makeRun(t, bin, "OPS_ADDR="+taken.Addr().String())
	if err := waitExit(t, done, out, 60*time.Second); err == nil {
		t.Fatalf("make run exited 0 with the API unable to start:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("make run output:\n%s", out)
	}
	got := out.String()
	if strings.Contains(got, "authevents is running") {
		t.Errorf("banner printed although the API failed:\n%s", got)
	}
	if !strings.Contains(got, "make run: api exited") || !strings.Contains(got, "address already in use") {
		t.Errorf("output does not name the api and its error:\n%s", got)
	}
}

// TestMakeRunStopsWhenAComponentDies: a component that dies after start
// (the relay, SIGKILLed) stops the whole run with a non-zero status.
func TestMakeRunStopsWhenAComponentDies(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	_, out, done := makeRun(t, bin)
	waitRunning(t, "make run", out, done, 60*time.Second)
	relay := filepath.Join(bin, "relay")
	if !killByPath(t, relay) {
		t.Fatalf("relay process not found")
	}
	if err := waitExit(t, done, out, 30*time.Second); err == nil {
		t.Fatalf("make run exited 0 after the relay died:\n%s", out)
	}
	if got := out.String(); !strings.Contains(got, "make run: relay stopped with status 137") {
		t.Errorf("output does not name the relay:\n%s", got)
	}
}

// killByPath SIGKILLs the process running the executable at path.
func killByPath(t *testing.T, path string) bool {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && exe == path {
			var pid int
			if _, err := fmt.Sscan(filepath.Base(filepath.Dir(p)), &pid); err == nil {
				return syscall.Kill(pid, syscall.SIGKILL) == nil
			}
		}
	}
	return false
}
