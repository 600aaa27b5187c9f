package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/internal/smtptest"
	"github.com/authevents/authevents/relay"
)

// durables are the consumer names per service (cmd/consumer).
var durables = map[string]string{"email": "email-service", "analytics": "analytics", "security": "security", "audit": "audit-log"}

// benchConsumer measures each subscriber service's drain rate: a stream of
// its own is filled with events, then `bin/consumer --service S` processes
// (1, then 2) are started and timed until their durable has nothing
// pending or unacknowledged. Email sends through SMTP to an in-process sink
// that accepts every message.
func benchConsumer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	dbURL := fs.String("db", "", "database URL of a migrated benchmark database")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS URL")
	bin := fs.String("consumer-bin", "bin/consumer", "consumer binary")
	events := fs.Int("events", 40_000, "events per round (email: a quarter, all user.registered)")
	services := fs.String("services", "email,analytics,security,audit", "services to measure")
	replicaList := fs.String("replicas", "1,2", "replica counts to measure")
	rounds := fs.Int("rounds", 3, "rounds per figure (the median is reported)")
	protect := fs.String("protect", protectOff, "personal fields: off (version 1 only), v1+v2 (both versions of each change; the consumers read v2, skip v1) or v2 (version 2 only); the consumers get PERSONAL_DATA_KEY unless off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header()
	pool, err := postgres.Open(ctx, *dbURL, 4, postgres.Session{AppName: "authevents-bench", StatementTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer pool.Close()
	users := make([]uuid.UUID, benchUsers)
	for i := range users {
		users[i] = benchUser(i)
	}
	prot, err := newProtector(ctx, pool, *protect, users)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	// An in-process SMTP server that accepts every message.
	sink, err := smtptest.Start()
	if err != nil {
		return err
	}
	defer sink.Close()
	var replicas []int
	for _, s := range strings.Split(*replicaList, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-replicas: %w", err)
		}
		replicas = append(replicas, n)
	}
	fmt.Printf("consumer: %d events per round (email %d), replicas %v, %d rounds, protect %s\n", *events, *events/4, replicas, *rounds, prot.mode)
	if prot.on() {
		fmt.Printf("(events = changes as the API makes them; with v1+v2 the stream holds two messages for each with personal fields, and msgs/s counts both)\n")
	}
	fmt.Println()
	fmt.Printf("%-10s %8s %12s   %-28s %s\n", "service", "replicas", "events/s", "rounds", "CPU per 1,000 events (median): consumer / postgres / nats-server; consumer peak RSS; x bare")
	bare, err := benchBare(ctx, js, *events, *rounds, prot)
	if err != nil {
		return err
	}
	for _, svc := range strings.Split(*services, ",") {
		durable, ok := durables[svc]
		if !ok {
			return fmt.Errorf("unknown service %q", svc)
		}
		n := *events
		if svc == "email" {
			n /= 4
		}
		for _, r := range replicas {
			var rates, msgRates, cpuCons, cpuPG, cpuNATS []float64
			var rss []int
			for round := range *rounds {
				stream := fmt.Sprintf("bench-cons-%d-%s-%d-%d", os.Getpid(), svc, r, round)
				msgs, err := fillStream(ctx, js, stream, svc == "email", n, prot)
				if err != nil {
					return err
				}
				settleNATS()
				sink.Reset()
				env := append(os.Environ(), "DATABASE_URL="+*dbURL, "NATS_URL="+*natsURL, "STREAM_NAME="+stream,
					"STREAM_SUBJECT_PREFIX="+stream+".", "DLQ_STREAM="+stream+"-dlq", "SMTP_URL="+sink.URL(), "LOG_LEVEL=warn")
				cpu0 := cpuByName("postgres", "nats-server")
				start := time.Now()
				procs, err := startConsumers(*bin, svc, env, r)
				if err != nil {
					return err
				}
				peak, err := waitDrained(ctx, js, stream, durable, procs)
				elapsed := time.Since(start)
				var consCPU time.Duration
				for _, p := range procs {
					consCPU += cpuOf(p.Process.Pid)
				}
				cpu1 := cpuByName("postgres", "nats-server")
				stopRelays(procs)
				// A version 2 event that does not open is dead-lettered:
				// none may be, or the rate is not that of reading them.
				dead, dlqErr := streamMsgs(ctx, js, stream+"-dlq")
				js.DeleteStream(context.WithoutCancel(ctx), stream)
				js.DeleteStream(context.WithoutCancel(ctx), stream+"-dlq")
				if err != nil {
					return fmt.Errorf("%s x%d: %w", svc, r, err)
				}
				if dlqErr != nil {
					return fmt.Errorf("%s x%d: dead-letter stream: %w", svc, r, dlqErr)
				}
				if dead > 0 {
					return fmt.Errorf("%s x%d: %d events dead-lettered", svc, r, dead)
				}
				if svc == "email" && sink.Count() < n {
					return fmt.Errorf("email: %d mails sent for %d events", sink.Count(), n)
				}
				k := float64(n) / 1000
				rates = append(rates, float64(n)/elapsed.Seconds())
				msgRates = append(msgRates, float64(msgs)/elapsed.Seconds())
				cpuCons = append(cpuCons, consCPU.Seconds()*1000/k)
				cpuPG = append(cpuPG, (cpu1["postgres"]-cpu0["postgres"]).Seconds()*1000/k)
				cpuNATS = append(cpuNATS, (cpu1["nats-server"]-cpu0["nats-server"]).Seconds()*1000/k)
				rss = append(rss, peak)
			}
			slices.Sort(rss)
			fmt.Printf("%-10s %8d %12.0f   %-28s %.1f / %.1f / %.1f ms; %.1f MB; %.3fx bare\n", svc, r, medianOf(rates), fmtRates(rates),
				medianOf(cpuCons), medianOf(cpuPG), medianOf(cpuNATS), float64(rss[len(rss)/2])/1024, medianOf(rates)/bare)
			if prot.mode == protectV1 {
				fmt.Printf("%-10s %8d %12.0f   msgs/s (%s)\n", "", r, medianOf(msgRates), fmtRates(msgRates))
			}
		}
	}
	fmt.Println("\nrates include process start-up; the load, PostgreSQL and NATS share this machine's cores")
	return nil
}

// benchUsers is the number of users the consumer benchmark's events are
// spread over; benchUser(i) is the id of user i%benchUsers.
const benchUsers = 2000

func benchUser(i int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(i%benchUsers)))
}

