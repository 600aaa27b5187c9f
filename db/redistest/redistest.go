// Package redistest gives tests a Redis client and a key prefix of their
// own on the shared server, deleting the prefix's keys when the test ends,
// and can start a private redis-server for tests that stop it.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authevents/authevents/internal/testenv"
)

// URL is the shared server: TEST_REDIS_URL or redis://127.0.0.1:6379/0.
func URL() string { return testenv.Getenv("TEST_REDIS_URL", "redis://127.0.0.1:6379/0") }

// New returns a client on the shared server and a unique key prefix.
func New(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		testenv.Unavailable(t, "Redis", err)
	}
	prefix := testenv.Name("authevents-test-") + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		// redis_rate stores its buckets under "rate:" + our key.
		iter = rdb.Scan(ctx, 0, "rate:"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}

// Server is a private redis-server on a free loopback port.
type Server struct {
	Addr string
	proc *testenv.Process
}

// Start runs a private redis-server that the test may stop and restart.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unavailable(t, "redis-server binary", err)
	}
	s := &Server{Addr: testenv.FreeAddr(t)}
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.proc = testenv.NewProcess(t, "private redis-server on "+s.Addr, func() *exec.Cmd {
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd
	})
	s.start()
	return s
}

func (s *Server) start() { s.proc.Start(10*time.Second, testenv.Listening(s.Addr)) }

// URL of the private server.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() { s.proc.Stop() }

// Restart starts the server again on the same port.
func (s *Server) Restart() {
	s.Stop()
	s.start()
}
