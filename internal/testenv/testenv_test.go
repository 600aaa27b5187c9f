package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// recorder is a testing.TB that notes failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// fails reports whether f failed the TB it was given.
func fails(t *testing.T, f func(tb testing.TB)) bool {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.failed
}

func TestWantError(t *testing.T) {
	t.Parallel()
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	const good = `{"error":{"code":"validation_failed","message":"request validation failed","fields":{"email":"is required"}}}`
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		fields map[string]string
		fail   bool
	}{
		{"the shape", 400, jsonHeader, good, nil, false},
		{"the fields by name", 400, jsonHeader, good, map[string]string{"email": ""}, false},
		{"the fields and reasons", 400, jsonHeader, good, map[string]string{"email": "is required"}, false},
		{"another status", 422, jsonHeader, good, nil, true},
		{"another code", 400, jsonHeader, `{"error":{"code":"invalid_json","message":"m","fields":{}}}`, nil, true},
		{"no message", 400, jsonHeader, `{"error":{"code":"validation_failed","fields":{}}}`, nil, true},
		{"null fields", 400, jsonHeader, `{"error":{"code":"validation_failed","message":"m","fields":null}}`, nil, true},
		{"not JSON", 400, jsonHeader, `Bad Request`, nil, true},
		{"a text/plain answer", 400, http.Header{"Content-Type": {"text/plain"}}, good, nil, true},
		{"another field", 400, jsonHeader, good, map[string]string{"password": ""}, true},
		{"a field missing", 400, jsonHeader, good, map[string]string{"email": "", "name": ""}, true},
		{"another reason", 400, jsonHeader, good, map[string]string{"email": "must be a valid email address"}, true},
	} {
		failed := fails(t, func(tb testing.TB) {
			e := WantError(tb, tc.status, tc.header, []byte(tc.body), 400, "validation_failed", tc.fields)
			if e.Code != "validation_failed" {
				tb.Errorf("code %q", e.Code)
			}
		})
		if failed != tc.fail {
			t.Errorf("%s: WantError failed = %v, want %v", tc.name, failed, tc.fail)
		}
	}
}

func TestProcessStartsStopsAndStartsAgain(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip(err)
	}
	p := NewProcess(t, "sleep", func() *exec.Cmd { return exec.Command("sleep", "60") })
	if p.Running() || p.OS() != nil {
		t.Fatal("a new Process runs before it is launched")
	}
	for range 2 {
		p.Start(5*time.Second, func() bool { return true })
		pid := p.OS().Pid
		if !p.Running() || syscall.Kill(pid, 0) != nil {
			t.Fatalf("process %d not running after Start", pid)
		}
		p.Stop()
		if p.Running() || syscall.Kill(pid, 0) == nil {
			t.Fatalf("process %d still running after Stop", pid)
		}
	}
}

// TestListening runs alone (not parallel): once its listener closes, the
// port is free, and a parallel test's FreeAddr could take it at once.
func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	ready := Listening(ln.Addr().String())
	if !ready() {
		t.Error("Listening = false with a listener")
	}
	ln.Close()
	if ready() {
		t.Error("Listening = true after the listener closed")
	}
}

// A FreeAddr port is free until its server binds it, which can be seconds
// later (a test starts the relay and the consumers first): CI saw the API
// of TestEndToEnd fail with "bind: address already in use" when an
// outgoing connection had been given the port meanwhile. The kernel gives
// outgoing connections the ports of ip_local_port_range; FreeAddr's lie
// below it.
func TestFreeAddrIsBelowTheEphemeralRange(t *testing.T) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral range to check against: %v", err)
	}
	var low int
	if _, err := fmt.Sscan(string(raw), &low); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		addr := FreeAddr(t)
		_, p, _ := net.SplitHostPort(addr)
		if port, _ := strconv.Atoi(p); port >= low {
			t.Fatalf("FreeAddr gave %s, in the ephemeral range (from %d)", addr, low)
		}
	}
}
