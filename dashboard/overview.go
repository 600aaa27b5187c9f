// Package dashboard serves the Auth Events Dashboard: one page, and the
// JSON it polls (/api/overview), with five panels read from the systems of
// record at each refresh: PostgreSQL (the relay's durable per-minute
// counters, the outbox, the relay connections) and JetStream's own state
// (stream, consumers, dead-letter stream). Nothing is kept in this
// process's memory but the time a source went down, so the figures are
// right with any number of relay or consumer replicas, after restarts, and
// without Prometheus.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/internal/subjects"
	"github.com/authevents/authevents/outbox"
)

// Overview is the JSON of GET /api/overview. A panel whose source is down
// is null, and Sources says since when: the page shows that, never zeros.
type Overview struct {
	GeneratedAt time.Time `json:"generatedAt"`
	// RefreshSeconds is how often the page polls.
	RefreshSeconds float64 `json:"refreshSeconds"`
	// Sources: "postgres" and "jetstream".
	Sources   map[string]Source `json:"sources"`
	Events    *Events           `json:"events"`
	Latency   *Latency          `json:"latency"`
	Stream    *Stream           `json:"stream"`
	Consumers *Consumers        `json:"consumers"`
	Outbox    *Outbox           `json:"outbox"`
}

// Source is the reachability of one system of record.
type Source struct {
	Up bool `json:"up"`
	// DownSince is when the dashboard first failed to read it, in this
	// outage (null while up).
	DownSince *time.Time `json:"downSince"`
	Error     string     `json:"error,omitempty"`
}

// Events is panel 1: publishing per event type over the window.
type Events struct {
	WindowSeconds float64      `json:"windowSeconds"`
	Types         []TypeEvents `json:"types"`
	// PendingCapped: more pending rows than PendingCountLimit were created
	// in the window; their share of Count is a lower bound.
	PendingCapped bool `json:"pendingCapped"`
}

// TypeEvents are one type's figures. Count = Published + Dead + Pending:
// every event of the window that was published, given up on, or is still
// waiting. Failed = Refused: publishes JetStream refused for the message
// itself (each costs the row an attempt; the last one makes it Dead).
type TypeEvents struct {
	Type      string `json:"type"`
	Count     int64  `json:"count"`
	Published int64  `json:"published"`
	Failed    int64  `json:"failed"`
	Dead      int64  `json:"dead"`
	Pending   int64  `json:"pending"`
}

// Latency is panel 2: commit (row created_at) to PubAck, p95.
type Latency struct {
	// P95Ms over the last CurrentMinutes minutes; null without publishes.
	P95Ms          *float64 `json:"p95Ms"`
	CurrentMinutes int      `json:"currentMinutes"`
	// Minutes: the last hour, oldest first, one point per minute; a
	// minute without publishes has a null p95.
	Minutes []LatencyPoint `json:"minutes"`
}

// LatencyPoint is one minute of the sparkline.
type LatencyPoint struct {
	Minute    time.Time `json:"minute"`
	P95Ms     *float64  `json:"p95Ms"`
	Published int64     `json:"published"`
}

// Stream is panel 3: the JetStream stream's state against its limits.
type Stream struct {
	Name        string `json:"name"`
	Messages    uint64 `json:"messages"`
	MaxMessages int64  `json:"maxMessages"` // -1: no limit
	Bytes       uint64 `json:"bytes"`
	MaxBytes    int64  `json:"maxBytes"` // -1: no limit
	// OldestAgeSeconds: age of the oldest stored message (null when empty).
	OldestAgeSeconds *float64 `json:"oldestAgeSeconds"`
	MaxAgeSeconds    float64  `json:"maxAgeSeconds"` // 0: no limit
	Consumers        int      `json:"consumers"`
	// ActiveConsumers have a pull request waiting or a delivery in the
	// last minute.
	ActiveConsumers int    `json:"activeConsumers"`
	Replicas        int    `json:"replicas"`
	Leader          string `json:"leader"`
	Cluster         string `json:"cluster"`
}

// Consumers is panel 4.
type Consumers struct {
	LagWarningSeconds float64    `json:"lagWarningSeconds"`
	Items             []Consumer `json:"items"`
	// DLQ is the dead-letter stream; DLQMissing when it does not exist
	// (no consumer ran yet).
	DLQ        string `json:"dlq"`
	DLQMissing bool   `json:"dlqMissing"`
}

