package chaos_test

import (
	"context"
	"sync"
	"time"

	"github.com/authevents/authevents/chaos"
	"github.com/authevents/authevents/internal/faultproxy"
)

type appliedFault struct {
	f        chaos.Fault
	from, to time.Time
	detail   string
}

func appliedJSON(start time.Time, as []appliedFault) []map[string]any {
	var out []map[string]any
	for _, a := range as {
		out = append(out, map[string]any{"kind": a.f.Kind, "fromS": a.from.Sub(start).Seconds(), "toS": a.to.Sub(start).Seconds(), "detail": a.detail})
	}
	return out
}

// run applies the plan, from start, and returns when every fault healed.
func (s *system) run(start time.Time, plan []chaos.Fault) []appliedFault {
	var mu sync.Mutex
	var out []appliedFault
	var wg sync.WaitGroup
	var natsTrack []chaos.Fault
	for _, f := range plan {
		switch f.Kind {
		case chaos.KillStreamLeader, chaos.KillFollower, chaos.QuorumLoss:
			natsTrack = append(natsTrack, f)
			continue
		}
		wg.Go(func() {
			time.Sleep(time.Until(start.Add(f.At)))
			a := s.apply(f)
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
		})
	}
	wg.Go(func() {
		for _, f := range natsTrack {
			time.Sleep(time.Until(start.Add(f.At)))
			a := s.apply(f)
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
		}
	})
	wg.Wait()
	return out
}

// apply carries out one fault and heals it.
func (s *system) apply(f chaos.Fault) appliedFault {
	t := s.t
	a := appliedFault{f: f, from: time.Now()}
	pause := func() { time.Sleep(f.Down) }
	switch f.Kind {
	case chaos.KillAPI, chaos.KillRelay, chaos.KillConsumer:
		p := map[chaos.Kind][]*proc{chaos.KillAPI: s.apis, chaos.KillRelay: s.relays, chaos.KillConsumer: s.cons}[f.Kind][f.Target]
		a.detail = p.name
		p.kill()
		pause()
		p.start()
	case chaos.KillStreamLeader, chaos.KillFollower, chaos.QuorumLoss:
		leader, followers := s.leader()
		var victims []int
		switch f.Kind {
		case chaos.KillStreamLeader:
			victims = []int{leader}
		case chaos.KillFollower:
			victims = followers[:1]
		case chaos.QuorumLoss:
			victims = []int{leader, followers[0]}
		}
		for _, i := range victims {
			a.detail += s.cluster.Nodes[i].Name + " "
			s.cluster.Kill(i)
		}
		pause()
		for _, i := range victims {
			s.cluster.Launch(i)
		}
	case chaos.CrashPostgres:
		s.pg.Crash()
		pause()
		s.pg.Start()
	case chaos.RelayPostgresCut:
		a.detail = "relay-1"
		s.pgCut.BlackHole(t)
		pause()
		s.pgCut.HealOnly(faultproxy.BlackHoleFault)
	case chaos.RelayPostgresLatency:
		a.detail = "relay-1"
		s.pgCut.Latency(t, chaos.RelayLatency)
		pause()
		s.pgCut.HealOnly(faultproxy.LatencyFault)
	case chaos.RelayNATSCut, chaos.RelayNATSReset:
		a.detail = "relay-1"
		fault := map[chaos.Kind]string{chaos.RelayNATSCut: faultproxy.BlackHoleFault, chaos.RelayNATSReset: faultproxy.ResetFault}[f.Kind]
		for _, px := range s.natsCut {
			if f.Kind == chaos.RelayNATSCut {
				px.BlackHole(t)
			} else {
				px.Reset(t)
			}
		}
		pause()
		for _, px := range s.natsCut {
			px.HealOnly(fault)
		}
	case chaos.RestartRedis:
		s.redis.Stop()
		down := time.Now()
		pause()
		s.redis.Restart()
		s.mu.Lock()
		s.redisOut = append(s.redisOut, [2]time.Time{down, time.Now()})
		s.mu.Unlock()
	}
	a.to = time.Now()
	return a
}

// leader returns the node leading the stream and the others; a leader
// election under way is waited for (up to 20 s), else node 1 is taken.
func (s *system) leader() (int, []int) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l, f, err := s.cluster.StreamLeader(ctx, s.js, stream)
		cancel()
		if err == nil && l >= 0 && len(f) == 2 {
			return l, f
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Logf("no stream leader found; taking n1")
	return 0, []int{1, 2}
}
