package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
)

// unreachable points every server at a closed port: the tests in this
// file pass only if authctl settles them before connecting to anything.
var unreachable = map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/none?connect_timeout=1", "NATS_URL": "nats://127.0.0.1:1"}

func authctl(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runMain(context.Background(), args, unreachable, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestEveryCommandHasHelp: authctl help <command>, authctl <command> -h
// and --help print the command's usage line, with every flag it accepts,
// and its --json shape, on stdout, with status 0.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range commands {
		code, out, errOut := authctl(append([]string{"help"}, strings.Fields(cmd.name)...)...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: authctl "+cmd.name) {
			t.Errorf("authctl help %s = %d, stdout %q, stderr %q", cmd.name, code, out, errOut)
			continue
		}
		fs := cmd.flagSet(&opts{})
		n := 0
		for name := range map[string]flagBits{"json": fJSON, "all": fAll, "dry-run": fDryRun, "if-missing": fIfMissing, "since": fSince, "user": fUser, "interval": fInterval} {
			if fs.Lookup(name) == nil {
				continue
			}
			n++
			usage := strings.SplitN(out, "\n", 2)[0]
			if !strings.Contains(usage, "--"+name) || !strings.Contains(out, "\n  --"+name+" ") {
				t.Errorf("authctl help %s does not show --%s:\n%s", cmd.name, name, out)
			}
		}
		if n == 0 {
			t.Errorf("authctl %s accepts no flag", cmd.name)
		}
		if fs.Lookup("json") != nil && !strings.Contains(out, "--json: {") {
			t.Errorf("authctl help %s does not give the --json shape:\n%s", cmd.name, out)
		}
		for _, h := range []string{"-h", "--help"} {
			if code, got, _ := authctl(append(strings.Fields(cmd.name), h)...); code != 0 || got != out {
				t.Errorf("authctl %s %s = %d, %q; want the help", cmd.name, h, code, got)
			}
		}
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := authctl("help")
	if code != 0 {
		t.Fatalf("authctl help = %d", code)
	}
	for _, cmd := range commands {
		if !strings.Contains(out, "\n  "+cmd.name+" ") {
			t.Errorf("authctl help does not list %q:\n%s", cmd.name, out)
		}
	}
	if !strings.Contains(out, `Use "authctl help <command>"`) {
		t.Errorf("authctl help does not say how to get a command's help:\n%s", out)
	}
	// A group lists its commands only.
	code, out, _ = authctl("help", "outbox", "dead")
	if code != 0 || !strings.Contains(out, "outbox dead retry ID... | --all") || strings.Contains(out, "dlq") || strings.Contains(out, "outbox status") {
		t.Errorf("authctl help outbox dead = %d:\n%s", code, out)
	}
	// The old spelling, help anywhere, still gives help.
	if code, got, _ := authctl("outbox", "status", "help"); code != 0 || !strings.HasPrefix(got, "usage: authctl outbox status") {
		t.Errorf("authctl outbox status help = %d, %q", code, got)
	}
}

// TestUsageErrorsAreOneLineAndAHint: a command called wrongly gets one
// line naming the problem and one naming the help to read, on stderr,
// status 2, and nothing on stdout; never the whole usage.
func TestUsageErrorsAreOneLineAndAHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		line      string
		helpTopic string
	}{
		{nil, "authctl: no command", ""},
		{[]string{"frobnicate"}, `authctl: unknown command "frobnicate"`, ""},
		{[]string{"help", "frobnicate"}, `authctl: unknown help topic "frobnicate"`, ""},
		{[]string{"outbox"}, "authctl outbox: needs one of: status, dead list, dead retry, dead discard", " outbox"},
		{[]string{"outbox", "dead"}, "authctl outbox dead: needs one of: list, retry, discard", " outbox dead"},
		{[]string{"security"}, "authctl security: needs one of: alerts", " security"},
		{[]string{"outbox", "dead", "retry"}, "authctl outbox dead retry: name the event ids, or --all", " outbox dead retry"},
		{[]string{"outbox", "dead", "discard", "nope"}, `authctl outbox dead discard: "nope" is not an event id`, " outbox dead discard"},
		{[]string{"dlq", "replay"}, "authctl dlq replay: name the dead-letter sequence numbers, or --all", " dlq replay"},
		{[]string{"dlq", "purge", "x1"}, `authctl dlq purge: "x1" is not a dead-letter sequence number`, " dlq purge"},
		{[]string{"dlq", "list", "3"}, `authctl dlq list: takes no arguments, got "3"`, " dlq list"},
		{[]string{"audit"}, "authctl audit: needs --user ID", " audit"},
		{[]string{"audit", "--user", "bob"}, `authctl audit: --user "bob" is not a user id`, " audit"},
		{[]string{"stats", "--since", "yesterday"}, `authctl stats: invalid value "yesterday" for flag -since: want RFC 3339 (2026-11-28T10:00:00Z) or a duration back from now (24h)`, " stats"},
		{[]string{"stats", "--since"}, "authctl stats: flag needs an argument: -since", " stats"},
		{[]string{"stats", "--dry-run"}, "authctl stats: flag provided but not defined: -dry-run", " stats"},
		{[]string{"keygen"}, "authctl keygen: needs one file path", " keygen"},
		{[]string{"keygen", "a", "b"}, "authctl keygen: needs one file path", " keygen"},
		{[]string{"migrate", "sideways"}, "authctl migrate: needs one of: up, down, status", " migrate"},
		{[]string{"migrate", "up", "now"}, `authctl migrate up: takes no arguments, got "now"`, " migrate up"},
		{[]string{"outbox", "status", "--interval", "0s"}, "authctl outbox status: --interval 0s: want a positive duration", " outbox status"},
		{[]string{"prune", "--json", "all"}, `authctl prune: takes no arguments, got "all"`, " prune"},
	} {
		code, out, errOut := authctl(tc.args...)
		want := tc.line + "\nRun 'authctl help" + tc.helpTopic + "' for usage.\n"
		if code != 2 || out != "" || errOut != want {
			t.Errorf("authctl %s = %d, stdout %q, stderr\n%s\nwant 2, stderr\n%s", strings.Join(tc.args, " "), code, out, errOut, want)
		}
	}
}

