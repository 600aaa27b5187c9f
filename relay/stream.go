package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// DefaultStream returns auth-events as the contract fixes it. A function,
// not a variable: no caller can change it, or its Subjects slice, for the
// whole process.
func DefaultStream() StreamConfig {
	return StreamConfig{
		Name: "auth-events", Subjects: []string{"auth.user.*"},
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
	var err error
	for attempt := range 3 {
		var s jetstream.Stream
		if s, err = js.CreateOrUpdateStream(ctx, sc); err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
}
