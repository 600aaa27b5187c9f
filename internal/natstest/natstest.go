// Package natstest gives tests NATS JetStream: the shared server (with a
// stream name and subject prefix of their own, deleted afterwards), a
// private nats-server on a free port, built from the version pinned in
// go.mod as a tool, that the test may stop and restart, or a cluster of
// them (StartCluster) whose nodes it may kill one by one.
package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/testenv"
)

// URL is the shared server: TEST_NATS_URL or nats://127.0.0.1:4222.
func URL() string { return testenv.Getenv("TEST_NATS_URL", "nats://127.0.0.1:4222") }

// Names is a per-test stream and subject namespace, so tests on one server
// never bind the same subjects.
type Names struct {
	Stream  string // e.g. "t-3fa9c1d2"
	Prefix  string // subject prefix, e.g. "t3fa9c1d2"
	Subject string // the stream's filter, Prefix + ".user.*"
}

// For returns the test's subject for an event type ("user.registered").
func (n Names) For(eventType string) string { return n.Prefix + "." + eventType }

// NewNames returns fresh names.
func NewNames() Names {
	id := testenv.Name("")
	return Names{Stream: "t-" + id, Prefix: "t" + id, Subject: "t" + id + ".user.*"}
}

// Connect connects to url and closes the connection when t ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		testenv.Unavailable(t, "NATS", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Shared connects to the shared server and returns fresh names whose
// stream is deleted when t ends.
func Shared(t testing.TB) (*nats.Conn, jetstream.JetStream, Names) {
	t.Helper()
	nc := Connect(t, URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := NewNames()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, names.Stream)
	})
	return nc, js, names
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of the pinned nats-server, building it once per
// test process (the Go build cache makes later builds quick).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "authevents-nats-server")
		os.MkdirAll(dir, 0o755)
		binPath = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/nats-io/nats-server/v2")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build pinned nats-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Server is a private nats-server with JetStream.
type Server struct {
	Addr        string
	Name        string   // server name (cluster nodes)
	nice        int      // CPU niceness of the process (cluster nodes)
	cluster     []string // extra flags of a cluster node
	noJetStream bool
	dir         string
	proc        *testenv.Process
}

// Start runs a private server on a free loopback port.
func Start(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, testenv.FreeAddr(t))
	s.start()
	return s
}

// newServer returns a server on addr, not yet running, killed when t ends.
func newServer(t testing.TB, addr string) *Server {
	s := &Server{Addr: addr, dir: t.TempDir()}
	bin := Binary(t)
	s.proc = testenv.NewProcess(t, "private nats-server on "+addr, func() *exec.Cmd { return s.command(bin) })
	return s
}

// URL of the private server.
func (s *Server) URL() string { return "nats://" + s.Addr }

func (s *Server) start() {
	s.launch()
	s.proc.WaitReady(15*time.Second, s.answers)
}

// command is the nats-server process as the server is configured now.
func (s *Server) command(bin string) *exec.Cmd {
	host, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"-a", host, "-p", port, "-sd", s.dir}
	if !s.noJetStream {
		args = append(args, "-js")
	}
	args = append(args, s.cluster...)
	cmd := exec.Command(bin, args...)
	if s.cluster != nil {
		// A cluster node's log is kept in its store directory, for a
		// test that fails.
		if f, err := os.Create(filepath.Join(s.dir, "nats-server.log")); err == nil {
			cmd.Stdout, cmd.Stderr = f, f
		}
	}
	return cmd
}

// launch starts the process without waiting for it to answer.
func (s *Server) launch() {
	s.proc.Launch()
	if s.nice != 0 {
		syscall.Setpriority(syscall.PRIO_PROCESS, s.proc.OS().Pid, s.nice)
	}
}

// answers reports whether the server answers, and its JetStream too
// unless it runs without.
func (s *Server) answers() bool {
	nc, err := nats.Connect(s.URL(), nats.Timeout(200*time.Millisecond))
	if err != nil {
		return false
	}
	defer nc.Close()
	if s.noJetStream {
		return true
	}
	js, _ := jetstream.New(nc)
	_, err = js.AccountInfo(context.Background())
	return err == nil
}

// Stop kills the server.
func (s *Server) Stop() { s.proc.Stop() }

// Restart starts the server again on the same port and store, with
// JetStream.
func (s *Server) Restart() {
	s.Stop()
	s.noJetStream = false
	s.start()
}

// RestartWithoutJetStream restarts the server on the same port with
// JetStream off: core NATS answers, JetStream does not (a broker
// misconfigured or recovering; publishes get "no responders").
func (s *Server) RestartWithoutJetStream() {
	s.Stop()
	s.noJetStream = true
	s.start()
}

// Collect reads every message of a stream (by an ephemeral ordered
// consumer) until it has want messages or the deadline passes.
func Collect(t testing.TB, js jetstream.JetStream, stream string, want int, within time.Duration) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	// The stream may not exist yet (a relay provisions it): wait for it.
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	for errors.Is(err, jetstream.ErrStreamNotFound) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	}
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	var out []jetstream.Msg
	for len(out) < want {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			continue
		}
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out
}
