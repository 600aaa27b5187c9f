package natstest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/testenv"
)

// Cluster is a JetStream cluster of private nats-server processes on free
// loopback ports, each with a store directory of its own, joined by
// routes. Nodes can be killed and started again one by one.
type Cluster struct {
	Nodes []*Server
}

// StartCluster runs n nodes, at CPU niceness nice (0: as the test), and
// waits until JetStream answers (a meta leader is elected). The nodes do not advertise each other to clients
// (--no_advertise), so a client reaches only the URLs it was given: a
// fault proxy in front of them cannot be bypassed.
func StartCluster(t testing.TB, n, nice int) *Cluster {
	t.Helper()
	name := testenv.Name("authevents-")
	routes := make([]string, n)
	clusterAddrs := make([]string, n)
	for i := range n {
		clusterAddrs[i] = testenv.FreeAddr(t)
		routes[i] = "nats://" + clusterAddrs[i]
	}
	c := &Cluster{}
	for i := range n {
		s := newServer(t, testenv.FreeAddr(t))
		s.Name, s.nice = fmt.Sprintf("n%d", i+1), nice
		s.cluster = []string{"--name", s.Name, "--cluster_name", name, "--cluster", "nats://" + clusterAddrs[i],
			"--routes", strings.Join(routes, ","), "--no_advertise"}
		c.Nodes = append(c.Nodes, s)
	}
	for _, s := range c.Nodes {
		s.launch()
	}
	for _, s := range c.Nodes {
		s.proc.WaitReady(60*time.Second, s.answers)
	}
	return c
}

// URL lists every node, comma-separated, as nats.Connect and NATS_URL
// take it.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Kill SIGKILLs node i.
func (c *Cluster) Kill(i int) { c.Nodes[i].Stop() }

// Launch starts node i again on its port and store without waiting for
// JetStream (which needs a quorum of nodes); it waits only until the node
// accepts connections.
func (c *Cluster) Launch(i int) {
	s := c.Nodes[i]
	if s.Running() {
		return
	}
	s.launch()
	s.proc.WaitReady(15*time.Second, testenv.Listening(s.Addr))
}

// Running reports whether the server's process runs.
func (s *Server) Running() bool { return s.proc.Running() }

// Node returns the index of the node named name, or -1.
func (c *Cluster) Node(name string) int {
	for i, s := range c.Nodes {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// StreamLeader returns the index of the node that leads stream, and the
// indexes of its followers.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) (int, []int, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1, nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return -1, nil, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, nil, fmt.Errorf("stream %s has no leader", stream)
	}
	var followers []int
	for _, p := range info.Cluster.Replicas {
		if i := c.Node(p.Name); i >= 0 {
			followers = append(followers, i)
		}
	}
	return c.Node(info.Cluster.Leader), followers, nil
}
