// Package testenv is the tests' plumbing. It decides what a test does when
// a service it needs is not reachable (skip on a developer's machine, fail
// under CI=true, where a missing service must never pass as a green run),
// waits for conditions (WaitFor), hands out free loopback addresses
// (FreeAddr), builds and stops binaries, runs private servers (Process) and
// checks the API's error answers (WantError).
package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Unavailable skips t, or fails it when CI=true, because service cannot be
// used.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but unavailable: %v", service, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this a failure): %v", service, err)
}

// Getenv returns the environment variable key, or def when it is unset.
func Getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Name returns prefix followed by random hex, for per-test databases,
// key prefixes and stream names.
func Name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for servers a test starts itself. The port lies below the kernel's
// ephemeral range (ip_local_port_range, 32768 and up by default), from
// which outgoing connections get theirs: a server that binds seconds
// later, or is killed and restarted on the same address, cannot find its
// port taken by one (CI saw "address already in use" on both).
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := LoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// StableAddr is FreeAddr, by its earlier name.
func StableAddr(t testing.TB) string {
	t.Helper()
	return FreeAddr(t)
}

// handedOut holds the ports this process gave out, not given twice.
var handedOut sync.Map

// LoopbackAddr is FreeAddr for programs that are not tests (the
// benchmarks).
func LoopbackAddr() (string, error) {
	for range 500 {
		port := 20000 + mathrand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return ln.Addr().String(), nil
	}
	return "", errors.New("no free loopback port between 20000 and 32000")
}

// WaitFor polls ok every 10 ms until it holds, failing t after within.
func WaitFor(t testing.TB, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Buffer is an io.Writer safe for concurrent use, to capture logs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// BuildHere builds the main package in the test's working directory once
// per test process and returns the binary's path.
func BuildHere(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "authevents-"+name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", p, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	built[name] = p
	return p
}

// BuildCommands builds main packages (module-relative, "./cmd/api") into
// a temporary directory and returns it.
func BuildCommands(t testing.TB, pkgs ...string) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = filepath.Dir(string(bytes.TrimSpace(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %v: %v\n%s", pkgs, err, out)
	}
	return dir
}

// Terminate sends SIGTERM to cmd and fails t unless it exits with status 0
// within d (it is killed then).
func Terminate(t testing.TB, cmd *exec.Cmd, d time.Duration) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("%s exit after SIGTERM: %v", filepath.Base(cmd.Path), err)
		}
	case <-time.After(d):
		cmd.Process.Kill()
		<-errc
		t.Fatalf("%s did not stop within %s of SIGTERM", filepath.Base(cmd.Path), d)
	}
}
