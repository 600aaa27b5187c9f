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
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

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
	cmd  *exec.Cmd
	dir  string
	t    testing.TB
}

// Start runs a private redis-server that the test may stop and restart.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unavailable(t, "redis-server binary", err)
	}
	s := &Server{Addr: testenv.FreeAddr(t), dir: t.TempDir(), t: t}
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("private redis-server on %s did not start", s.Addr)
}

// URL of the private server.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port.
func (s *Server) Restart() {
	s.Stop()
	bin, _ := exec.LookPath("redis-server")
	s.start(bin)
}

// FaultProxy is a Shopify toxiproxy proxy, run in the test process, in
// front of a server the test owns: toxics (latency, timeouts) make that
// server slow without touching the shared one.
type FaultProxy struct {
	Addr  string
	proxy *toxiproxy.Proxy
}

// NewFaultProxy starts a proxy on a free loopback port forwarding to
// upstream; it is stopped when the test ends.
func NewFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, testenv.Name("proxy-"), testenv.FreeAddr(t), upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("start toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &FaultProxy{Addr: p.Listen, proxy: p}
}

// URL is the redis URL through the proxy.
func (p *FaultProxy) URL() string { return fmt.Sprintf("redis://%s/0", p.Addr) }

// Latency delays every reply from upstream by d (toxiproxy's latency
// toxic on the downstream stream), until Clear.
func (p *FaultProxy) Latency(t testing.TB, d time.Duration) {
	t.Helper()
	body := fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d}}`, d.Milliseconds())
	if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		t.Fatalf("add latency toxic: %v", err)
	}
}

// Clear removes every toxic.
func (p *FaultProxy) Clear() { p.proxy.Toxics.ResetToxics(context.Background()) }
