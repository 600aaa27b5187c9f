package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/chaos"
	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/faultproxy"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

const stream = "auth-events"

// durables are the consumers whose backlog must be empty when drained.
var durables = []string{"email-service", "analytics", "security", "audit-log"}

// profile reads CHAOS_PROFILE (short|full), CHAOS_DURATION (full only) and
// CHAOS_SEED; without a seed one is drawn and printed.
func profile(t *testing.T) chaos.Profile {
	seed := rand.Uint64() % 1_000_000
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
		seed = v
	}
	if os.Getenv("CHAOS_PROFILE") == "full" {
		d := 5 * time.Minute
		if s := os.Getenv("CHAOS_DURATION"); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v < 2*time.Minute {
				t.Fatalf("CHAOS_DURATION must be a duration of at least 2m: %q", s)
			}
			d = v
		}
		return withNice(t, chaos.Full(seed, d))
	}
	return withNice(t, chaos.Short(seed))
}

// withNice applies CHAOS_NICE, the niceness of the NATS nodes, relays and
// consumers (default 10; 0 runs everything at one priority).
func withNice(t *testing.T, p chaos.Profile) chaos.Profile {
	p.Nice = 10
	if s := os.Getenv("CHAOS_NICE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 19 {
			t.Fatalf("CHAOS_NICE must be 0..19: %q", s)
		}
		p.Nice = v
	}
	return p
}

// system is the whole deployment under test.
type system struct {
	t        *testing.T
	pg       *pgtest.Server
	redis    *redistest.Server
	cluster  *natstest.Cluster
	pgCut    *faultproxy.Proxy   // relay 1 → PostgreSQL
	natsCut  []*faultproxy.Proxy // relay 1 → each NATS node
	apis     []*proc
	relays   []*proc
	cons     []*proc
	sup      *supervisor
	pool     *pgxpool.Pool
	js       jetstream.JetStream
	sink     *smtpSink
	apiURLs  []string
	logs     string
	mu       sync.Mutex
	redisOut [][2]time.Time
}

