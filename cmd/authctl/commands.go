package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// command is one authctl command: its words, arguments, flags, help and
// the function that runs it.
type command struct {
	name  string   // the words after authctl: "outbox dead retry"
	args  string   // its arguments, for the usage line: "ID... | --all"; "": it takes none
	short string   // one line for the command list
	long  string   // the help text under the usage line
	flags flagBits // the flags it accepts
	// run runs it; a method expression such as (*cli).stats.
	run func(c *cli, ctx context.Context, args []string) error
}

// opts holds the values of every flag; each command registers only its
// own on its FlagSet.
type opts struct {
	json      bool
	all       bool
	dryRun    bool
	ifMissing bool
	since     time.Time
	user      string
	interval  time.Duration
}

type flagBits uint

const (
	fJSON flagBits = 1 << iota
	fAll
	fDryRun
	fIfMissing
	fSince
	fUser
	fInterval
)

// valueFlags are the flags that take a value, so their value is not
// mistaken for a command word wherever the flag stands.
var valueFlags = map[string]bool{"since": true, "user": true, "interval": true}

func (cmd *command) flagSet(o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("authctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // runMain prints one line and a hint instead
	fs.Usage = func() {}
	if cmd.flags&fAll != 0 {
		fs.BoolVar(&o.all, "all", false, "every one, instead of naming them")
	}
	if cmd.flags&fDryRun != 0 {
		fs.BoolVar(&o.dryRun, "dry-run", false, "count, delete nothing")
	}
	if cmd.flags&fIfMissing != 0 {
		fs.BoolVar(&o.ifMissing, "if-missing", false, "keep a valid key that is already there")
	}
	if cmd.flags&fInterval != 0 {
		fs.DurationVar(&o.interval, "interval", 2*time.Second, "how long the publish rate is measured over")
	}
	if cmd.flags&fJSON != 0 {
		fs.BoolVar(&o.json, "json", false, "print JSON (the documented shape, for scripts) instead of text")
	}
	if cmd.flags&fSince != 0 {
		fs.Var(sinceFlag{&o.since}, "since", "only from T on: RFC 3339 (2026-11-28T10:00:00Z) or a duration back from now (24h)")
	}
	if cmd.flags&fUser != 0 {
		fs.StringVar(&o.user, "user", "", "the user id (required)")
	}
	return fs
}

// commands is every authctl command, in the order help lists them. Names,
// flags and --json shapes are a contract: extend, never rename.
var commands = []*command{
	{name: "migrate up", short: "apply every pending migration", flags: fJSON,
		long: "Applies every pending migration to DATABASE_URL, in order.\n--json: {applied: [{version, source, durationMs}], version}.",
		run:  func(c *cli, ctx context.Context, _ []string) error { return c.migrate(ctx, "up") }},
	{name: "migrate down", short: "roll back the most recent migration", flags: fJSON,
		long: "Rolls back the most recently applied migration.\n--json: {rolledBack, source}.",
		run:  func(c *cli, ctx context.Context, _ []string) error { return c.migrate(ctx, "down") }},
	{name: "migrate status", short: "list migrations and whether each is applied", flags: fJSON,
		long: "Lists every migration, applied or pending.\n--json: {migrations: [{version, source, applied, appliedAt}]}.",
		run:  func(c *cli, ctx context.Context, _ []string) error { return c.migrate(ctx, "status") }},
	{name: "db create", short: "create the database named in DATABASE_URL if it does not exist", flags: fJSON,
		long: "Creates the database named in DATABASE_URL, connecting to the server's postgres database;\ndoes nothing if it exists.\n--json: {created}.",
		run:  (*cli).dbCreate},
	{name: "outbox status", short: "backlog, lag (age of the oldest unsent row), dead and parked rows, publish rate", flags: fJSON | fInterval,
		long: "Reads the outbox backlog, lag, dead and parked rows from PostgreSQL, and the publish rate\nfrom the stream (STREAM_NAME on NATS_URL): its last sequence over --interval. Without NATS\nthe rate is unknown and the reason is given.\n--json: {backlog, oldestUnsentAgeSeconds, dead, parked, publishRatePerSecond, stream, streamMessages, note?}.",
		run:  (*cli).outboxStatus},
	{name: "outbox dead list", short: "rows the relay gave up on, each with the rows of its key it parks", flags: fJSON,
		long: "Lists dead outbox rows, oldest first (at most 1000). A dead row parks the later rows of its\nordering key (parkedBehind) until it is retried or discarded.\n--json: {dead: [{id, subject, attempts, lastError, createdAt, payload, orderingKey, parkedBehind}]}.",
		run:  (*cli).outboxDeadList},
	{name: "outbox dead retry", args: "ID... | --all", short: "make dead rows pending again (attempts reset)", flags: fJSON | fAll,
		long: "Makes the named dead rows (event ids), or with --all every dead row, pending again with a\nfresh attempt count. Each is again first of its key, so the rows it parked follow it.\n--json: {retried}.",
		run:  (*cli).outboxDeadRetry},
	{name: "outbox dead discard", args: "ID... | --all", short: "delete dead rows", flags: fJSON | fAll,
		long: "Deletes the named dead rows (event ids), or with --all every dead row; the rows they parked\nflow, in order. The discarded events are never published.\n--json: {discarded}.",
		run:  (*cli).outboxDeadDiscard},
	{name: "dlq list", short: "dead letters of the consumers (DLQ_STREAM)", flags: fJSON | fAll,
		long: "Lists every message of the consumers' dead-letter stream (DLQ_STREAM, auth-events-dlq).\n--json: {deadLetters: [{seq, time, eventId, originalSubject, stream, streamSeq, consumer, deliveries, lastError}]}.",
		run:  dlq("list")},
	{name: "dlq show", args: "SEQ... | --all", short: "dead letters with their bodies", flags: fJSON | fAll,
		long: "Shows the named dead letters (sequence numbers in DLQ_STREAM), or with --all every one, with\ntheir bodies.\n--json: {deadLetters: [... as dlq list, body]}.",
		run:  dlq("show")},
	{name: "dlq replay", args: "SEQ... | --all", short: "republish dead letters to their original subject, remove them from the DLQ", flags: fJSON | fAll,
		long: "Publishes each named dead letter (or with --all every one) again to its original subject,\nunder a fresh Nats-Msg-Id (<event id>:replay:<seq>), then removes it from DLQ_STREAM. Every\nconsumer of that subject sees it again; handlers are idempotent by event id.\n--json: {replayed: [... as dlq list]}.",
		run:  dlq("replay")},
	{name: "dlq purge", args: "SEQ... | --all", short: "remove dead letters", flags: fJSON | fAll,
		long: "Removes the named dead letters (or with --all every one) without replaying them.\n--json: {purged: [... as dlq list]}.",
		run:  dlq("purge")},
	{name: "stats", short: "analytics: events per type and hour, active users per day", flags: fJSON | fSince,
		long: "Prints the analytics consumer's counts: events per type and hour, active users per day.\n--json: {eventsByHour: [{hour, type, count}], activeUsersByDay: [{day, users}]}.",
		run:  (*cli).stats},
	{name: "security alerts", short: "security alerts, newest first", flags: fJSON | fSince,
		long: "Prints the security consumer's alerts, newest first (at most 1000). Details keys are\ncamelCase; new_user_agent alerts also carry user_agent, their key before (deprecated).\n--json: {alerts: [{id, eventId, rule, severity, userId, email, ip, details, createdAt}]}.",
		run:  (*cli).securityAlerts},
	{name: "audit", short: "a user's audit log, oldest first", flags: fJSON | fUser | fSince,
		long: "Prints a user's audit log, oldest first (at most 10000); the text form leaves out the\nenvelopes, --json has them.\n--json: {entries: [{eventId, type, baseType, userId, occurredAt, ip, userAgent, envelope}]} (baseType: the type\nwithout its version suffix, user.logged_in for user.logged_in_v2).",
		run:  (*cli).audit},
	{name: "prune", short: "delete rows past retention: the consumer tables, ended sessions and expired links", flags: fJSON | fDryRun,
		long: "Deletes, in batches, the rows past retention: processed_events (CONSUMER_RETENTION),\nconsumer_failures (CONSUMER_FAILURES_RETENTION), expired consumer_leases, security_failed_logins,\nsecurity_alert_marks and security_account_events (SECURITY_RETENTION), sessions ended longer\nthan SESSION_RETENTION ago, and expired one-time links (one_time_tokens); it erases the personal data\nkeys of no user (day and farewell keys) made more than 30 days ago (personal_keys: tombstones stay).\n--dry-run counts them instead.\n--json: {dryRun, tables: {<table>: rows}, total}.",
		run:  (*cli).prune},
	{name: "users show", args: "ID|EMAIL", short: "a user: address, name, times, disabled, live sessions (never the hash)", flags: fJSON,
		long: "Shows the user with that id or address (any spelling of it).\n--json: {id, email, name, createdAt, emailVerifiedAt, disabledAt, lastLoginAt, liveSessions}.",
		run:  users("show")},
	{name: "users disable", args: "ID|EMAIL", short: "disable a user: every session ends, logins are refused", flags: fJSON,
		long: "Disables the user through the account use case: every session ends at once (rows and the\nRedis denylist, REDIS_URL), logins answer 403 account_disabled, and user.disabled is written\nto the outbox in the same transaction. A disabled user is left as it is (changed: false).\n--json: {userId, changed, sessionsEnded}.",
		run:  users("disable")},
	{name: "users enable", args: "ID|EMAIL", short: "enable a disabled user again", flags: fJSON,
		long: "Enables a disabled user (user.enabled). An enabled user is left as it is (changed: false).\n--json: {userId, changed, sessionsEnded}.",
		run:  users("enable")},
	{name: "users delete", args: "ID|EMAIL", short: "delete a user: sessions end, the account is gone, user.deleted", flags: fJSON,
		long: "Deletes the user through the account use case: every session ends (rows and denylist), the\nuser goes with its sessions and links, and user.deleted {by: operator} is written to the\noutbox in the same transaction; the email service mails one confirmation.\n--json: {userId, changed, sessionsEnded}.",
		run:  users("delete")},
	{name: "keygen", args: "FILE", short: "write a new Ed25519 signing key (PKCS#8 PEM, mode 0600)", flags: fIfMissing | fJSON,
		long: "Writes a new Ed25519 signing key to FILE (PKCS#8 PEM, mode 0600) for JWT_PRIVATE_KEY_FILE;\nrefuses to overwrite a file. With --if-missing a valid key already there is kept.\n--json: {file, written}.",
		run:  (*cli).keygen},
	{name: "mailkey", args: "FILE", short: "write a new X25519 key pair for sealing mail links (env file, mode 0600)", flags: fIfMissing | fJSON,
		long: "Writes a new X25519 key pair to FILE as two environment lines, MAIL_SEAL_PUBLIC_KEY (for the\napi) and MAIL_SEAL_PRIVATE_KEY (for the email service only); refuses to overwrite a file. With\n--if-missing a valid pair already there is kept.\n--json: {file, written, publicKey}.",
		run:  (*cli).mailkey},
	{name: "personal kek", args: "FILE", short: "write a new key-encryption key for the users' personal data keys (mode 0600)", flags: fIfMissing | fJSON,
		long: "Writes a new key-encryption key (32 random bytes, base64url, one line) to FILE for\nPERSONAL_DATA_KEY_FILE (bin/api, bin/consumer, authctl); refuses to overwrite a file. With\n--if-missing a valid key already there is kept. To rotate, put a new key on the first line and\nkeep the old ones below it (docs/privacy.md, \"Key rotation\").\n--json: {file, written, kekId}.",
		run:  (*cli).personalKEK},
	{name: "personal rewrap", short: "re-wrap every personal data key under the current key-encryption key", flags: fJSON,
		long: "Re-wraps, in batches, every live personal data key still wrapped under an older key-encryption\nkey (PERSONAL_DATA_KEY_FILE: the current one first, the older ones after it) under the current\none. The data keys do not change, so every ciphertext published stays readable; once it has run,\nthe older key unwraps nothing in the live database (docs/privacy.md, \"Key rotation\").\n--json: {rewrapped, kekId}.",
		run:  (*cli).personalRewrap},
}

// lookup returns the command whose words begin words, the longest if
// several do, or nil.
func lookup(words []string) *command {
	var best *command
	for _, c := range commands {
		name := strings.Fields(c.name)
		if len(name) <= len(words) && slices.Equal(name, words[:len(name)]) && (best == nil || len(name) > len(strings.Fields(best.name))) {
			best = c
		}
	}
	return best
}

// group returns the longest beginning of words that begins some commands
// without being one ("outbox dead"), or "".
func group(words []string) string {
	for n := len(words); n > 0; n-- {
		g := strings.Join(words[:n], " ")
		if len(subcommands(g)) > 0 {
			return g
		}
	}
	return ""
}

// subcommands lists the rest of the names of the commands in group g.
func subcommands(g string) []string {
	var subs []string
	for _, c := range commands {
		if rest, ok := strings.CutPrefix(c.name, g+" "); ok {
			subs = append(subs, rest)
		}
	}
	return subs
}

func (cmd *command) usageLine() string {
	var b strings.Builder
	b.WriteString("usage: authctl " + cmd.name)
	cmd.flagSet(&opts{}).VisitAll(func(f *flag.Flag) {
		if strings.Contains(cmd.args, "--"+f.Name) {
			return // the arguments name it: ID... | --all
		}
		if f.Name == "user" {
			b.WriteString(" --user ID")
		} else if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			b.WriteString(" [--" + f.Name + "]")
		} else {
			b.WriteString(" [--" + f.Name + " " + strings.ToUpper(map[string]string{"since": "t", "interval": "d"}[f.Name]) + "]")
		}
	})
	if cmd.args != "" {
		b.WriteString(" " + cmd.args)
	}
	return b.String()
}