// Consumer is one durable consumer of the stream.
type Consumer struct {
	Name   string `json:"name"`
	Filter string `json:"filter"`
	// Pending: not yet delivered. AckPending: delivered, not yet acked.
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ackPending"`
	// Acknowledged: stored messages of its subjects it has acknowledged
	// (stored of its subjects − pending − ack pending).
	Acknowledged uint64 `json:"acknowledged"`
	// LagSeconds: age of the oldest message it has not acknowledged.
	LagSeconds float64 `json:"lagSeconds"`
	// Redelivered: messages redelivered and not yet acknowledged.
	Redelivered int `json:"redelivered"`
	// DLQ: its messages in the dead-letter stream.
	DLQ uint64 `json:"dlq"`
	// Warning: lag at or past the threshold, or dead letters waiting.
	Warning bool `json:"warning"`
}

// Outbox is panel 5.
type Outbox struct {
	outbox.Stats
	// RelayReplicas: relay processes connected to PostgreSQL (each holds
	// one LISTEN connection).
	RelayReplicas int64 `json:"relayReplicas"`
}

// PendingCountLimit bounds the pending rows counted per refresh.
const PendingCountLimit = 100_000

// Window is panel 1's window; SparklineWindow panel 2's.
const (
	Window          = 24 * time.Hour
	SparklineWindow = time.Hour
	currentMinutes  = 5
)

// KnownTypes are the event types the system emits: each has a row in
// panel 1, counted or not.
var KnownTypes = []string{authevents.EventUserRegistered, authevents.EventUserLoggedIn, authevents.EventUserLoginFailed,
	authevents.EventUserTokenRefreshed, authevents.EventUserLoggedOut, authevents.EventTokenReuseDetected}

// relayAppName is the relay's application_name (cmd/relay).
const relayAppName = "authevents-relay"

