package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
)

// Status is the output of `authctl outbox status --json`.
type Status struct {
	Backlog          int64   `json:"backlog"`
	OldestUnsentSecs float64 `json:"oldestUnsentAgeSeconds"`
	Dead             int64   `json:"dead"`
	Parked           int64   `json:"parked"`
	// DeadTuples and LastVacuum: the outbox's bloat (outbox.Stats).
	DeadTuples     int64      `json:"deadTuples"`
	LastVacuum     *time.Time `json:"lastVacuum"`
	PublishRate    *float64   `json:"publishRatePerSecond"`
	Stream         string     `json:"stream"`
	StreamMessages *uint64    `json:"streamMessages"`
	Note           string     `json:"note,omitempty"`
}

func (c *cli) openPool(ctx context.Context) (*pgxpool.Pool, error) {
	return postgres.Open(ctx, c.cfg.DatabaseURL, 2, authctlSession)
}

// outboxStatus prints backlog, lag and dead rows from Postgres, and the
// publish rate measured on the stream: its last sequence over --interval.
func (c *cli) outboxStatus(ctx context.Context, _ []string) error {
	if c.interval <= 0 {
		return usageError{cmd: "outbox status", msg: fmt.Sprintf("--interval %s: want a positive duration", c.interval)}
	}
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	st := Status{Stream: c.cfg.Stream}
	var first, last uint64
	var t0, t1 time.Time
	js, closeNATS, err := c.connectJS()
	if err == nil {
		defer closeNATS()
		first, t0, err = lastSeq(ctx, js, st.Stream)
	}
	s, serr := outbox.ReadStats(ctx, pool)
	if serr != nil {
		return serr
	}
	st.Backlog, st.OldestUnsentSecs, st.Dead, st.Parked = s.Backlog, s.OldestUnsentSecs, s.Dead, s.Parked
	st.DeadTuples, st.LastVacuum = s.DeadTuples, s.LastVacuum
	if err == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.interval):
		}
		last, t1, err = lastSeq(ctx, js, st.Stream)
	}
	if err == nil {
		rate := float64(last-first) / t1.Sub(t0).Seconds()
		st.PublishRate, st.StreamMessages = &rate, &last
	} else {
		st.Note = err.Error()
	}
	if c.json {
		return c.printJSON(st)
	}
	fmt.Fprintf(c.out, "backlog        %d rows\n", st.Backlog)
	fmt.Fprintf(c.out, "lag            %.3f s (oldest unsent row)\n", st.OldestUnsentSecs)
	fmt.Fprintf(c.out, "dead           %d rows\n", st.Dead)
	fmt.Fprintf(c.out, "parked         %d rows (behind a dead row of their key: retry or discard it)\n", st.Parked)
	vacuumed := "never"
	if st.LastVacuum != nil {
		vacuumed = st.LastVacuum.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(c.out, "dead tuples    %d (deleted, not yet vacuumed: each claim walks them; last vacuum %s)\n", st.DeadTuples, vacuumed)
	if st.PublishRate != nil {
		fmt.Fprintf(c.out, "publish rate   %.1f/s on stream %s (over %s)\n", *st.PublishRate, st.Stream, c.interval)
	} else {
		fmt.Fprintf(c.out, "publish rate   unknown: %s\n", st.Note)
	}
	return nil
}

// outboxDeadList runs `authctl outbox dead list`.
func (c *cli) outboxDeadList(ctx context.Context, _ []string) error {
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	rows, err := outbox.ListDead(ctx, pool, 1000)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []outbox.DeadRow{}
	}
	if c.json {
		return c.printJSON(map[string]any{"dead": rows})
	}
	tw := table(c.out, "ID\tSUBJECT\tATTEMPTS\tPARKED BEHIND\tCREATED\tLAST ERROR")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", r.ID, r.Subject, r.Attempts, r.ParkedBehind, r.CreatedAt.UTC().Format(time.RFC3339), r.LastError)
	}
	return tw.Flush()
}

// outboxDeadRetry runs `authctl outbox dead retry ID... | --all`.
func (c *cli) outboxDeadRetry(ctx context.Context, args []string) error {
	return c.outboxDeadSettle(ctx, "retry", "retried", outbox.RetryDead, args)
}

// outboxDeadDiscard runs `authctl outbox dead discard ID... | --all`.
func (c *cli) outboxDeadDiscard(ctx context.Context, args []string) error {
	return c.outboxDeadSettle(ctx, "discard", "discarded", outbox.DiscardDead, args)
}

func (c *cli) outboxDeadSettle(ctx context.Context, verb, past string, settle func(context.Context, *pgxpool.Pool, []uuid.UUID) (int64, error), args []string) error {
	var ids []uuid.UUID
	for _, a := range args {
		id, err := uuid.Parse(a)
		if err != nil {
			return usageError{cmd: "outbox dead " + verb, msg: fmt.Sprintf("%q is not an event id", a)}
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 && !c.all {
		return usageError{cmd: "outbox dead " + verb, msg: "name the event ids, or --all"}
	}
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := settle(ctx, pool, ids)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{past: n})
	}
	fmt.Fprintf(c.out, "%s %d dead rows\n", past, n)
	return nil
}

func (c *cli) connectJS() (jetstream.JetStream, func(), error) {
	nc, err := nats.Connect(c.cfg.NATSURL, nats.Name("authevents-authctl"), nats.Timeout(2*time.Second))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

func lastSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	return info.State.LastSeq, time.Now(), nil
}