// printHelp prints the help of a command or group, or the overview when
// topic is empty.
func printHelp(out io.Writer, topic []string) error {
	if len(topic) == 0 {
		return printOverview(out)
	}
	if cmd := lookup(topic); cmd != nil {
		fmt.Fprintf(out, "%s\n\n%s\n", cmd.usageLine(), cmd.long)
		fs := cmd.flagSet(&opts{})
		if cmd.flags != 0 {
			tw := table(out, "\nflags:")
			fs.VisitAll(func(f *flag.Flag) {
				def := ""
				if f.DefValue != "" && f.DefValue != "false" {
					def = " (default " + f.DefValue + ")"
				}
				fmt.Fprintf(tw, "  --%s\t%s%s\n", f.Name, f.Usage, def)
			})
			tw.Flush()
		}
		return nil
	}
	if g := group(topic); g != "" && g == strings.Join(topic, " ") {
		fmt.Fprintf(out, "authctl %s commands:\n\n", g)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, c := range commands {
			if strings.HasPrefix(c.name, g+" ") {
				fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.short)
			}
		}
		tw.Flush()
		fmt.Fprintf(out, "\nUse \"authctl help %s <command>\" for more about a command.\n", g)
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown help topic %q", strings.Join(topic, " "))}
}

func printOverview(out io.Writer) error {
	fmt.Fprint(out, "authctl is the operator CLI of authevents.\n\nusage: authctl <command> [flags] [arguments]\n\ncommands:\n")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.short)
	}
	tw.Flush()
	fmt.Fprint(out, `
Flags follow the command (authctl outbox status --json). Output is text; --json prints
the documented JSON shape, for scripts.

environment:
  DATABASE_URL      default postgres://127.0.0.1:5432/authevents?sslmode=disable
  NATS_URL          default nats://127.0.0.1:4222 (outbox status: publish rate; dlq)
  STREAM_NAME       default auth-events
  DLQ_STREAM        default auth-events-dlq
  CONSUMER_RETENTION, CONSUMER_FAILURES_RETENTION, SECURITY_RETENTION, SESSION_RETENTION
                    retention for prune, defaults 744h, 168h, 192h, 720h (as bin/consumer, bin/api)
  REDIS_URL, REDIS_KEY_PREFIX, ACCESS_TOKEN_TTL, JWT_LEEWAY, SESSION_IDLE_TIMEOUT, SERVICE_NAME, APP_ENV
                    users commands: the denylist and the events, as bin/api (defaults
                    redis://127.0.0.1:6379/0, authevents:, 15m, 5s, 168h, auth-service, development)
  PERSONAL_DATA_KEY, PERSONAL_DATA_KEY_FILE, EVENTS_V1
                    users commands: version 2 of their events, as bin/api

Use "authctl help <command>" for more about a command.
`)
	return nil
}

// table starts an aligned text table (the default output of the listing
// commands) with its header row.
func table(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}
