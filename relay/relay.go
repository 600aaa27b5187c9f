// Package relay moves committed outbox rows to NATS JetStream: claim a
// batch (row locks, SKIP LOCKED, one row per ordering key in flight),
// publish each row asynchronously with its id as Nats-Msg-Id, and only
// after a row's own PubAck delete it, in the same transaction that claimed
// it. Any crash before that commit leaves the rows pending; the republish
// is dropped by JetStream's duplicate window. The relay knows nothing of
// auth events: payloads are opaque bytes.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/outbox"
)

// Config tunes the relay.
type Config struct {
	BatchSize       int           // rows per batch
	Workers         int           // concurrent batches in this process
	MinPollInterval time.Duration // first idle wait; doubles while idle
	PollInterval    time.Duration // longest idle wait (the polling fallback)
	PublishTimeout  time.Duration // how long to wait for a batch's PubAcks
	MaxAttempts     int           // refused publishes before a row is dead
	RetryBackoff    time.Duration // first retry delay; doubles per attempt
	MaxRetryBackoff time.Duration
	ContentType     string
	// Stream is the stream the relay publishes to. When set, the relay
	// provisions it at start and again if it goes missing, and tells
	// subjects it does not bind (a refusal of the message) from a broker
	// that does not answer (unavailability, which costs nothing).
	Stream StreamConfig
}

// DefaultConfig returns what cmd/relay starts from. A function, not a
// variable: no caller can change the defaults of the whole process.
func DefaultConfig() Config {
	return Config{
		BatchSize: 2000, Workers: 2, MinPollInterval: 10 * time.Millisecond, PollInterval: time.Second,
		PublishTimeout: 5 * time.Second, MaxAttempts: 10, RetryBackoff: time.Second,
		MaxRetryBackoff: 5 * time.Minute, ContentType: "application/cloudevents+json",
	}
}

// Relay is one relay replica. Any number may run against one database.
type Relay struct {
	pool *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	cfg  Config
	log  *slog.Logger
	m    *metrics
	wake chan struct{}

	provisionMu    sync.Mutex // one re-provisioning at a time per process
	batchLog       throttle
	unavailableLog throttle
}

// New returns a relay publishing through nc.
func New(pool *pgxpool.Pool, nc *nats.Conn, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Relay, error) {
	log = log.With("component", "relay")
	// Without a publish timeout a lost PubAck never resolves; the timeout
	// turns it into an error and the row stays pending.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout),
		jetstream.WithPublishAsyncMaxPending(max(cfg.BatchSize, 256)))
	if err != nil {
		return nil, err
	}
	return &Relay{pool: pool, nc: nc, js: js, cfg: cfg, log: log, m: newMetrics(reg, pool, log), wake: make(chan struct{}, 1),
		batchLog: throttle{interval: 10 * time.Second}, unavailableLog: throttle{interval: 10 * time.Second}}, nil
}

// JetStream returns the relay's JetStream context (stream provisioning).
func (r *Relay) JetStream() jetstream.JetStream { return r.js }

// Run relays until ctx ends. A batch in flight when ctx ends is finished
// (published rows deleted, the rest left pending) before Run returns.
// Workers run batches concurrently, so the broker and the database are
// both kept busy; row locks keep them from taking the same rows, as they
// do across replicas.
func (r *Relay) Run(ctx context.Context) error {
	if r.cfg.Stream.Name != "" {
		r.provision(ctx, "start")
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx) })
	for range max(r.cfg.Workers, 1) {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Wait()
	return nil
}

// provision creates or updates the stream, retrying with backoff until it
// succeeds or ctx ends (at start: nothing can be published before).
func (r *Relay) provision(ctx context.Context, reason string) {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := r.ensureStream(ctx, reason)
		if err == nil {
			return
		}
		if ctx.Err() == nil {
			r.log.Warn("stream not provisioned yet; rows wait pending", "stream", r.cfg.Stream.Name, "err", err, "attempt", attempt)
		}
		r.sleep(ctx, backoff(attempt, 250*time.Millisecond, 10*time.Second), false)
	}
}

