package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/retry"
)

// StreamConfig is the JetStream stream the relay publishes to.
type StreamConfig struct {
	Name       string
	Subjects   []string
	MaxAge     time.Duration
	MaxMsgs    int64
	MaxBytes   int64
	Duplicates time.Duration // the dedupe window of Nats-Msg-Id
	Replicas   int
}

// DefaultStream returns the stream limits cmd/relay starts from (its
// environment defaults), without a name or subjects: those are the
// deployment's. A function, not a variable: no caller can change it for
// the whole process.
func DefaultStream() StreamConfig {
	return StreamConfig{
		MaxAge: 7 * 24 * time.Hour, MaxMsgs: 100_000, MaxBytes: 100 << 20,
		Duplicates: DefaultDuplicateWindow, Replicas: 1,
	}
}

// The duplicate window must outlast the longest path by which a row that
// reached the stream can be published again. Those paths, longest first:
//   - a PostgreSQL crash loses the last deletes (the batch commits with
//     synchronous_commit off) and the rows go out again once PostgreSQL is
//     back: crash recovery or a failover, budgeted at PostgresRecovery;
//   - a relay cut off from PostgreSQL mid-batch: the server ends its
//     transaction after IdleInTxTimeout(publish timeout), 15 s by default,
//     then another replica republishes;
//   - a relay killed mid-batch, or a PubAck lost to a JetStream leader
//     change: the rows go out again at the next batch, seconds later.
//
// DefaultDuplicateWindow covers the first with margin. A republish after
// the window is a second message with the same event id: consumers are
// idempotent regardless.
const (
	PostgresRecovery       = 5 * time.Minute
	DefaultDuplicateWindow = 10 * time.Minute
)

// ensureAttempts and ensureBackoff bound EnsureStream's retries.
const ensureAttempts = 3

var ensureBackoff = retry.Backoff{Base: 200 * time.Millisecond, Max: time.Second}

// EnsureStream creates the stream or updates it to cfg; it is idempotent,
// so every relay replica runs it at start. (CreateOrUpdateStream is an
// update then a create, not atomic: two replicas starting at once may both
// try to create; the loser's update then succeeds on the retry.)
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	sc := jetstream.StreamConfig{
		Name: cfg.Name, Subjects: cfg.Subjects, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxAge: cfg.MaxAge, MaxMsgs: cfg.MaxMsgs, MaxBytes: cfg.MaxBytes,
		Duplicates: cfg.Duplicates, Replicas: max(cfg.Replicas, 1),
	}
	for attempt := 1; ; attempt++ {
		s, err := js.CreateOrUpdateStream(ctx, sc)
		if err == nil {
			return s, nil
		}
		if attempt == ensureAttempts {
			return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
		}
		if !retry.Sleep(ctx, ensureBackoff.Delay(attempt)) {
			return nil, ctx.Err()
		}
	}
}

// provisionBackoff spaces the attempts to provision the stream at start.
var provisionBackoff = retry.Exp(250*time.Millisecond, 10*time.Second)

// provision creates or updates the stream, retrying with backoff until it
// succeeds or ctx ends (at start: nothing can be published before).
func (r *Relay) provision(ctx context.Context, reason string) {
	_ = retry.Until(ctx, provisionBackoff, func(ctx context.Context) error { return r.ensureStream(ctx, reason) },
		func(attempt int, err error) {
			r.log.Warn("stream not provisioned yet; rows wait pending", "stream", r.cfg.Stream.Name, "err", err, "attempt", attempt)
		})
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
