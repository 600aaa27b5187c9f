package chaos

import (
	"slices"
	"testing"
	"time"
)

// TestPlanIsReproducibleCompleteAndOverlapping: one seed gives one
// schedule; every kind of fault occurs; faults overlap; NATS node faults
// never overlap each other; broker faults leave time with nothing hitting
// the API, for the latency verdict.
func TestPlanIsReproducibleCompleteAndOverlapping(t *testing.T) {
	for seed := range uint64(50) {
		for _, p := range []Profile{Short(seed), Full(seed, 5*time.Minute)} {
			a, b := Plan(p), Plan(p)
			if !slices.Equal(a, b) {
				t.Fatalf("seed %d: two plans differ", seed)
			}
			if c := Plan(Short(seed + 1000)); slices.Equal(a, c) && p.Name == "short" {
				t.Errorf("seeds %d and %d give one plan", seed, seed+1000)
			}
			kinds := map[Kind]int{}
			overlaps := 0
			var lastNode time.Duration
			for i, f := range a {
				kinds[f.Kind]++
				if f.At < p.Warmup || f.End() > p.Duration-p.Tail {
					t.Errorf("seed %d %s: %v outside the fault window", seed, p.Name, f)
				}
				for _, g := range a[i+1:] {
					if g.At < f.End() {
						overlaps++
						if g.Kind == f.Kind && g.Target == f.Target {
							t.Errorf("seed %d %s: %v and %v overlap on one target", seed, p.Name, f, g)
						}
					}
				}
				if f.Kind == KillStreamLeader || f.Kind == KillFollower || f.Kind == QuorumLoss {
					if f.At < lastNode {
						t.Errorf("seed %d %s: NATS node faults overlap at %v", seed, p.Name, f)
					}
					lastNode = f.End()
				}
			}
			for _, k := range Kinds {
				if kinds[k] == 0 {
					t.Errorf("seed %d %s: no %s in %v", seed, p.Name, k, a)
				}
			}
			if overlaps == 0 {
				t.Errorf("seed %d %s: no faults overlap", seed, p.Name)
			}
			if BrokerOnly(a) < BrokerTime(a)/3 || BrokerOnly(a) == 0 {
				t.Errorf("seed %d %s: broker-only time %v of %v", seed, p.Name, BrokerOnly(a), BrokerTime(a))
			}
		}
	}
}
