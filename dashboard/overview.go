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
	"time"

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
