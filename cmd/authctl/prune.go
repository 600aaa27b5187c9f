package main

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/personal"
)

// prune deletes (or with --dry-run counts) the rows past retention of the
// consumer tables and of ended sessions, with the retention variables and
// defaults of bin/consumer and bin/api.
func (c *cli) prune(ctx context.Context, _ []string) error {
	if err := c.cfg.checkRetention(); err != nil {
		return err
	}
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	ret := consumer.Retention{Processed: c.cfg.Retention, Failures: c.cfg.FailuresRetention}
	targets := append(consumer.PruneTargets("", ret), security.PruneTargets(c.cfg.SecurityRetention)...)
	// Ended sessions, by the rule bin/api prunes them with.
	targets = append(targets, consumer.PruneTarget{Table: "sessions",
		Where: "expires_at < now() - $1::interval OR revoked_at < now() - $1::interval", Args: []any{c.cfg.SessionRetention}},
		// Expired one-time links: no use to anyone once past their time.
		consumer.PruneTarget{Table: "one_time_tokens", Where: "expires_at < now()"})
	counts, err := (&consumer.Pruner{Pool: pool}).Prune(ctx, targets, c.dryRun)
	if err != nil {
		return err
	}
	// Data keys of no user past the longest retention that needs them
	// (day and farewell keys): erased, their tombstones kept.
	if counts["personal_keys"], err = personal.EraseUnowned(ctx, pool, personal.DayKeyRetention, c.dryRun); err != nil {
		return err
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	if c.json {
		return c.printJSON(map[string]any{"dryRun": c.dryRun, "tables": counts, "total": total})
	}
	verb := "deleted"
	if c.dryRun {
		verb = "would delete"
	}
	tables := make([]string, 0, len(counts))
	for t := range counts {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TABLE\tROWS %s\n", verb)
	for _, t := range tables {
		fmt.Fprintf(tw, "%s\t%d\n", t, counts[t])
	}
	fmt.Fprintf(tw, "total\t%d\n", total)
	return tw.Flush()
}