// provisionOnce tries once to put the stream back. A refusal (e.g. the
// subjects now overlap another stream's) is logged and left to the next
// failing batch, after its backoff: a worker never waits here for an
// operator, and rows of subjects that are still bound keep flowing.
func (r *Relay) provisionOnce(ctx context.Context, reason string) {
	if !r.provisionMu.TryLock() {
		return // another worker is at it
	}
	defer r.provisionMu.Unlock()
	if err := r.ensureStream(ctx, reason); err != nil && r.unavailableLog.allow() {
		r.log.Error("stream cannot be provisioned; rows of its subjects wait pending", "stream", r.cfg.Stream.Name, "reason", reason, "err", err)
	}
}

// ensureStream creates or updates the stream once; reason labels the
// metric: "start", "missing" (it disappeared under a running relay) or
// "changed" (it no longer bound the relay's subjects).
func (r *Relay) ensureStream(ctx context.Context, reason string) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := EnsureStream(sctx, r.js, r.cfg.Stream); err != nil {
		r.m.jsAvailable.Set(0)
		return err
	}
	r.m.provisioned.WithLabelValues(reason).Inc()
	r.m.jsAvailable.Set(1)
	r.log.Info("stream ready", "stream", r.cfg.Stream.Name, "reason", reason)
	return nil
}

// checkStream runs after publishes that JetStream did not answer for a
// subject the stream binds: the stream is gone (provision it again), or
// JetStream is unavailable (wait; the rows stay pending at no cost).
func (r *Relay) checkStream(ctx context.Context) {
	r.m.jsAvailable.Set(0)
	if r.cfg.Stream.Name == "" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := r.js.Stream(sctx, r.cfg.Stream.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		r.log.Warn("stream is missing; provisioning it again", "stream", r.cfg.Stream.Name)
		r.provisionOnce(ctx, "missing")
	case err == nil && !coversAll(st.CachedInfo().Config.Subjects, r.cfg.Stream.Subjects):
		// The stream is there but no longer binds the relay's subjects
		// (updated by hand or by another deployment): every publish gets
		// "no responders" until it is put back.
		r.log.Warn("stream does not bind the relay's subjects; provisioning it again", "stream", r.cfg.Stream.Name,
			"has", st.CachedInfo().Config.Subjects, "want", r.cfg.Stream.Subjects)
		r.provisionOnce(ctx, "changed")
	case err != nil:
		if r.unavailableLog.allow() {
			r.log.Warn("JetStream unavailable; rows wait pending", "stream", r.cfg.Stream.Name, "err", err)
		}
	}
}

// throttle lets a repeated log line through at most once per interval:
// an outage is reported, not a line per retry.
type throttle struct {
	interval time.Duration
	mu       sync.Mutex
	last     time.Time
}

func (t *throttle) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); now.Sub(t.last) >= t.interval {
		t.last = now
		return true
	}
	return false
}

// work is one batch loop. While it keeps up it claims the oldest due rows
// of the whole outbox; once a claim comes back full (a backlog) it claims
// lane by lane (outbox.Lanes), each time the next lane no other claimer
// holds, so concurrent workers and replicas drain different rows instead
// of scanning and skipping each other's; when its lane is empty it claims
// from the whole outbox again.
func (r *Relay) work(ctx context.Context) {
	idle := r.cfg.MinPollInterval
	failures, misses := 0, 0
	lane, next := anyLane, rand.IntN(outbox.Lanes)
	// A lane claim asking for more rows than its lane has eligible (the
	// oldest pending row of each key) scans the rest of the lane, a per-key
	// probe per row, to find that out. So in lane mode the limit follows
	// what the lanes yield: down to the last short batch, doubling again
	// after a full one.
	laneLimit := r.cfg.BatchSize
	for ctx.Err() == nil {
		if !r.nc.IsConnected() {
			r.m.up.Set(0)
			failures++
			r.sleep(ctx, backoff(failures, 50*time.Millisecond, 5*time.Second), false)
			continue
		}
		limit := r.cfg.BatchSize
		if lane != anyLane {
			limit = laneLimit
		}
		n, laneBusy, err := r.batch(ctx, lane, limit)
		if err != nil {
			r.m.up.Set(0)
			failures++
			lane = anyLane
			if ctx.Err() == nil && r.batchLog.allow() {
				r.log.Warn("relay batch failed", "err", err, "consecutive", failures)
			}
			r.sleep(ctx, backoff(failures, 50*time.Millisecond, 5*time.Second), false)
			continue
		}
		r.m.up.Set(1)
		failures = 0
		if laneBusy || (lane != anyLane && n == 0) {
			// Another claimer has this lane, or it is drained: the next
			// lane, and after a whole round of lanes without rows (the
			// backlog is gone, or there are more claimers than lanes) the
			// whole outbox. Falling back at the first empty lane made
			// claimers meet in whole-outbox claims again, mid-backlog.
			next++
			if misses++; misses < outbox.Lanes {
				lane = next % outbox.Lanes
			} else {
				misses, lane = 0, anyLane
			}
			continue
		}
		misses = 0
		if lane != anyLane && n > 0 {
			if n < limit {
				laneLimit = max(n, minLaneLimit)
			} else {
				laneLimit = min(2*laneLimit, r.cfg.BatchSize)
			}
		}
		switch {
		case n == r.cfg.BatchSize || (lane != anyLane && n > 0):
			// A backlog: poll again at once, lane by lane, and recruit one
			// idle worker. Only a backlog does this, so an idle relay
			// never passes wake-ups around.
			idle = r.cfg.MinPollInterval
			next++
			lane = next % outbox.Lanes
			r.poke()
			continue
		}
		if n > 0 {
			idle = r.cfg.MinPollInterval
		}
		r.sleep(ctx, idle, true)
		idle = min(idle*2, r.cfg.PollInterval)
	}
}

