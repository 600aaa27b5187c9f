// Package chaos proves the guarantees of authevents on a real cluster under
// steady load and overlapping faults: a 3-node JetStream cluster, a private
// PostgreSQL and Redis that are crashed and restarted, toxiproxy fault
// proxies between a relay and its servers, 2 API processes, 3 relays and 2
// replicas of each consumer service. The faults follow a schedule drawn
// from a seed (Plan), so a run can be reproduced; the verdict (Judge)
// compares the load generator's ground truth with the stream, the audit
// log, the analytics counts and the e-mail sink. The suite itself is
// TestChaos (a short profile in `make test`, the full one in `make chaos`);
// docs/reliability.md has the figures.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults of the schedule.
const (
	KillAPI          Kind = "kill-api"           // SIGKILL an API process, restart it later
	KillRelay        Kind = "kill-relay"         // SIGKILL a relay
	KillConsumer     Kind = "kill-consumer"      // SIGKILL a consumer replica
	KillStreamLeader Kind = "kill-stream-leader" // SIGKILL the NATS node leading auth-events
	KillFollower     Kind = "kill-nats-follower" // SIGKILL a NATS node that does not lead it
	QuorumLoss       Kind = "nats-quorum-loss"   // two of three NATS nodes down
	CrashPostgres    Kind = "crash-postgres"     // immediate shutdown (no checkpoint), restart
	RelayPostgresCut Kind = "relay-postgres-blackhole"
	RelayNATSCut     Kind = "relay-nats-blackhole"
	RestartRedis     Kind = "restart-redis"
	// toxiproxy's other faults, on relay 1's links: its PostgreSQL
	// answers late; its NATS connections are reset (closed with a TCP
	// RST) as they open.
	RelayPostgresLatency Kind = "relay-postgres-latency"
	RelayNATSReset       Kind = "relay-nats-reset"
)

// Kinds lists every kind, in report order.
var Kinds = []Kind{KillAPI, KillRelay, KillConsumer, KillStreamLeader, KillFollower, QuorumLoss,
	CrashPostgres, RelayPostgresCut, RelayNATSCut, RestartRedis, RelayPostgresLatency, RelayNATSReset}

// Broker reports whether the fault is trouble between the relays and NATS:
// the API must not notice it.
func (k Kind) Broker() bool {
	return k == KillStreamLeader || k == KillFollower || k == QuorumLoss || k == RelayNATSCut || k == RelayNATSReset
}

// HitsAPI reports whether the fault takes away something the API needs (an
// API process, PostgreSQL, Redis): requests may fail while it lasts.
func (k Kind) HitsAPI() bool { return k == KillAPI || k == CrashPostgres || k == RestartRedis }

// Fault is one scheduled fault, in offsets from the start of the load.
type Fault struct {
	Kind   Kind          `json:"kind"`
	At     time.Duration `json:"at"`     // when it starts
	Down   time.Duration `json:"down"`   // how long it lasts
	Target int           `json:"target"` // which replica (API, relay, consumer process), when it matters
}

// End is when the fault is healed.
func (f Fault) End() time.Duration { return f.At + f.Down }

func (f Fault) String() string {
	return fmt.Sprintf("%6.1fs %-25s %5.1fs target %d", f.At.Seconds(), f.Kind, f.Down.Seconds(), f.Target)
}

// Profile is the shape of a run.
type Profile struct {
	Name      string        `json:"name"`
	Seed      uint64        `json:"seed"`
	Duration  time.Duration `json:"duration"` // of the load
	Warmup    time.Duration `json:"warmup"`   // fault-free at the start
	Tail      time.Duration `json:"tail"`     // fault-free at the end
	Rate      float64       `json:"rate"`     // requests/s
	APIs      int           `json:"apis"`
	Relays    int           `json:"relays"`
	Consumers int           `json:"consumers"` // consumer processes (replicas × services)
	// Nice is the CPU niceness of the NATS nodes, relays and consumers:
	// on one machine it stands for their running on machines of their
	// own, so that their recovery work does not take the API's CPU.
	Nice int `json:"nice"`
	// NodeDown is the range of a killed NATS node's downtime, Gap the
	// pause between two NATS faults (a restarted node catches up; past
	// QuietSettle the gap is fault-free baseline, interleaved with the
	// faults).
	NodeDown, Gap [2]time.Duration
	// Pause is the range of a killed process's or crashed server's
	// downtime.
	Pause [2]time.Duration
	// EmailVerification is the API's EMAIL_VERIFICATION: required (the
	// virtual users follow the verification link before they sign in) or
	// optional.
	EmailVerification string `json:"emailVerification"`
	// Events is which versions of the events the API publishes and the
	// consumers read (PERSONAL_DATA_KEY, EVENTS_V1).
	Events Events `json:"events"`
}

