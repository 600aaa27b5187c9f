package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// freeRun returns a base port whose three ports are free a moment ago.
func freeRun(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 30000 + rand.IntN(20000)
		ok := true
		for i := range 3 {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no three free ports in a row")
	return 0
}

// TestMakeRunCluster: make run CLUSTER=1 starts a 3-node JetStream cluster,
// the relay creates the stream on 3 replicas there, and Ctrl-C stops the
// nodes too.
func TestMakeRunCluster(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	port := freeRun(t)
	cmd, out, done := makeRun(t, bin, "CLUSTER=1", "NATS_URL=", fmt.Sprintf("CLUSTER_PORT=%d", port),
		fmt.Sprintf("CLUSTER_ROUTE_PORT=%d", freeRun(t)), fmt.Sprintf("CLUSTER_HTTP_PORT=%d", freeRun(t)),
		"CLUSTER_DIR="+t.TempDir(), "NATS_SERVER_BIN="+natstest.Binary(t))
	waitRunning(t, "make run CLUSTER=1", out, done, 90*time.Second)
	url := fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", port, port+1, port+2)
	if !strings.Contains(out.String(), "NATS           "+url) {
		t.Errorf("the banner does not name the three nodes %s:\n%s", url, out)
	}
	nc := natstest.Connect(t, url, nats.MaxReconnects(-1))
	js, _ := jetstream.New(nc)
	stream := ""
	for _, kv := range cmd.Env {
		if v, ok := strings.CutPrefix(kv, "STREAM_NAME="); ok {
			stream = v
		}
	}
	testenv.WaitFor(t, "the stream on three replicas", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info := s.CachedInfo()
		return info.Config.Replicas == 3 && info.Cluster != nil && len(info.Cluster.Replicas) == 2
	})
	nc.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, done, out, 30*time.Second); err != nil {
		t.Errorf("make run CLUSTER=1 after Ctrl-C: %v\n%s", err, out)
	}
	for i := range 3 {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port+i), time.Second); err == nil {
			c.Close()
			t.Errorf("cluster node on %d still answers after make run stopped", port+i)
		}
	}
}
