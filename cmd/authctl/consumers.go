package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres"
)

// dlqCmd runs `authctl dlq list|show|replay|purge`.
func (c *cli) dlqCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError("dlq needs list, show, replay or purge")
	}
	js, closeNATS, err := connectJS()
	if err != nil {
		return err
	}
	defer closeNATS()
	dls, err := consumer.OpenDeadLetters(ctx, js, getenv("DLQ_STREAM", "auth-events-dlq"))
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, a := range args[1:] {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return usageError(fmt.Sprintf("%q is not a dead-letter sequence number", a))
		}
		seqs = append(seqs, n)
	}
	if (args[0] == "replay" || args[0] == "purge") && len(seqs) == 0 && !c.all {
		return usageError("name the dead-letter sequence numbers, or --all")
	}
	if args[0] == "list" || (c.all && len(seqs) == 0) {
		if seqs, err = dls.Seqs(ctx); err != nil {
			return err
		}
	}
	out := []consumer.DeadLetter{}
	for _, n := range seqs {
		var d consumer.DeadLetter
		switch args[0] {
		case "list", "show":
			d, err = dls.Get(ctx, n, args[0] == "show")
		case "replay":
			d, err = dls.Replay(ctx, n)
		case "purge":
			d, err = dls.Purge(ctx, n)
		default:
			return usageError(fmt.Sprintf("unknown dlq command %q", args[0]))
		}
		if errors.Is(err, jetstream.ErrMsgNotFound) && args[0] != "show" {
			continue // deleted (replayed or purged)
		}
		if err != nil {
			return err
		}
		out = append(out, d)
	}
	if c.json {
		key := map[string]string{"list": "deadLetters", "show": "deadLetters", "replay": "replayed", "purge": "purged"}[args[0]]
		return c.printJSON(map[string]any{key: out})
	}
	if args[0] == "replay" || args[0] == "purge" {
		fmt.Fprintf(c.out, "%s %d dead letters\n", map[string]string{"replay": "replayed", "purge": "purged"}[args[0]], len(out))
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tCONSUMER\tSUBJECT\tEVENT\tDELIVERIES\tLAST ERROR")
	for _, d := range out {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.Time.Format(time.RFC3339), d.Consumer, d.OriginalSubject, d.EventID, d.Deliveries, d.LastError)
		if d.Body != "" {
			fmt.Fprintf(tw, "\t%s\n", d.Body)
		}
	}
	return tw.Flush()
}

// reportCmd runs `authctl stats`, `authctl security alerts` and
// `authctl audit --user ID`.
func (c *cli) reportCmd(ctx context.Context, args []string) error {
	pool, err := postgres.Open(ctx, databaseURL(), 2, authctlSession)
	if err != nil {
		return err
	}
	defer pool.Close()
	var v any
	switch {
	case args[0] == "stats":
		v, err = analytics.Read(ctx, pool, c.since)
	case args[0] == "security" && len(args) == 2 && args[1] == "alerts":
		var alerts []security.Alert
		alerts, err = security.List(ctx, pool, c.since, 1000)
		if alerts == nil {
			alerts = []security.Alert{}
		}
		v = map[string]any{"alerts": alerts}
	case args[0] == "audit":
		if c.user == "" {
			return usageError("audit needs --user ID")
		}
		id, perr := uuid.Parse(c.user)
		if perr != nil {
			return usageError("--user must be a user id")
		}
		var entries []audit.Entry
		entries, err = audit.Query(ctx, pool, id, c.since, 10000)
		if entries == nil {
			entries = []audit.Entry{}
		}
		v = map[string]any{"entries": entries}
	default:
		return usageError(fmt.Sprintf("unknown command %v", args))
	}
	if err != nil {
		return err
	}
	// These reports are for scripts first; the text form is indented JSON too.
	return c.printJSON(v)
}