// Short is the profile `make test` runs: about a minute, every kind of
// fault at least once.
func Short(seed uint64) Profile {
	return Profile{Name: "short", Seed: seed, Duration: 70 * time.Second, Warmup: 14 * time.Second, Tail: 5 * time.Second,
		Rate: 50, APIs: 2, Relays: 3, Consumers: 8,
		NodeDown: [2]time.Duration{4 * time.Second, 6 * time.Second}, Gap: [2]time.Duration{QuietSettle + 2*time.Second, QuietSettle + 3*time.Second},
		Pause: [2]time.Duration{2 * time.Second, 5 * time.Second}}
}

// Full is the profile of `make chaos`: 5 minutes by default.
func Full(seed uint64, d time.Duration) Profile {
	return Profile{Name: "full", Seed: seed, Duration: d, Warmup: 30 * time.Second, Tail: 15 * time.Second,
		Rate: 60, APIs: 2, Relays: 3, Consumers: 8,
		NodeDown: [2]time.Duration{5 * time.Second, 15 * time.Second}, Gap: [2]time.Duration{QuietSettle + 3*time.Second, QuietSettle + 10*time.Second},
		Pause: [2]time.Duration{2 * time.Second, 8 * time.Second}}
}

// QuorumDown is how long two NATS nodes stay down.
const QuorumDown = 20 * time.Second

// CutDown is how long a black hole lasts (and a latency or reset fault).
const CutDown = 10 * time.Second

// RelayLatency is the delay added to relay 1's PostgreSQL replies.
const RelayLatency = 200 * time.Millisecond

// Plan draws the schedule of p from its seed: the same seed, the same
// schedule. NATS node faults follow one another (each on a cluster whose
// nodes are all back), the others fall anywhere in the fault window and
// overlap them and each other. Every kind occurs at least once; more
// often on longer runs. A draw that would leave less than a third of the
// broker faults' time free of faults that hit the API is drawn again, so
// the latency verdict has samples to judge.
func Plan(p Profile) []Fault {
	rng := rand.New(rand.NewPCG(p.Seed, 0x5eed))
	for {
		plan := draw(p, rng)
		if BrokerOnly(plan) >= BrokerTime(plan)/3 {
			return plan
		}
	}
}

func between(rng *rand.Rand, r [2]time.Duration) time.Duration {
	if r[1] <= r[0] {
		return r[0]
	}
	return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])))
}

func draw(p Profile, rng *rand.Rand) []Fault {
	from, to := p.Warmup, p.Duration-p.Tail
	var plan []Fault
	// The NATS track: rounds of the three node faults in a random order.
	at := from
	nodeFaults := []Kind{KillStreamLeader, KillFollower, QuorumLoss}
	for {
		rng.Shuffle(len(nodeFaults), func(i, j int) { nodeFaults[i], nodeFaults[j] = nodeFaults[j], nodeFaults[i] })
		placed := 0
		for _, k := range nodeFaults {
			down := between(rng, p.NodeDown)
			if k == QuorumLoss {
				down = QuorumDown
			}
			if at+down > to {
				continue
			}
			plan = append(plan, Fault{Kind: k, At: at, Down: down})
			at += down + between(rng, p.Gap)
			placed++
		}
		if placed == 0 {
			break
		}
	}
	// The others: once per started minute of the fault window, each at a
	// random time.
	rounds := max(1, int((to-from+time.Minute-1)/time.Minute))
	for _, k := range []Kind{KillAPI, KillRelay, KillConsumer, CrashPostgres, RelayPostgresCut, RelayNATSCut, RestartRedis,
		RelayPostgresLatency, RelayNATSReset} {
		for range rounds {
			down := between(rng, p.Pause)
			if k == RelayPostgresCut || k == RelayNATSCut || k == RelayPostgresLatency || k == RelayNATSReset {
				down = CutDown
			}
			// One fault of a kind on one target at a time: a process is
			// not killed twice over, a server not crashed while down.
			var f Fault
			for try := 0; try == 0 || (try < 100 && clashes(plan, f)); try++ {
				f = Fault{Kind: k, Down: down, At: from + time.Duration(rng.Int64N(int64(to-from-down)))}
				switch k {
				case KillAPI:
					f.Target = rng.IntN(p.APIs)
				case KillRelay:
					f.Target = rng.IntN(p.Relays)
				case KillConsumer:
					f.Target = rng.IntN(p.Consumers)
				}
			}
			if clashes(plan, f) {
				continue
			}
			plan = append(plan, f)
		}
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].At < plan[j].At })
	return plan
}

// clashes reports whether f overlaps a fault of its kind and target in
// plan, with 3 s to spare (a restart takes time beyond the plan).
func clashes(plan []Fault, f Fault) bool {
	for _, g := range plan {
		if g.Kind == f.Kind && g.Target == f.Target && f.At < g.End()+3*time.Second && g.At < f.End()+3*time.Second {
			return true
		}
	}
	return false
}
