// Command authctl is the operator CLI of authevents.
//
//	authctl <command> [flags] [arguments]
//	authctl help [command]
//
// Each command has its own flags (authctl help <command> lists them);
// output is text unless --json asks for the machine-readable form, whose
// shape is a contract. Configuration comes from the environment, read
// through internal/config like the other binaries (DATABASE_URL, NATS_URL,
// ...; see authctl help).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/authevents/authevents/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], config.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain runs authctl and returns its exit status: 0, 1 when the command
// failed, 2 when it was called wrongly. Errors are one line on stderr; a
// usage error adds a second line naming the help to read, never the whole
// usage.
func runMain(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) int {
	err := run(ctx, args, environ, stdout)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		prefix, topic := "authctl", ""
		if ue.cmd != "" {
			prefix, topic = "authctl "+ue.cmd, " "+ue.cmd
		}
		fmt.Fprintf(stderr, "%s: %s\nRun 'authctl help%s' for usage.\n", prefix, ue.msg, topic)
		return 2
	}
	fmt.Fprintln(stderr, "authctl: "+oneLine(err.Error()))
	return 1
}

// oneLine keeps an error on one line: a driver or server message may
// carry newlines.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// usageError is a command called wrongly: cmd is the command (or group)
// whose help explains the right way.
type usageError struct{ cmd, msg string }

func (e usageError) Error() string { return e.msg }

// cli is what a command runs with: its output, the configuration and the
// values of its flags.
type cli struct {
	out io.Writer
	cfg Config
	opts
}

// run parses args, finds the command, parses its flags, loads the
// configuration and runs the command.
func run(ctx context.Context, args []string, environ map[string]string, out io.Writer) error {
	cmd, o, rest, err := parse(args)
	if err != nil || cmd == nil {
		if errors.Is(err, errHelp) {
			return printHelp(out, rest)
		}
		return err
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	return cmd.run(&cli{out: out, cfg: cfg, opts: o}, ctx, rest)
}

// errHelp: help was asked for; the topic is in parse's rest.
var errHelp = errors.New("help")

// parse finds the command in args and parses its flags, returning the
// command, the flag values and the command's arguments. Flags may stand
// before, between or after the command's words, as they always could
// (authctl --json outbox status). With help asked for (the word help, -h
// or --help) it returns errHelp and the words naming the topic.
func parse(args []string) (*command, opts, []string, error) {
	var o opts
	words, help := commandWords(args)
	if help {
		return nil, o, slices.DeleteFunc(words, func(w string) bool { return w == "help" }), errHelp
	}
	if len(words) == 0 {
		return nil, o, nil, usageError{msg: "no command"}
	}
	cmd := lookup(words)
	if cmd == nil {
		if g := group(words); g != "" {
			return nil, o, nil, usageError{cmd: g, msg: fmt.Sprintf("needs one of: %s", strings.Join(subcommands(g), ", "))}
		}
		return nil, o, nil, usageError{msg: fmt.Sprintf("unknown command %q", words[0])}
	}
	fs := cmd.flagSet(&o)
	if err := parseInterspersed(fs, withoutWords(args, strings.Fields(cmd.name))); err != nil {
		return nil, o, nil, usageError{cmd: cmd.name, msg: err.Error()}
	}
	if cmd.args == "" && fs.NArg() > 0 {
		return nil, o, nil, usageError{cmd: cmd.name, msg: fmt.Sprintf("takes no arguments, got %q", fs.Arg(0))}
	}
	return cmd, o, fs.Args(), nil
}

// commandWords returns the words of args that are not flags or flag
// values, and whether help was asked for (the word help, -h or --help).
func commandWords(args []string) (words []string, help bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(words, args[i+1:]...), help
		case a == "-h" || a == "-help" || a == "--help":
			help = true
		case strings.HasPrefix(a, "-") && len(a) > 1:
			if name := strings.TrimLeft(a, "-"); valueFlags[name] {
				i++ // its value is not a word
			}
		default:
			if a == "help" {
				help = true
			}
			words = append(words, a)
		}
	}
	return words, help
}

// withoutWords removes the first occurrence of each command word, in
// order, leaving the flags and the command's own arguments.
func withoutWords(args, cmdWords []string) []string {
	rest := slices.Clone(args)
	from := 0
	for _, w := range cmdWords {
		for i := from; i < len(rest); i++ {
			if rest[i] == w {
				rest = slices.Delete(rest, i, i+1)
				from = i
				break
			}
		}
	}
	return rest
}

// parseInterspersed parses fs allowing flags after arguments, which the
// flag package alone stops at; fs.Args() is then the arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			positional = append(positional, rest...) // after --, nothing is a flag
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sinceFlag is a --since value: an RFC 3339 time or a duration back from
// now (24h).
type sinceFlag struct{ t *time.Time }

func (s sinceFlag) String() string {
	if s.t == nil || s.t.IsZero() {
		return ""
	}
	return s.t.Format(time.RFC3339)
}

func (s sinceFlag) Set(v string) error {
	t, err := parseSince(v)
	if err != nil {
		return err
	}
	*s.t = t
	return nil
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-11-28T10:00:00Z) or a duration back from now (24h)")
}
