package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/consumer/security"
)

// stats runs `authctl stats [--since T]`.
func (c *cli) stats(ctx context.Context, _ []string) error {
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := analytics.Read(ctx, pool, c.since)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(s)
	}
	tw := table(c.out, "HOUR\tTYPE\tEVENTS")
	for _, h := range s.EventsByHour {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", h.Hour.UTC().Format(time.RFC3339), h.Type, h.Count)
	}
	fmt.Fprintln(tw, "\nDAY\tACTIVE USERS\t")
	for _, d := range s.ActiveUsersByDay {
		fmt.Fprintf(tw, "%s\t%d\t\n", d.Day, d.Users)
	}
	return tw.Flush()
}

// securityAlerts runs `authctl security alerts [--since T]`.
func (c *cli) securityAlerts(ctx context.Context, _ []string) error {
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	alerts, err := security.List(ctx, pool, c.since, 1000)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []security.Alert{}
	}
	if c.json {
		return c.printJSON(map[string]any{"alerts": alerts})
	}
	tw := table(c.out, "ID\tCREATED\tSEVERITY\tRULE\tUSER\tEMAIL\tIP\tDETAILS")
	for _, a := range alerts {
		user := "-"
		if a.UserID != nil {
			user = a.UserID.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.CreatedAt.UTC().Format(time.RFC3339), a.Severity, a.Rule, user, orDash(a.Email), orDash(a.IP), a.Details)
	}
	return tw.Flush()
}

// audit runs `authctl audit --user ID [--since T]`.
func (c *cli) audit(ctx context.Context, _ []string) error {
	if c.user == "" {
		return usageError{cmd: "audit", msg: "needs --user ID"}
	}
	id, err := uuid.Parse(c.user)
	if err != nil {
		return usageError{cmd: "audit", msg: fmt.Sprintf("--user %q is not a user id", c.user)}
	}
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	entries, err := audit.Query(ctx, pool, id, c.since, 10000)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	if c.json {
		return c.printJSON(map[string]any{"entries": entries})
	}
	tw := table(c.out, "OCCURRED AT\tTYPE\tEVENT\tIP\tUSER AGENT")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.OccurredAt.UTC().Format(time.RFC3339Nano), e.Type, e.EventID, orDash(e.IP), orDash(e.UserAgent))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
