// Command authctl is the operator CLI of authevents.
//
//	authctl migrate up|down|status [--json]
//	authctl keygen FILE
//
// It reads DATABASE_URL like the services do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/token"
)

const usage = `usage: authctl <command> [arguments]

commands:
  migrate up        apply every pending migration
  migrate down      roll back the most recent migration
  migrate status    list migrations and whether each is applied
  db create         create the database named in DATABASE_URL if it does not exist
  outbox status     backlog, lag (age of the oldest unsent row), dead rows, publish rate
  outbox dead list  rows the relay gave up on
  outbox dead retry ID... | --all
                    make dead rows pending again (attempts reset)
  outbox dead discard ID... | --all
                    delete dead rows
  dlq list|show SEQ...        dead letters of the consumers (auth-events-dlq)
  dlq replay SEQ... | --all   republish to the original subject, remove from the DLQ
  dlq purge SEQ... | --all    remove dead letters
  stats [--since T]           analytics: events per type and hour, active users per day
  security alerts [--since T] security alerts, newest first
  audit --user ID [--since T] a user's audit log, oldest first
  prune [--dry-run]           delete consumer rows past retention (processed_events,
                              consumer_failures, consumer_leases, security_failed_logins,
                              security_alert_marks), in batches; --dry-run counts them
  keygen [--if-missing] FILE
                    write a new Ed25519 signing key (PKCS#8 PEM, mode 0600);
                    with --if-missing, keep a valid key that is already there

flags:
  --json            machine-readable output (status commands)

environment:
  DATABASE_URL      default postgres://127.0.0.1:5432/authevents?sslmode=disable
  NATS_URL          default nats://127.0.0.1:4222 (outbox status: publish rate)
  STREAM_NAME       default auth-events
  DLQ_STREAM        default auth-events-dlq
  CONSUMER_RETENTION, CONSUMER_FAILURES_RETENTION, SECURITY_RETENTION
                    retention for prune, defaults 744h, 168h, 192h (as bin/consumer)

T is RFC 3339 (2026-11-28T10:00:00Z) or a duration back from now (24h).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "authctl: "+err.Error())
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

// cli holds what every command needs.
type cli struct {
	out       io.Writer
	json      bool
	ifMissing bool
	all       bool
	dryRun    bool
	interval  time.Duration
	user      string
	since     time.Time
}

func run(ctx context.Context, args []string, out io.Writer) error {
	c := &cli{out: out, interval: 2 * time.Second}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "--user" || a == "--since") && i+1 < len(args) {
			i++
			if a == "--user" {
				c.user = args[i]
				continue
			}
			t, err := parseSince(args[i])
			if err != nil {
				return usageError(err.Error())
			}
			c.since = t
			continue
		}
		switch a {
		case "--json", "-json":
			c.json = true
		case "--if-missing":
			c.ifMissing = true
		case "--all":
			c.all = true
		case "--dry-run":
			c.dryRun = true
		case "-h", "--help", "help":
			fmt.Fprint(out, usage)
			return nil
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return usageError("no command")
	}
	switch rest[0] {
	case "migrate":
		if len(rest) != 2 {
			return usageError("migrate needs one of up, down, status")
		}
		return c.migrate(ctx, rest[1])
	case "outbox":
		return c.outboxCmd(ctx, rest[1:])
	case "dlq":
		return c.dlqCmd(ctx, rest[1:])
	case "stats", "security", "audit":
		return c.reportCmd(ctx, rest)
	case "prune":
		if len(rest) != 1 {
			return usageError("prune takes no arguments")
		}
		return c.prune(ctx)
	case "db":
		if len(rest) != 2 || rest[1] != "create" {
			return usageError("db needs create")
		}
		created, err := postgres.CreateDatabase(ctx, databaseURL())
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(map[string]bool{"created": created})
		}
		if created {
			fmt.Fprintln(out, "database created")
		} else {
			fmt.Fprintln(out, "database exists")
		}
		return nil
	case "keygen":
		if len(rest) != 2 {
			return usageError("keygen needs a file path")
		}
		if c.ifMissing {
			if _, err := token.LoadPrivateKeyFile(rest[1]); err == nil {
				fmt.Fprintf(out, "keeping the existing signing key %s\n", rest[1])
				return nil
			}
		}
		if err := token.GenerateKeyFile(rest[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote Ed25519 signing key to %s\n", rest[1])
		return nil
	}
	return usageError(fmt.Sprintf("unknown command %q", rest[0]))
}

// authctl's sessions: operator commands may scan (prune, dead lists) but
// never hold a transaction open waiting on a person.
var authctlSession = postgres.Session{AppName: "authevents-authctl", StatementTimeout: 5 * time.Minute, IdleInTxTimeout: time.Minute}

func databaseURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://127.0.0.1:5432/authevents?sslmode=disable"
}

func (c *cli) migrate(ctx context.Context, verb string) error {
	pool, err := postgres.Open(ctx, databaseURL(), 2, authctlSession)
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
	case "status":
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
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tAPPLIED AT\tSOURCE")
		for _, r := range rows {
			at := "pending"
			if r.AppliedAt != nil {
				at = r.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\n", r.Version, at, r.Source)
		}
		return tw.Flush()
	}
	return usageError(fmt.Sprintf("unknown migrate command %q", verb))
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want RFC 3339 or a duration", s)
}