// TestChaos runs the system on a 3-node JetStream cluster under steady load
// while the seeded schedule kills, crashes and partitions its parts, then
// judges the run against the load's ground truth (see package doc and
// docs/reliability.md). Reproduce a run with CHAOS_SEED=<seed>.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos suite runs a minute")
	}
	p := profile(t)
	plan := chaos.Plan(p)
	if only := os.Getenv("CHAOS_ONLY"); only != "" {
		// One kind of fault alone, at its scheduled times: to study it.
		var kept []chaos.Fault
		for _, f := range plan {
			if string(f.Kind) == only {
				kept = append(kept, f)
			}
		}
		plan = kept
	}
	t.Logf("chaos profile %s, seed %d (CHAOS_SEED=%d reproduces the schedule), %s of load at %.0f req/s; schedule:", p.Name, p.Seed, p.Seed, p.Duration, p.Rate)
	for _, f := range plan {
		t.Log("  " + f.String())
	}
	s := startSystem(t, p)

	ctx := context.Background()
	var res *load.Result
	start := time.Now()
	lcfg := load.Config{URLs: s.apiURLs, Rate: p.Rate, Duration: p.Duration, Seed: p.Seed, Actors: 32}
	if os.Getenv("CHAOS_PROGRESS") != "" {
		lcfg.Progress = func(sn load.Snapshot) {
			fmt.Fprintf(os.Stderr, "\r%5.0fs %7d req %5.1f/s %5d errors p99 %6.1f ms ", sn.Elapsed.Seconds(), sn.Requests, sn.Rate, sn.Errors, float64(sn.P99.Microseconds())/1000)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		res, err = load.Run(ctx, lcfg)
		if err != nil {
			t.Error(err)
		}
	}()
	applied := s.run(start, plan)
	<-done
	if res == nil {
		t.FailNow()
	}
	var lastHeal time.Time
	for _, a := range applied {
		if a.to.After(lastHeal) {
			lastHeal = a.to
		}
	}
	drained := s.waitDrained(3 * time.Minute)
	s.sup.mu.Lock()
	s.sup.done = true
	var lost []time.Time // when a sent e-mail's record could be lost
	for _, c := range s.cons {
		lost = append(lost, s.sup.kills[c.name]...)
	}
	exits := append([]string(nil), s.sup.exits...)
	boots := append([]string(nil), s.sup.boots...)
	s.sup.mu.Unlock()

	var actual []chaos.Fault // the faults as applied
	for _, a := range applied {
		actual = append(actual, chaos.Fault{Kind: a.f.Kind, At: a.from.Sub(start), Down: a.to.Sub(a.from), Target: a.f.Target})
		if a.f.Kind == chaos.CrashPostgres {
			lost = append(lost, a.from)
		}
	}
	ev := chaos.Evidence{Start: start, Plan: actual, Profile: p, Samples: res.Samples, Truth: res.Truth,
		Stream: s.readStream(), Audit: s.audit(), Analytics: s.analytics(), Emails: s.sink.emails(),
		LastHeal: lastHeal, Drained: drained, RedisOutages: s.redisOut, SendRecordLosses: lost, Exits: exits}
	v := chaos.Judge(ev)

	var table strings.Builder
	v.Print(&table)
	t.Logf("verdict (seed %d):\n%s", p.Seed, table.String())
	for _, b := range boots {
		t.Logf("start-up exit, restarted by the supervisor: %s", b)
	}
	for _, x := range ev.Exits {
		t.Logf("unprompted death: %s", x)
	}
	lrep := res.Report(lcfg, false)
	report := map[string]any{"profile": p, "seed": p.Seed, "schedule": plan, "applied": appliedJSON(start, applied),
		"verdict": v, "load": lrep, "startupExits": boots, "logs": s.logs}
	path := os.Getenv("CHAOS_REPORT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "report.json")
	}
	if err := load.WriteJSON(path, report); err != nil {
		t.Error(err)
	}
	if f, err := os.Create(filepath.Join(s.logs, "samples.jsonl")); err == nil {
		enc := json.NewEncoder(f)
		for _, sm := range res.Samples {
			enc.Encode(map[string]any{"at": sm.At.Sub(start).Seconds(), "op": sm.Op, "status": sm.Status, "ms": float64(sm.Latency.Microseconds()) / 1000})
		}
		f.Close()
	}
	t.Logf("report: %s; process logs and samples.jsonl: %s", path, s.logs)
	if !v.OK {
		t.Errorf("chaos verdict violated (seed %d); reproduce with CHAOS_SEED=%d", p.Seed, p.Seed)
	}
}

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