// fillStream creates stream and publishes n events (changes, in the
// versions prot makes): user.registered only (the email service's), or a
// mix like the API's traffic over 2,000 users. It returns the number of
// messages published.
func fillStream(ctx context.Context, js jetstream.JetStream, stream string, registeredOnly bool, n int, prot *protector) (int, error) {
	if _, err := relay.EnsureStream(ctx, js, relay.StreamConfig{Name: stream, Subjects: []string{stream + ".user.*"},
		MaxAge: time.Hour, MaxMsgs: -1, MaxBytes: -1, Duplicates: relay.DefaultDuplicateWindow}); err != nil {
		return 0, err
	}
	now := authevents.Timestamp(time.Now())
	futs := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		id := uuid.Must(uuid.NewV7())
		user := benchUser(i).String()
		email := "user" + strconv.Itoa(i%2000) + "@example.com"
		ip := "203.0.113." + strconv.Itoa(i%200)
		var typ string
		var data any
		switch p := i % 20; {
		case registeredOnly || p < 2:
			typ, data = authevents.EventUserRegistered, authevents.UserRegistered{UserID: user, Email: "new" + strconv.Itoa(i) + "@example.com", Name: "Bench User", Timestamp: now}
		case p < 10:
			typ, data = authevents.EventUserLoggedIn, authevents.UserLoggedIn{UserID: user, Email: email, Timestamp: now, IP: ip, UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
		case p < 17:
			typ, data = authevents.EventUserTokenRefreshed, authevents.UserTokenRefreshed{UserID: user, SessionID: uuid.NewString(), Timestamp: now}
		case p < 19:
			typ, data = authevents.EventUserLoginFailed, authevents.UserLoginFailed{Email: email, UserID: user, IP: ip, UserAgent: "curl/8", Reason: authevents.ReasonInvalidPassword, Timestamp: now}
		default:
			typ, data = authevents.EventUserLoggedOut, authevents.UserLoggedOut{UserID: user, SessionID: uuid.NewString(), Timestamp: now}
		}
		ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service", ServiceVersion: "bench", Environment: "bench"},
			id.String(), typ, user, time.Time(now), data)
		if err != nil {
			return 0, err
		}
		versions, err := prot.versions(ce)
		if err != nil {
			return 0, err
		}
		for _, v := range versions {
			body, err := json.Marshal(v)
			if err != nil {
				return 0, err
			}
			msg := &nats.Msg{Subject: stream + "." + v.Type, Data: body, Header: nats.Header{}}
			msg.Header.Set(jetstream.MsgIDHeader, v.ID)
			msg.Header.Set("Content-Type", authevents.ContentTypeCloudEvents)
			f, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(30*time.Second))
			if err != nil {
				return 0, err
			}
			futs = append(futs, f)
		}
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, fmt.Errorf("fill stream: %w", err)
		}
	}
	return len(futs), nil
}

// settleNATS waits (at most 5 s) until the nats-server has stopped working
// on the publishes just acknowledged (under 5 % of a core over 250 ms):
// otherwise that work lands in the timed drain, more of it the faster the
// stream was filled (without protection: no encryption between publishes).
func settleNATS() {
	deadline := time.Now().Add(5 * time.Second)
	last := cpuByName("nats-server")["nats-server"]
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		now := cpuByName("nats-server")["nats-server"]
		if now-last < 12500*time.Microsecond {
			return
		}
		last = now
	}
}
