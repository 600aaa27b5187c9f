package main

// The failover benchmark's NATS side: a JetStream cluster of three
// nats-server processes on loopback ports, one of which it kills.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/testenv"
)

// natsCluster is three nats-server processes routed into one JetStream
// cluster on loopback ports.
type natsCluster struct {
	names []string
	addrs []string // client addresses, host:port on loopback
	procs map[string]*exec.Cmd
}

func startNATSCluster(bin, dir string) (*natsCluster, error) {
	c := &natsCluster{procs: map[string]*exec.Cmd{}}
	var routes []string
	for i := range 3 {
		c.names = append(c.names, "n"+strconv.Itoa(i+1))
		addr, err := testenv.LoopbackAddr()
		if err != nil {
			return nil, err
		}
		c.addrs = append(c.addrs, addr)
		route, err := testenv.LoopbackAddr()
		if err != nil {
			return nil, err
		}
		routes = append(routes, "nats://"+route)
	}
	for i, name := range c.names {
		host, port, _ := net.SplitHostPort(c.addrs[i])
		cmd := exec.Command(bin, "-a", host, "-p", port, "-js", "-sd", filepath.Join(dir, name),
			"-n", name, "--cluster_name", "bench", "--cluster", routes[i],
			"--routes", strings.Join(routes, ","))
		if err := cmd.Start(); err != nil {
			c.stop()
			return nil, err
		}
		c.procs[name] = cmd
	}
	// Ready when JetStream answers through the cluster (a meta leader exists).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		nc, err := nats.Connect(strings.Join(c.urls(), ","), nats.Timeout(time.Second))
		if err != nil {
			continue
		}
		js, _ := jetstream.New(nc)
		_, err = js.AccountInfo(context.Background())
		nc.Close()
		if err == nil {
			return c, nil
		}
	}
	c.stop()
	return nil, errors.New("the NATS cluster did not elect a JetStream leader within 30 s")
}

func (c *natsCluster) urls() []string {
	var out []string
	for _, a := range c.addrs {
		out = append(out, "nats://"+a)
	}
	return out
}

func (c *natsCluster) kill(name string) error {
	cmd, ok := c.procs[name]
	if !ok {
		return fmt.Errorf("no server named %q", name)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	delete(c.procs, name)
	return nil
}

func (c *natsCluster) stop() {
	for name := range c.procs {
		c.kill(name)
	}
}
