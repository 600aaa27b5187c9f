package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Process is a private server a test runs as a process of its own (a
// redis-server, a nats-server) so that it may stop and start it again:
// launched from a command made afresh each time, waited for until it
// answers, killed. The packages that offer such servers (redistest,
// natstest) say only how to run theirs and how to tell it answers.
type Process struct {
	t       testing.TB
	name    string
	command func() *exec.Cmd
	cmd     *exec.Cmd
}

// NewProcess returns a Process, not yet running, that runs command()
// each time it is launched. It is killed when t ends.
func NewProcess(t testing.TB, name string, command func() *exec.Cmd) *Process {
	p := &Process{t: t, name: name, command: command}
	t.Cleanup(p.Stop)
	return p
}

// Start launches the process and waits, at most within, until ready
// reports true.
func (p *Process) Start(within time.Duration, ready func() bool) {
	p.t.Helper()
	p.Launch()
	p.WaitReady(within, ready)
}

// Launch starts the process without waiting for it to answer (the nodes of
// a cluster answer only once enough of them run).
func (p *Process) Launch() {
	p.t.Helper()
	cmd := p.command()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd = cmd
}

// WaitReady waits, at most within, until ready reports true.
func (p *Process) WaitReady(within time.Duration, ready func() bool) {
	p.t.Helper()
	WaitFor(p.t, p.name+" to answer", within, ready)
}

// Running reports whether the process was launched and not stopped since.
func (p *Process) Running() bool { return p.cmd != nil }

// OS returns the running process, or nil.
func (p *Process) OS() *os.Process {
	if p.cmd == nil {
		return nil
	}
	return p.cmd.Process
}

// Stop kills the process (SIGKILL: a crash, as the tests want it) and
// waits for it to exit.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

// Listening is a readiness check: something accepts TCP connections on
// addr.
func Listening(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}
