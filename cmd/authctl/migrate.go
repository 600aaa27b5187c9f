package main

import (
	"context"
	"fmt"
	"time"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

// migrate runs `authctl migrate up|down|status`.
func (c *cli) migrate(ctx context.Context, verb string) error {
	pool, err := postgres.Open(ctx, c.cfg.DatabaseURL, 2, authctlSession)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := postgres.NewMigrator(pool, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	switch verb {
	case "up":
		res, err := m.Up(ctx)
		if err != nil {
			return err
		}
		cur, _, err := m.Versions(ctx)
		if err != nil {
			return err
		}
		type applied struct {
			Version    int64   `json:"version"`
			Source     string  `json:"source"`
			DurationMS float64 `json:"durationMs"`
		}
		out := struct {
			Applied []applied `json:"applied"`
			Version int64     `json:"version"`
		}{Applied: []applied{}, Version: cur}
		for _, r := range res {
			out.Applied = append(out.Applied, applied{r.Source.Version, r.Source.Path, float64(r.Duration.Microseconds()) / 1000})
		}
		if c.json {
			return c.printJSON(out)
		}
		for _, a := range out.Applied {
			fmt.Fprintf(c.out, "applied %d %s (%.1f ms)\n", a.Version, a.Source, a.DurationMS)
		}
		fmt.Fprintf(c.out, "schema at version %d\n", cur)
		return nil
	case "down":
		r, err := m.Down(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(map[string]any{"rolledBack": r.Source.Version, "source": r.Source.Path})
		}
		fmt.Fprintf(c.out, "rolled back %d %s\n", r.Source.Version, r.Source.Path)
		return nil
	}
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	type row struct {
		Version   int64      `json:"version"`
		Source    string     `json:"source"`
		Applied   bool       `json:"applied"`
		AppliedAt *time.Time `json:"appliedAt"`
	}
	rows := []row{}
	for _, s := range st {
		r := row{Version: s.Source.Version, Source: s.Source.Path, Applied: s.State == "applied"}
		if r.Applied {
			t := s.AppliedAt.UTC()
			r.AppliedAt = &t
		}
		rows = append(rows, r)
	}
	if c.json {
		return c.printJSON(map[string]any{"migrations": rows})
	}
	tw := table(c.out, "VERSION\tAPPLIED AT\tSOURCE")
	for _, r := range rows {
		at := "pending"
		if r.AppliedAt != nil {
			at = r.AppliedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", r.Version, at, r.Source)
	}
	return tw.Flush()
}

// dbCreate runs `authctl db create`.
func (c *cli) dbCreate(ctx context.Context, _ []string) error {
	created, err := postgres.CreateDatabase(ctx, c.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]bool{"created": created})
	}
	if created {
		fmt.Fprintln(c.out, "database created")
	} else {
		fmt.Fprintln(c.out, "database exists")
	}
	return nil
}

// keygen runs `authctl keygen [--if-missing] FILE`.
func (c *cli) keygen(_ context.Context, args []string) error {
	if len(args) != 1 {
		return usageError{cmd: "keygen", msg: "needs one file path"}
	}
	file, written := args[0], false
	if _, err := token.LoadPrivateKeyFile(file); err != nil || !c.ifMissing {
		if err := token.GenerateKeyFile(file); err != nil {
			return err
		}
		written = true
	}
	if c.json {
		return c.printJSON(map[string]any{"file": file, "written": written})
	}
	if written {
		fmt.Fprintf(c.out, "wrote Ed25519 signing key to %s\n", file)
	} else {
		fmt.Fprintf(c.out, "keeping the existing signing key %s\n", file)
	}
	return nil
}
