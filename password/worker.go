package password

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerConfig configures the hash worker processes of StartWorkers.
type WorkerConfig struct {
	// Command runs one worker: a binary whose hidden mode calls
	// ServeWorker on its standard input and output, and its arguments.
	Command []string
	// Env is the workers' whole environment. They need none of the API's
	// settings or secrets: pass only the Go runtime's (GOGC, GODEBUG…).
	Env []string
	// Nice is how much lower than the API's the workers' CPU priority is
	// (their nice value is the API's plus Nice, at most 19); 0 means
	// DefaultWorkerNice.
	Nice int
	// Timeout bounds one hash in a worker; a worker that takes longer is
	// killed and replaced. 0 means DefaultWorkerTimeout.
	Timeout time.Duration
	// Log receives worker deaths and restarts, never a password.
	Log *slog.Logger
	// Registerer receives authevents_password_hash_worker_restarts_total.
	Registerer prometheus.Registerer
}

// Defaults of WorkerConfig.
const (
	// DefaultWorkerNice gives a worker about a tenth of a core's share
	// against a busy API thread (CFS weight 110 against 1024), and all
	// the cores the API leaves idle.
	DefaultWorkerNice = 10
	// DefaultWorkerTimeout is far beyond any hash at the allowed
	// parameters on a loaded machine: it only catches a hung worker.
	DefaultWorkerTimeout = 30 * time.Second
	// startTimeout bounds a worker's start-up, until its hello.
	startTimeout = 10 * time.Second
)

// Workers is a fixed pool of hash worker processes running at a lower CPU
// priority than the API, so that the kernel's scheduler, which can, rather
// than Go's, which cannot, puts the API's own threads first: a login flood
// then no longer delays refreshes, and hashing still gets every cycle the
// API leaves. Each worker computes one hash at a time; a worker that dies
// or hangs fails its hash with ErrBusy and is replaced.
type Workers struct {
	cfg      WorkerConfig
	idle     chan *worker
	restarts prometheus.Counter
	closed   atomic.Bool
	stopped  chan struct{} // closed by Close
	mu       sync.Mutex    // guards each worker's process against Close
	all      []*worker
}

// worker is one slot of the pool; its process is replaced when it dies.
// Whoever took it from the idle channel owns it.
type worker struct {
	cmd *exec.Cmd // nil when no process runs
	in  *os.File  // requests
	out *os.File  // replies
	buf []byte
}

// StartWorkers starts n worker processes.
func StartWorkers(n int, cfg WorkerConfig) (*Workers, error) {
	if n <= 0 || len(cfg.Command) == 0 {
		return nil, errors.New("password: StartWorkers needs n > 0 and a command")
	}
	if cfg.Nice <= 0 {
		cfg.Nice = DefaultWorkerNice
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWorkerTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ws := &Workers{cfg: cfg, idle: make(chan *worker, n), stopped: make(chan struct{}), restarts: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authevents_password_hash_worker_restarts_total",
		Help: "Hash worker processes started again after one died or hung (its hash failed with 503).",
	})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(ws.restarts)
	}
	for range n {
		w := &worker{}
		if err := ws.spawn(w); err != nil {
			ws.Close()
			return nil, err
		}
		ws.all = append(ws.all, w)
		ws.idle <- w
	}
	return ws, nil
}

// PIDs returns the process ids of the running workers.
func (ws *Workers) PIDs() []int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	var out []int
	for _, w := range ws.all {
		if w.cmd != nil {
			out = append(out, w.cmd.Process.Pid)
		}
	}
	return out
}

// spawn starts w's process at the workers' priority.
func (ws *Workers) spawn(w *worker) error {
	inR, inW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start hash worker: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fmt.Errorf("start hash worker: %w", err)
	}
	cmd := exec.Command(ws.cfg.Command[0], ws.cfg.Command[1:]...)
	// A nil Env would pass on the whole environment of the API.
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = inR, outW, os.Stderr, append([]string{}, ws.cfg.Env...)
	err = startNiced(cmd, ws.cfg.Nice)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return fmt.Errorf("start hash worker: %w", err)
	}
	ws.mu.Lock()
	w.cmd, w.in, w.out = cmd, inW, outR
	ws.mu.Unlock()
	// Its hello: it runs, and it is a hash worker.
	if err := outR.SetReadDeadline(time.Now().Add(max(ws.cfg.Timeout, startTimeout))); err != nil {
		return err
	}
	body, err := readFrame(outR, nil)
	if err == nil && string(body) != hello {
		err = fmt.Errorf("%w: hello %q", errFrame, body)
	}
	if err != nil {
		ws.stop(w, 0)
		return fmt.Errorf("start hash worker %s: %w", ws.cfg.Command[0], err)
	}
	return nil
}