// anyLane makes batch claim from the whole outbox.
const anyLane = -1

// sleep waits d, or less when a NOTIFY arrives (if wakeable).
func (r *Relay) sleep(ctx context.Context, d time.Duration, wakeable bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var wake <-chan struct{}
	if wakeable {
		wake = r.wake
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
		// The wake-up is used up here. Handing it back (to reach another
		// worker) made two idle workers pass it to each other forever:
		// thousands of empty batches a second. A worker whose batch comes
		// back full recruits the next one instead (work).
	}
}

// poke wakes one idle worker, if none is already due to wake.
func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// listen turns NOTIFYs on the outbox channel into wake-ups, reconnecting
// with backoff; polling covers any gap.
func (r *Relay) listen(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		err := func() error {
			conn, err := r.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "LISTEN "+outbox.NotifyChannel); err != nil {
				return err
			}
			defer func() {
				// Bounded: on a silent connection (partition) an unbounded
				// UNLISTEN kept the connection acquired, and pool.Close,
				// hence shutdown, waited for it forever. A connection that
				// does not answer is closed instead of reused.
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				if _, err := conn.Exec(uctx, "UNLISTEN *"); err != nil {
					conn.Conn().Close(uctx)
				}
			}()
			attempt = 0
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					return err
				}
				r.poke()
			}
		}()
		if ctx.Err() != nil {
			return
		}
		attempt++
		r.log.Debug("outbox listener reconnecting", "err", err)
		r.sleep(ctx, backoff(attempt, 100*time.Millisecond, 5*time.Second), false)
	}
}

// Batch claims (from every lane), publishes and marks one batch and
// returns how many rows it claimed. Exported for tests and tools that want
// to drive the relay step by step.
func (r *Relay) Batch(ctx context.Context) (int, error) {
	n, _, err := r.batch(ctx, anyLane, r.cfg.BatchSize)
	return n, err
}

// minLaneLimit is the smallest lane claim: per-batch costs (three round
// trips, a commit) dominate below it.
const minLaneLimit = 64