func startSystem(t *testing.T, p chaos.Profile) *system {
	bins := testenv.BuildCommands(t, "./cmd/api", "./cmd/relay", "./cmd/consumer")
	s := &system{t: t, sup: &supervisor{kills: map[string][]time.Time{}}, logs: logDir(t)}
	s.pg = pgtest.StartServer(t)
	dbURL := s.pg.CreateDatabase("authevents")
	s.pool = pgtest.Migrated(t, dbURL)
	s.redis = redistest.Start(t)
	s.cluster = natstest.StartCluster(t, 3, p.Nice)
	nc := natstest.Connect(t, s.cluster.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	s.js, _ = jetstream.New(nc)

	s.pgCut = faultproxy.Start(t, s.pg.Addr)
	var cutURLs []string
	for _, n := range s.cluster.Nodes {
		px := faultproxy.Start(t, n.Addr)
		s.natsCut = append(s.natsCut, px)
		cutURLs = append(cutURLs, "nats://"+px.Addr)
	}

	s.sink = &smtpSink{seen: map[string][]time.Time{}}
	srv := smtp.NewServer(s.sink)
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	key := filepath.Join(t.TempDir(), "key.pem")
	if err := token.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+s.redis.URL(), "NATS_URL="+s.cluster.URL(),
		"JWT_PRIVATE_KEY_FILE="+key, "ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", "RATE_LIMIT_ENABLED=false",
		"LOG_LEVEL=warn", "STREAM_REPLICAS=3",
		// Retries ride out the longest outage of the schedule (20 s);
		// an ack wait of 5 s redelivers a killed replica's messages soon.
		"CONSUMER_ATTEMPTS=8", "CONSUMER_BACKOFF=1s,2s,5s,10s", "CONSUMER_ACK_WAIT=5s",
		"SMTP_URL=smtp://"+ln.Addr().String()+"?tls=none")
	newProc := func(name, bin string, extra []string, args ...string) *proc {
		ops := testenv.FreeAddr(t)
		return &proc{name: name, path: filepath.Join(bins, bin), args: args, ops: ops, t: t, sup: s.sup,
			env: append(append(append([]string{}, env...), "OPS_ADDR="+ops), extra...), logPath: filepath.Join(s.logs, name+".log")}
	}
	for i := range p.Relays {
		var extra []string
		if i == 0 { // relay 1 reaches its servers through the fault proxies
			u := strings.Replace(dbURL, s.pg.Addr, s.pgCut.Addr, 1)
			extra = []string{"DATABASE_URL=" + u, "NATS_URL=" + strings.Join(cutURLs, ",")}
		}
		r := newProc(fmt.Sprintf("relay-%d", i+1), "relay", extra)
		r.nice = p.Nice
		s.relays = append(s.relays, r)
	}
	services := []string{"email", "analytics", "security", "audit"}
	for i := range p.Consumers {
		svc := services[i%len(services)]
		c := newProc(fmt.Sprintf("consumer-%s-%d", svc, i/len(services)+1), "consumer", nil, "--service", svc)
		c.nice = p.Nice
		s.cons = append(s.cons, c)
	}
	for i := range p.APIs {
		addr := testenv.FreeAddr(t)
		s.apis = append(s.apis, newProc(fmt.Sprintf("api-%d", i+1), "api", []string{"HTTP_ADDR=" + addr}))
		s.apiURLs = append(s.apiURLs, "http://"+addr)
	}
	all := append(append(append([]*proc{}, s.relays...), s.cons...), s.apis...)
	// Registered after the servers' clean-ups, so it runs before them:
	// the processes stop while their servers still answer.
	t.Cleanup(func() {
		s.sup.mu.Lock()
		s.sup.done = true
		s.sup.mu.Unlock()
		var wg sync.WaitGroup
		for _, p := range all {
			wg.Go(p.stop)
		}
		wg.Wait()
	})
	for _, p := range all {
		p.start()
	}
	for _, p := range all {
		p.waitReady(t, 60*time.Second)
	}
	// The relays provision the stream with STREAM_REPLICAS=3.
	testenv.WaitFor(t, "the stream on three replicas with a leader", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := s.js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.Config.Replicas == 3 && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
	})
	return s
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

// waitDrained waits until the outbox is empty and every consumer has
// acknowledged every message, and returns when that was first seen.
func (s *system) waitDrained(within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s.drained() {
			return time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
	s.t.Errorf("not drained within %s of the end of the load", within)
	return time.Time{}
}

func (s *system) drained() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil || n > 0 {
		return false
	}
	for _, d := range durables {
		c, err := s.js.Consumer(ctx, stream, d)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

// readStream reads every message of the stream with an ordered consumer.
func (s *system) readStream() []chaos.StreamMsg {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	msgs := natstest.Collect(s.t, s.js, stream, int(info.State.Msgs), 60*time.Second)
	if len(msgs) != int(info.State.Msgs) {
		s.t.Fatalf("read %d messages of %d", len(msgs), info.State.Msgs)
	}
	var out []chaos.StreamMsg
	for _, m := range msgs {
		var ce struct {
			ID, Type, Subject string
			Data              struct {
				UserID    string `json:"userId"`
				SessionID string `json:"sessionId"`
			}
		}
		json.Unmarshal(m.Data(), &ce)
		md, _ := m.Metadata()
		sm := chaos.StreamMsg{MsgID: m.Headers().Get(nats.MsgIdHdr), ID: ce.ID, Type: ce.Type, UserID: ce.Data.UserID, SessionID: ce.Data.SessionID}
		if md != nil {
			sm.Seq = md.Sequence.Stream
		}
		out = append(out, sm)
	}
	return out
}

func (s *system) audit() map[string]int {
	out := map[string]int{}
	rows, err := s.pool.Query(context.Background(), `SELECT event_id::text, count(*) FROM audit_log GROUP BY 1`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		out[id] = n
	}
	return out
}

func (s *system) analytics() map[string]int {
	out := map[string]int{}
	rows, err := s.pool.Query(context.Background(), `SELECT type, sum(count)::int FROM analytics_event_counts GROUP BY 1`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var n int
		rows.Scan(&typ, &n)
		out[typ] = n
	}
	return out
}