// stop ends w's process: its pipes close, so a live worker exits at once
// after the hash in hand, and a hung one is killed after grace.
func (ws *Workers) stop(w *worker, grace time.Duration) error {
	ws.mu.Lock()
	cmd, in, out := w.cmd, w.in, w.out
	w.cmd, w.in, w.out = nil, nil, nil
	ws.mu.Unlock()
	if cmd == nil {
		return nil
	}
	in.Close()
	out.Close()
	t := time.AfterFunc(grace, func() { cmd.Process.Kill() })
	defer t.Stop()
	return cmd.Wait()
}

var errStopped = fmt.Errorf("%w: hash workers stopped", ErrBusy)

// key computes one argon2id key in a worker. It returns the time the
// worker spent on it, without the handover.
func (ws *Workers) key(password, salt []byte, p Params, keyLen uint32) ([]byte, time.Duration, error) {
	var w *worker
	select {
	case w = <-ws.idle: // the Hasher holds one slot per worker: one is free
	case <-ws.stopped:
		return nil, 0, errStopped
	}
	defer func() { ws.idle <- w }()
	if ws.closed.Load() {
		return nil, 0, errStopped
	}
	if w.cmd == nil {
		// A restart failed earlier; try again.
		if err := ws.spawn(w); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrBusy, err)
		}
	}
	key, took, err := w.roundTrip(password, salt, p, keyLen, ws.cfg.Timeout)
	if err != nil {
		pid := w.cmd.Process.Pid
		exit := ws.stop(w, 0)
		log := ws.cfg.Log.With("component", "password", "pid", pid, "err", err, "exit", fmt.Sprint(exit))
		if !ws.closed.Load() {
			ws.restarts.Inc()
			if err := ws.spawn(w); err != nil {
				log.Error("hash worker lost mid-hash; restart failed, retrying at the next hash", "restart_err", err)
			} else {
				log.Warn("hash worker lost mid-hash; restarted", "new_pid", w.cmd.Process.Pid)
			}
		}
		return nil, 0, fmt.Errorf("%w: hash worker %d: %w", ErrBusy, pid, err)
	}
	return key, took, nil
}

// roundTrip sends one request to w's process and reads its reply.
func (w *worker) roundTrip(password, salt []byte, p Params, keyLen uint32, timeout time.Duration) ([]byte, time.Duration, error) {
	w.buf = appendRequest(w.buf[:0], password, salt, p, keyLen)
	_, err := w.in.Write(w.buf)
	clear(w.buf) // the password
	if err != nil {
		return nil, 0, err
	}
	if err := w.out.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, 0, err
	}
	body, err := readFrame(w.out, w.buf)
	if err != nil {
		return nil, 0, err
	}
	if len(body) != 8+int(keyLen) {
		return nil, 0, errFrame
	}
	took := time.Duration(binary.BigEndian.Uint64(body))
	return append([]byte(nil), body[8:]...), took, nil
}

// Close stops every worker: idle ones at once, busy ones after their hash
// (killed past the timeout). Hashes asked for afterwards fail with ErrBusy.
func (ws *Workers) Close() error {
	if ws.closed.Swap(true) {
		return nil
	}
	close(ws.stopped)
	var errs []error
	deadline := time.After(ws.cfg.Timeout)
	for range ws.all {
		select {
		case w := <-ws.idle:
			if err := ws.stop(w, 5*time.Second); err != nil {
				errs = append(errs, err)
			}
		case <-deadline:
			// A hung worker: kill it; its holder then fails its hash.
			ws.mu.Lock()
			for _, w := range ws.all {
				if w.cmd != nil {
					w.cmd.Process.Kill()
				}
			}
			ws.mu.Unlock()
			return errors.Join(append(errs, errors.New("password: hash workers killed after the timeout"))...)
		}
	}
	return errors.Join(errs...)
}
