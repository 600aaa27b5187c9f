package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/consumer"
)

// dlq returns the command `authctl dlq <verb>`: list, show, replay or
// purge the consumers' dead letters (consumer.DeadLetters does the work).
func dlq(verb string) func(*cli, context.Context, []string) error {
	return func(c *cli, ctx context.Context, args []string) error {
		var seqs []uint64
		for _, a := range args {
			n, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				return usageError{cmd: "dlq " + verb, msg: fmt.Sprintf("%q is not a dead-letter sequence number", a)}
			}
			seqs = append(seqs, n)
		}
		if (verb == "replay" || verb == "purge") && len(seqs) == 0 && !c.all {
			return usageError{cmd: "dlq " + verb, msg: "name the dead-letter sequence numbers, or --all"}
		}
		js, closeNATS, err := c.connectJS()
		if err != nil {
			return err
		}
		defer closeNATS()
		dls, err := consumer.OpenDeadLetters(ctx, js, c.cfg.DLQStream)
		if err != nil {
			return err
		}
		if verb == "list" || (c.all && len(seqs) == 0) {
			if seqs, err = dls.Seqs(ctx); err != nil {
				return err
			}
		}
		out := []consumer.DeadLetter{}
		for _, n := range seqs {
			var d consumer.DeadLetter
			switch verb {
			case "list", "show":
				d, err = dls.Get(ctx, n, verb == "show")
			case "replay":
				d, err = dls.Replay(ctx, n)
			case "purge":
				d, err = dls.Purge(ctx, n)
			}
			if errors.Is(err, jetstream.ErrMsgNotFound) && verb != "show" {
				continue // deleted (replayed or purged)
			}
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		if c.json {
			key := map[string]string{"list": "deadLetters", "show": "deadLetters", "replay": "replayed", "purge": "purged"}[verb]
			return c.printJSON(map[string]any{key: out})
		}
		if verb == "replay" || verb == "purge" {
			fmt.Fprintf(c.out, "%s %d dead letters\n", map[string]string{"replay": "replayed", "purge": "purged"}[verb], len(out))
			return nil
		}
		tw := table(c.out, "SEQ\tTIME\tCONSUMER\tSUBJECT\tEVENT\tDELIVERIES\tLAST ERROR")
		for _, d := range out {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.Time.Format(time.RFC3339), d.Consumer, d.OriginalSubject, d.EventID, d.Deliveries, d.LastError)
			if d.Body != "" {
				fmt.Fprintf(tw, "\t%s\n", d.Body)
			}
		}
		return tw.Flush()
	}
}
