// Package faultproxy puts a TCP proxy with injectable faults between a
// process under test and a server: Shopify's toxiproxy, run in-process (no
// binary to install), for latency, black holes and resets. Tests use it to
// partition one client from PostgreSQL, NATS or Redis while every other
// client keeps its direct connection.
package faultproxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/authevents/authevents/internal/testenv"
)

// Proxy forwards a free loopback address to an upstream address.
type Proxy struct {
	// Addr is where clients connect instead of the upstream.
	Addr string
	p    *toxiproxy.Proxy
}

// Start runs a proxy to upstream ("host:port") until t ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	addr := testenv.FreeAddr(t)
	p := toxiproxy.NewProxy(srv, testenv.Name("proxy-"), addr, upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("faultproxy: start %s -> %s: %v", addr, upstream, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{Addr: addr, p: p}
}

func (x *Proxy) add(t testing.TB, name, typ, stream string, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, typ, stream, attrs)
	if _, err := x.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("faultproxy: add %s: %v", name, err)
	}
}

// BlackHole makes every open and future connection silent in both
// directions: bytes are swallowed, nothing is closed, as when a network
// partition drops packets. Heal ends it.
func (x *Proxy) BlackHole(t testing.TB) {
	t.Helper()
	x.add(t, "blackhole-up", "timeout", "upstream", `{"timeout":0}`)
	x.add(t, "blackhole-down", "timeout", "downstream", `{"timeout":0}`)
}

// Latency delays every reply from upstream by d (toxiproxy's latency
// toxic on the downstream stream), until Heal.
func (x *Proxy) Latency(t testing.TB, d time.Duration) {
	t.Helper()
	x.add(t, "latency-down", "latency", "downstream", fmt.Sprintf(`{"latency":%d}`, d.Milliseconds()))
}

// Heal removes every fault.
func (x *Proxy) Heal() {
	x.p.Toxics.ResetToxics(context.Background())
}

// Fault kinds, for HealOnly.
const (
	BlackHoleFault = "blackhole"
	LatencyFault   = "latency"
	ResetFault     = "reset"
)

// HealOnly removes one kind of fault and leaves the others, for faults
// that overlap on one proxy.
func (x *Proxy) HealOnly(kind string) {
	for _, name := range []string{kind + "-up", kind + "-down"} {
		if x.p.Toxics.GetToxic(name) != nil {
			_ = x.p.Toxics.RemoveToxic(context.Background(), name)
		}
	}
}

// Reset closes every open and future connection with a TCP reset
// (toxiproxy's reset_peer), as a middlebox dropping its state does. Heal
// ends it.
func (x *Proxy) Reset(t testing.TB) {
	t.Helper()
	x.add(t, "reset-up", "reset_peer", "upstream", `{"timeout":0}`)
}
