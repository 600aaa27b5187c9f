package chaos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/chaos"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/faultproxy"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

const stream = "auth-events"

// durables are the consumers whose backlog must be empty when drained.
var durables = []string{"email-service", "analytics", "security", "audit-log"}

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
	sink     *smtptest.Server
	apiURLs  []string
	logs     string
	mu       sync.Mutex
	redisOut [][2]time.Time
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

	s.sink = smtptest.New(t)

	key := filepath.Join(t.TempDir(), "key.pem")
	if err := token.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	// Links are sealed to the email service's key; the verification
	// mode is the profile's. ENUMERATION_FLOOR is what register takes at
	// least under required verification (250 ms by default): the suite
	// judges auth latency, not the floor.
	pub, priv := token.GenerateSealKey()
	env := append(os.Environ(), "EMAIL_VERIFICATION="+p.EmailVerification, "MAIL_SEAL_PUBLIC_KEY="+pub, "MAIL_SEAL_PRIVATE_KEY="+priv,
		"ENUMERATION_FLOOR=10ms", "DATABASE_URL="+dbURL, "REDIS_URL="+s.redis.URL(), "NATS_URL="+s.cluster.URL(),
		"JWT_PRIVATE_KEY_FILE="+key, "ARGON2_MEMORY_KIB=1024", "ARGON2_ITERATIONS=1", "RATE_LIMIT_ENABLED=false",
		"LOG_LEVEL=warn", "STREAM_REPLICAS=3",
		// Retries ride out the longest outage of the schedule (20 s);
		// an ack wait of 5 s redelivers a killed replica's messages soon.
		"CONSUMER_ATTEMPTS=8", "CONSUMER_BACKOFF=1s,2s,5s,10s", "CONSUMER_ACK_WAIT=5s",
		"SMTP_URL="+s.sink.URL(),
		// Every process holds the run's key: the API publishes version 2
		// (and version 1 in the dual period), the consumers read version 2.
		"PERSONAL_DATA_KEY="+personal.GenerateKEK(), "EVENTS_V1="+strconv.FormatBool(p.Events == chaos.EventsDual))
	newProc := func(name, bin string, extra []string, args ...string) *proc {
		ops := testenv.StableAddr(t) // a restarted process rebinds it
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
		addr := testenv.StableAddr(t)
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