// TestFailuresAreOneLine: a command that fails (here: nothing listens on
// DATABASE_URL) prints one line and exits 1, without the usage.
func TestFailuresAreOneLine(t *testing.T) {
	t.Parallel()
	code, out, errOut := authctl("outbox", "dead", "list")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "authctl: ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("authctl outbox dead list with no database = %d, stdout %q, stderr %q; want 1 and one line", code, out, errOut)
	}
}

// TestConfigErrorsNameTheVariable: configuration comes through
// internal/config, so a bad value is refused with the variable named.
func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		"CONSUMER_RETENTION":          "CONSUMER_RETENTION",
		"CONSUMER_FAILURES_RETENTION": "CONSUMER_FAILURES_RETENTION",
		"SECURITY_RETENTION":          "SECURITY_RETENTION",
		"SESSION_RETENTION":           "SESSION_RETENTION",
	} {
		for _, v := range []string{"soon", "-1h", "0s"} {
			err := run(context.Background(), []string{"prune", "--dry-run"}, map[string]string{env: v}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("prune with %s=%s: %v, want an error naming %s", env, v, err, want)
			}
		}
	}
	// Only prune needs positive retentions: bin/api accepts
	// SESSION_RETENTION=0, and a shared env file must not stop keygen
	// or migrate (found by review).
	key := filepath.Join(t.TempDir(), "k.pem")
	if err := run(context.Background(), []string{"keygen", key}, map[string]string{"SESSION_RETENTION": "0s"}, &bytes.Buffer{}); err != nil {
		t.Errorf("keygen with SESSION_RETENTION=0s: %v", err)
	}
	cfg, err := loadConfig(map[string]string{"DATABASE_URL": "", "DLQ_STREAM": "x-dlq"})
	if err != nil || cfg.DatabaseURL != "postgres://127.0.0.1:5432/authevents?sslmode=disable" || cfg.DLQStream != "x-dlq" ||
		cfg.Stream != "auth-events" || cfg.NATSURL != "nats://127.0.0.1:4222" || cfg.Retention != consumer.DefaultRetention().Processed ||
		cfg.FailuresRetention != consumer.DefaultRetention().Failures || cfg.SecurityRetention != security.DefaultRetention || cfg.SessionRetention != 720*time.Hour {
		t.Errorf("loadConfig = %+v, %v; want the binaries' defaults (an empty value is unset)", cfg, err)
	}
}

