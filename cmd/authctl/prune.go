package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres"
)

// envDuration reads a duration variable, or def when it is unset.
func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration", key, v)
	}
	return d, nil
}

// prune deletes (or with --dry-run counts) the rows past retention of the
// consumer tables and of ended sessions, with the retention variables and
// defaults of bin/consumer and bin/api.
func (c *cli) prune(ctx context.Context) error {
	ret := consumer.DefaultRetention
	var err error
	if ret.Processed, err = envDuration("CONSUMER_RETENTION", ret.Processed); err != nil {
		return err
	}
	if ret.Failures, err = envDuration("CONSUMER_FAILURES_RETENTION", ret.Failures); err != nil {
		return err
	}
	sec, err := envDuration("SECURITY_RETENTION", security.DefaultRetention)
	if err != nil {
		return err
	}
	// Ended sessions, by the rule and default bin/api prunes them with.
	sessions, err := envDuration("SESSION_RETENTION", 720*time.Hour)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, databaseURL(), 2, authctlSession)
	if err != nil {
		return err
	}
	defer pool.Close()
	targets := append(consumer.PruneTargets("", ret), security.PruneTargets(sec)...)
	targets = append(targets, consumer.PruneTarget{Table: "sessions",
		Where: "expires_at < now() - $1::interval OR revoked_at < now() - $1::interval", Args: []any{sessions}})
	counts, err := (&consumer.Pruner{Pool: pool}).Prune(ctx, targets, c.dryRun)
	if err != nil {
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
