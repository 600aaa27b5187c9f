package chaos_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one process of the system under a supervisor: SIGKILLed and
// started again by the schedule; one that exits on its own is started again
// after a second, as systemd or Kubernetes would, and counted as an
// unprompted death when it had been ready.
type proc struct {
	name, path, ops, logPath string
	nice                     int
	args, env                []string
	t                        testing.TB
	sup                      *supervisor

	mu      sync.Mutex
	cmd     *exec.Cmd
	gen     int  // start count; a kill or exit of an older start is ignored
	down    bool // killed by the schedule, or stopping
	ready   bool
	readyCh chan struct{}
}

type supervisor struct {
	mu    sync.Mutex
	exits []string // unprompted deaths after ready
	boots []string // exits before ready (a dependency was down at start)
	kills map[string][]time.Time
	done  bool
}

func (s *supervisor) note(list *[]string, msg string) {
	s.mu.Lock()
	*list = append(*list, msg)
	s.mu.Unlock()
}

func (p *proc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	p.ready = false
	p.readyCh = make(chan struct{})
	p.gen++
	gen := p.gen
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	if p.nice != 0 {
		syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, p.nice)
	}
	p.cmd = cmd
	readyCh := p.readyCh
	go func() {
		for {
			if p.healthy() {
				p.mu.Lock()
				if p.gen == gen {
					p.ready = true
				}
				p.mu.Unlock()
				close(readyCh)
				return
			}
			p.mu.Lock()
			stale := p.gen != gen || p.down
			p.mu.Unlock()
			if stale {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gen != gen || p.down || p.sup.isDone() {
			return
		}
		msg := fmt.Sprintf("%s at %s: %v; last log lines:\n%s", p.name, time.Now().Format("15:04:05.000"), err, tail(p.logPath, 8))
		if p.ready {
			p.sup.note(&p.sup.exits, msg)
		} else {
			p.sup.note(&p.sup.boots, msg)
		}
		time.AfterFunc(time.Second, func() {
			p.mu.Lock()
			again := p.gen == gen && !p.down && !p.sup.isDone()
			p.mu.Unlock()
			if again {
				p.start()
			}
		})
	}()
}

func (s *supervisor) isDone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (p *proc) healthy() bool {
	c := http.Client{Timeout: time.Second}
	res, err := c.Get("http://" + p.ops + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == 200
}

// kill SIGKILLs the process (the schedule's fault).
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	p.sup.mu.Lock()
	p.sup.kills[p.name] = append(p.sup.kills[p.name], time.Now())
	p.sup.mu.Unlock()
}

// stop ends the process with SIGTERM (the end of the run).
func (p *proc) stop() {
	p.mu.Lock()
	p.down = true
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
}

func (p *proc) waitReady(t testing.TB, within time.Duration) {
	t.Helper()
	p.mu.Lock()
	ch := p.readyCh
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s not ready within %s; last log lines:\n%s", p.name, within, tail(p.logPath, 20))
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func logDir(t testing.TB) string {
	if d := os.Getenv("CHAOS_LOG_DIR"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	return filepath.Join(t.TempDir())
}