// TestFlagsStandAnywhere: each command parses its own flags, after its
// words as in the Go tools, and wherever the old global parser took them
// (before the command, between its words, after its arguments), in both
// -flag and --flag spellings, with --flag=value too.
func TestFlagsStandAnywhere(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		args []string
		cmd  string
		want opts
		rest []string
	}{
		{[]string{"outbox", "status", "--json"}, "outbox status", opts{json: true, interval: 2 * time.Second}, nil},
		{[]string{"--json", "outbox", "status"}, "outbox status", opts{json: true, interval: 2 * time.Second}, nil},
		{[]string{"outbox", "-json", "status", "-interval", "50ms"}, "outbox status", opts{json: true, interval: 50 * time.Millisecond}, nil},
		{[]string{"outbox", "dead", "retry", "a", "--all", "b", "--json"}, "outbox dead retry", opts{json: true, all: true}, []string{"a", "b"}},
		{[]string{"--all", "dlq", "replay"}, "dlq replay", opts{all: true}, nil},
		{[]string{"dlq", "show", "1", "2"}, "dlq show", opts{}, []string{"1", "2"}},
		{[]string{"--since", "2026-11-28T10:00:00Z", "audit", "--user", "u1"}, "audit", opts{since: since, user: "u1"}, nil},
		{[]string{"audit", "--user=u1", "--since=2026-11-28T10:00:00Z", "--json"}, "audit", opts{since: since, user: "u1", json: true}, nil},
		{[]string{"security", "--since", "2026-11-28T10:00:00Z", "alerts"}, "security alerts", opts{since: since}, nil},
		{[]string{"keygen", "--if-missing", "k.pem"}, "keygen", opts{ifMissing: true}, []string{"k.pem"}},
		{[]string{"keygen", "k.pem", "--if-missing"}, "keygen", opts{ifMissing: true}, []string{"k.pem"}},
		{[]string{"keygen", "--", "-k.pem"}, "keygen", opts{}, []string{"-k.pem"}},
		{[]string{"prune", "--dry-run", "--json"}, "prune", opts{dryRun: true, json: true}, nil},
		{[]string{"migrate", "status", "--json"}, "migrate status", opts{json: true}, nil},
		{[]string{"db", "create"}, "db create", opts{}, nil},
	} {
		cmd, o, rest, err := parse(tc.args)
		if err != nil || cmd == nil || cmd.name != tc.cmd || o != tc.want || !slices.Equal(rest, tc.rest) {
			name := "<nil>"
			if cmd != nil {
				name = cmd.name
			}
			t.Errorf("parse(%q) = %s, %+v, %q, %v; want %s, %+v, %q", tc.args, name, o, rest, err, tc.cmd, tc.want, tc.rest)
		}
	}
	// --since with a duration counts back from now.
	_, o, _, err := parse([]string{"stats", "--since", "24h"})
	if err != nil || time.Since(o.since) < 24*time.Hour || time.Since(o.since) > 25*time.Hour {
		t.Errorf("--since 24h = %v, %v", o.since, err)
	}
}