// batch is Batch of up to limit rows from lane (anyLane: the whole
// outbox); busy reports a lane another claimer holds (nothing claimed).
func (r *Relay) batch(ctx context.Context, lane, limit int) (n int, busy bool, err error) {
	// The claim may be interrupted by ctx (nothing is published yet). Once
	// rows are claimed the batch is not: it ends either committed (rows
	// marked) or rolled back (rows untouched).
	dbctx := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		return 0, false, ctx.Err()
	}
	claimCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var tx pgx.Tx
	var rows []outbox.Row
	if lane == anyLane {
		tx, rows, err = outbox.BeginClaim(claimCtx, r.pool, limit)
	} else {
		tx, rows, busy, err = outbox.BeginClaimLane(claimCtx, r.pool, limit, lane)
	}
	if err != nil {
		return 0, false, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(dbctx, dbTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	r.m.batchSize.Observe(float64(len(rows)))
	if len(rows) == 0 {
		return 0, busy, tx.Commit(claimCtx)
	}
	var tally outbox.Tally
	sent, failed, unavailable := r.publish(rows, &tally)
	// Marking gets a deadline of its own, however long the PubAcks took.
	qctx, cancelMark := context.WithTimeout(dbctx, dbTimeout)
	defer cancelMark()
	if err := outbox.Delete(qctx, tx, sent); err != nil {
		return 0, false, err
	}
	dead, err := outbox.Fail(qctx, tx, failed, r.cfg.MaxAttempts)
	if err != nil {
		return 0, false, err
	}
	for _, id := range dead {
		if i := slices.IndexFunc(rows, func(row outbox.Row) bool { return row.ID == id }); i >= 0 {
			tally.Dead(eventType(rows[i].Subject))
		}
	}
	// The durable counters (the dashboard's figures) commit with the
	// marking, so each row is counted once, whichever replica sent it.
	if err := outbox.RecordCounts(qctx, tx, &tally); err != nil {
		return 0, false, err
	}
	if err := tx.Commit(qctx); err != nil {
		return 0, false, fmt.Errorf("commit: %w", err)
	}
	for _, id := range dead {
		r.log.Error("outbox row is dead after repeated refusals", "id", id)
	}
	if unavailable {
		r.checkStream(ctx)
	} else if len(sent) > 0 {
		r.m.jsAvailable.Set(1)
	}
	if len(sent) == 0 && len(failed) == 0 {
		return len(rows), false, errors.New("no row of the batch reached JetStream")
	}
	return len(rows), false, nil
}

// dbTimeout bounds each database phase of a batch (claim, marking).
const dbTimeout = 10 * time.Second

// StatementTimeout is the server-side bound for the relay's statements,
// like the client's own deadline per database phase.
const StatementTimeout = dbTimeout

// IdleInTxTimeout is the server-side idle_in_transaction_session_timeout
// the relay's connections need. A batch transaction legitimately sits idle
// while its PubAcks arrive (up to publishTimeout plus a second), so the
// server ends it after publishTimeout + 10 s of silence: a relay cut off
// from Postgres mid-batch (partition, frozen host) releases its claimed
// rows within that time, and another replica publishes them, still inside
// the duplicate window.
func IdleInTxTimeout(publishTimeout time.Duration) time.Duration {
	return publishTimeout + dbTimeout
}

type pending struct {
	row outbox.Row
	fut jetstream.PubAckFuture
	err error
}

// publish sends every row asynchronously and waits for each PubAck. A row
// counts as sent only with its own PubAck. A refusal of the message itself
// (failed) costs the row an attempt. Anything on the broker's side (no
// JetStream answering a subject the stream binds, a missing stream,
// insufficient resources, a timeout, a disconnect) leaves the row
// untouched, in neither list: unavailable reports that JetStream, not the
// connection, was the problem.
// Each acknowledged and each refused row is added to tally.
func (r *Relay) publish(rows []outbox.Row, tally *outbox.Tally) (sent []uuid.UUID, failed []outbox.Failure, unavailable bool) {
	ps := make([]pending, len(rows))
	for i, row := range rows {
		msg := &nats.Msg{Subject: row.Subject, Data: row.Payload, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, row.ID.String())
		msg.Header.Set("Content-Type", r.cfg.ContentType)
		ps[i].row = row
		ps[i].fut, ps[i].err = r.js.PublishMsgAsync(msg)
	}
	deadline := time.NewTimer(r.cfg.PublishTimeout + time.Second)
	defer deadline.Stop()
	expired := false
	for i := range ps {
		p := &ps[i]
		typ := eventType(p.row.Subject)
		if p.err == nil {
			var ack *jetstream.PubAck
			ack, p.err, expired = await(p.fut, deadline, expired)
			if ack != nil {
				sent = append(sent, p.row.ID)
				if ack.Duplicate {
					r.m.duplicates.Inc()
					r.m.published.WithLabelValues(typ, "duplicate").Inc()
				} else {
					r.m.published.WithLabelValues(typ, "ok").Inc()
				}
				latency := time.Since(p.row.CreatedAt)
				r.m.latency.Observe(latency.Seconds())
				tally.Published(typ, latency)
				continue
			}
		}
		switch r.classify(p.row.Subject, p.err) {
		case refusedMessage:
			failed = append(failed, outbox.Failure{ID: p.row.ID, Error: p.err.Error(),
				Delay: backoff(p.row.Attempts+1, r.cfg.RetryBackoff, r.cfg.MaxRetryBackoff)})
			r.m.published.WithLabelValues(typ, "retry").Inc()
			tally.Refused(typ)
		case brokerUnavailable:
			unavailable = true
			r.m.published.WithLabelValues(typ, "unsent").Inc()
		default:
			r.m.published.WithLabelValues(typ, "unsent").Inc()
		}
	}
	return sent, failed, unavailable
}

// await waits for one PubAck future until deadline. Once the deadline has
// passed (expired), it only takes what has already arrived: an ack that
// came in time must never lose a random select to the expired deadline
// and be republished.
func await(fut jetstream.PubAckFuture, deadline *time.Timer, expired bool) (*jetstream.PubAck, error, bool) {
	if !expired {
		select {
		case ack := <-fut.Ok():
			return ack, nil, false
		case err := <-fut.Err():
			return nil, err, false
		case <-deadline.C:
		}
	}
	select {
	case ack := <-fut.Ok():
		return ack, nil, true
	case err := <-fut.Err():
		return nil, err, true
	default:
		return nil, jetstream.ErrAsyncPublishTimeout, true
	}
}

type failure int

const (
	connectionFailure failure = iota // timeout, disconnect: costs nothing
	brokerUnavailable                // JetStream or the stream unavailable: costs nothing
	refusedMessage                   // about the message itself: costs an attempt
)

// classify tells a refusal of the message itself, which costs the row an
// attempt, from unavailability on the broker's side, which never does.
//   - A JetStream API error is about the message only for the codes that
//     say so (messageRefusals: too large, header too large, bad TTL). Every
//     other one is the broker's: stream not found, insufficient resources,
//     no leader, an overloaded ingest queue (429), account limits, a
//     sealed stream, a message id still in process. An unknown code costs
//     nothing either: a row is never lost to an error we cannot read; it
//     waits, with the batch's backoff, as in an outage.
//   - "No responders" means no stream took the subject: with a configured
//     stream, a subject it binds means JetStream or the stream is down (or
//     the stream binds other subjects now: checkStream repairs it); a
//     subject it does not bind can never be stored (a refusal).
//   - Too large for the server, invalid subject or message: refusals.
func (r *Relay) classify(subject string, err error) failure {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr):
		if messageRefusals[apiErr.ErrorCode] {
			return refusedMessage
		}
		return brokerUnavailable
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		if r.cfg.Stream.Name != "" && !bindsAny(r.cfg.Stream.Subjects, subject) {
			return refusedMessage
		}
		return brokerUnavailable
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrInvalidMsg):
		return refusedMessage
	}
	return connectionFailure
}