// readPostgres fills the panels whose figures live in PostgreSQL.
func readPostgres(ctx context.Context, pool *pgxpool.Pool, ov *Overview) error {
	counts, err := outbox.ReadCounts(ctx, pool, Window)
	if err != nil {
		return err
	}
	pending, capped, err := outbox.PendingBySubject(ctx, pool, Window, PendingCountLimit)
	if err != nil {
		return err
	}
	byType := map[string]*TypeEvents{}
	ev := &Events{WindowSeconds: Window.Seconds(), PendingCapped: capped}
	get := func(typ string) *TypeEvents {
		if byType[typ] == nil {
			byType[typ] = &TypeEvents{Type: typ}
		}
		return byType[typ]
	}
	for _, typ := range KnownTypes {
		get(typ)
	}
	for _, c := range counts {
		te := get(c.Type)
		te.Published, te.Failed, te.Dead = c.Published, c.Refused, c.Dead
	}
	for subject, n := range pending {
		get(eventType(subject)).Pending += n
	}
	for _, te := range byType {
		te.Count = te.Published + te.Dead + te.Pending
		ev.Types = append(ev.Types, *te)
	}
	// Known types first, in the order of the domain, then any other.
	slices.SortFunc(ev.Types, func(a, b TypeEvents) int {
		ia, ib := slices.Index(KnownTypes, a.Type), slices.Index(KnownTypes, b.Type)
		if ia < 0 {
			ia = len(KnownTypes)
		}
		if ib < 0 {
			ib = len(KnownTypes)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a.Type, b.Type)
	})

	minutes, now, err := outbox.ReadLatency(ctx, pool, SparklineWindow)
	if err != nil {
		return err
	}
	lat := &Latency{CurrentMinutes: currentMinutes}
	current := make([]int64, len(outbox.LatencyBucketsMs)+1)
	byMinute := map[time.Time]outbox.LatencyMinute{}
	for _, m := range minutes {
		byMinute[m.Minute.UTC()] = m
		if now.Sub(m.Minute) < currentMinutes*time.Minute {
			for i, n := range m.Counts {
				current[i] += n
			}
		}
	}
	for i := 59; i >= 0; i-- {
		minute := now.Add(-time.Duration(i) * time.Minute).UTC()
		p := LatencyPoint{Minute: minute}
		if m, ok := byMinute[minute]; ok {
			p.P95Ms = quantile(m.Counts)
			for _, n := range m.Counts {
				p.Published += n
			}
		}
		lat.Minutes = append(lat.Minutes, p)
	}
	lat.P95Ms = quantile(current)

	stats, err := outbox.ReadStats(ctx, pool)
	if err != nil {
		return err
	}
	ob := &Outbox{Stats: stats}
	// Each relay process holds one connection LISTENing for the outbox
	// NOTIFY for as long as it runs: counting those counts the replicas.
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_stat_activity
		 WHERE datname = current_database() AND application_name = $1 AND query ILIKE 'LISTEN %'`,
		relayAppName).Scan(&ob.RelayReplicas); err != nil {
		return fmt.Errorf("relay connections: %w", err)
	}
	ov.Events, ov.Latency, ov.Outbox = ev, lat, ob
	return nil
}

func quantile(counts []int64) *float64 {
	q := outbox.LatencyQuantile(0.95, counts)
	if math.IsNaN(q) {
		return nil
	}
	q = math.Round(q*100) / 100
	return &q
}

// eventType is the relay's type label: the subject without "auth.".
func eventType(subject string) string {
	if t, ok := strings.CutPrefix(subject, authevents.SubjectPrefix); ok {
		return t
	}
	return subject
}

// jsConfig names what the JetStream panels read.
type jsConfig struct {
	Stream, DLQ string
	LagWarning  time.Duration
}

// readJetStream fills the panels whose figures live in JetStream.
func readJetStream(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg jsConfig, ov *Overview) error {
	if !nc.IsConnected() {
		return fmt.Errorf("NATS connection %s", strings.ToLower(nc.Status().String()))
	}
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	// Per-subject counts, to tell each consumer how many stored messages
	// of its subjects there are.
	si, err := stream.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	now := time.Now()
	st := &Stream{Name: si.Config.Name, Messages: si.State.Msgs, MaxMessages: si.Config.MaxMsgs, Bytes: si.State.Bytes,
		MaxBytes: si.Config.MaxBytes, MaxAgeSeconds: si.Config.MaxAge.Seconds(), Consumers: si.State.Consumers,
		Replicas: si.Config.Replicas}
	if si.State.Msgs > 0 {
		age := math.Max(now.Sub(si.State.FirstTime).Seconds(), 0)
		st.OldestAgeSeconds = &age
	}
	if si.Cluster != nil {
		st.Leader, st.Cluster = si.Cluster.Leader, si.Cluster.Name
	}
	dlq := map[string]uint64{}
	cs := &Consumers{LagWarningSeconds: cfg.LagWarning.Seconds(), DLQ: cfg.DLQ}
	if ds, err := js.Stream(ctx, cfg.DLQ); errors.Is(err, jetstream.ErrStreamNotFound) {
		cs.DLQMissing = true
	} else if err != nil {
		return fmt.Errorf("dead-letter stream %s: %w", cfg.DLQ, err)
	} else {
		di, err := ds.Info(ctx, jetstream.WithSubjectFilter(cfg.DLQ+".>"))
		if err != nil {
			return fmt.Errorf("dead-letter stream %s: %w", cfg.DLQ, err)
		}
		for subject, n := range di.State.Subjects {
			dlq[strings.TrimPrefix(subject, cfg.DLQ+".")] = n
		}
	}
	lister := stream.ListConsumers(ctx)
	for ci := range lister.Info() {
		c, err := readConsumer(ctx, stream, si, ci, now)
		if err != nil {
			return err
		}
		c.DLQ = dlq[c.Name]
		c.Warning = c.LagSeconds >= cfg.LagWarning.Seconds() || c.DLQ > 0
		if ci.NumWaiting > 0 || (ci.Delivered.Last != nil && now.Sub(*ci.Delivered.Last) < time.Minute) {
			st.ActiveConsumers++
		}
		cs.Items = append(cs.Items, c)
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("consumers of %s: %w", cfg.Stream, err)
	}
	slices.SortFunc(cs.Items, func(a, b Consumer) int { return strings.Compare(a.Name, b.Name) })
	ov.Stream, ov.Consumers = st, cs
	return nil
}

// readConsumer reads one consumer's figures; its lag is the age of the
// first message of its subjects after its ack floor (unacknowledged by
// definition of the floor), as the consumers' own lag gauge computes it.
func readConsumer(ctx context.Context, stream jetstream.Stream, si *jetstream.StreamInfo, ci *jetstream.ConsumerInfo, now time.Time) (Consumer, error) {
	filters := ci.Config.FilterSubjects
	if ci.Config.FilterSubject != "" {
		filters = append(filters, ci.Config.FilterSubject)
	}
	c := Consumer{Name: ci.Name, Filter: strings.Join(filters, ","), Pending: ci.NumPending, AckPending: ci.NumAckPending,
		Redelivered: ci.NumRedelivered}
	var stored uint64
	for subject, n := range si.State.Subjects {
		if len(filters) == 0 || slices.ContainsFunc(filters, func(f string) bool { return subjects.Match(f, subject) }) {
			stored += n
		}
	}
	if unacked := ci.NumPending + uint64(ci.NumAckPending); stored > unacked {
		c.Acknowledged = stored - unacked
	}
	if ci.NumPending == 0 && ci.NumAckPending == 0 {
		return c, nil
	}
	filter := ">"
	if len(filters) == 1 {
		filter = filters[0]
	}
	m, err := stream.GetMsg(ctx, max(ci.AckFloor.Stream+1, si.State.FirstSeq), jetstream.WithGetMsgSubject(filter))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return c, fmt.Errorf("consumer %s: oldest unacknowledged message: %w", ci.Name, err)
	default:
		c.LagSeconds = math.Round(math.Max(now.Sub(m.Time).Seconds(), 0)*10) / 10
	}
	return c, nil
}