// messageRefusals are the JetStream error codes of a publish that refuse
// the message itself: sending it again can never succeed.
var messageRefusals = map[jetstream.ErrorCode]bool{
	jetstream.JSErrCodeStreamMessageExceedsMaximum: true, // 10054: message size exceeds the stream's maximum
	10097: true, // JSStreamHeaderExceedsMaximumErr: header size exceeds the maximum
	10165: true, // JSMessageTTLInvalidErr: invalid per-message TTL
	10166: true, // JSMessageTTLDisabledErr: per-message TTL on a stream without it
}

// coversAll reports whether the stream's subject filters include every
// subject filter the relay was configured with.
func coversAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// bindsAny reports whether subject matches one of the stream's subject
// filters (NATS wildcards: * one token, > the rest).
func bindsAny(filters []string, subject string) bool {
	for _, f := range filters {
		if MatchSubject(f, subject) {
			return true
		}
	}
	return false
}

// MatchSubject reports whether subject matches the NATS subject filter
// (* one token, > the rest). A subject with an empty token matches nothing.
func MatchSubject(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for _, tok := range st {
		// A subject with an empty token ("a..b", "a.b.") is no subject at
		// all: no stream can bind it, whatever its filter says.
		if tok == "" {
			return false
		}
	}
	for i, f := range ft {
		if f == ">" {
			return len(st) > i
		}
		if i >= len(st) || (f != "*" && f != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}

// backoff returns base * 2^(n-1), capped, with ±20 % jitter.
func backoff(n int, base, maxD time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
