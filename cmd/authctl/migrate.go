package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
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
		err := token.GenerateKeyFile(file)
		if errors.Is(err, os.ErrExist) && c.ifMissing {
			// Another authctl made it since we looked: keep theirs.
			if _, lerr := token.LoadPrivateKeyFile(file); lerr != nil {
				return fmt.Errorf("%s exists and holds no valid key: %w", file, lerr)
			}
			err = nil
		} else if err == nil {
			written = true
		}
		if err != nil {
			return err
		}
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

func (c *cli) mailkey(_ context.Context, args []string) error {
	if len(args) != 1 {
		return usageError{cmd: "mailkey", msg: "needs one file path"}
	}
	file, written := args[0], false
	pub, err := readMailKey(file)
	if err != nil || !c.ifMissing {
		var priv string
		pub, priv = token.GenerateSealKey()
		err := token.CreateFile(file, fmt.Appendf(nil, "MAIL_SEAL_PUBLIC_KEY=%s\nMAIL_SEAL_PRIVATE_KEY=%s\n", pub, priv))
		if errors.Is(err, os.ErrExist) && c.ifMissing {
			// Another authctl made it since we looked: keep theirs.
			if pub, err = readMailKey(file); err != nil {
				return fmt.Errorf("%s exists and holds no valid key pair; remove it first", file)
			}
		} else if err != nil {
			return err
		} else {
			written = true
		}
	}
	if c.json {
		return c.printJSON(map[string]any{"file": file, "written": written, "publicKey": pub})
	}
	if written {
		fmt.Fprintf(c.out, "wrote a mail seal key pair to %s (public key %s)\n", file, pub)
	} else {
		fmt.Fprintf(c.out, "keeping the existing mail seal key pair %s (public key %s)\n", file, pub)
	}
	return nil
}

// readMailKey returns the public key of a valid pair in an env file
// written by mailkey.
func readMailKey(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var pub, priv string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MAIL_SEAL_PUBLIC_KEY="); ok {
			pub = v
		}
		if v, ok := strings.CutPrefix(line, "MAIL_SEAL_PRIVATE_KEY="); ok {
			priv = v
		}
	}
	sealer, err := token.NewSealer(pub)
	if err != nil {
		return "", err
	}
	opener, err := token.NewOpener(priv)
	if err != nil {
		return "", err
	}
	check := token.Binding{EventID: "check"}
	sealed, err := sealer.Seal(check, "check")
	if err != nil {
		return "", err
	}
	if got, err := opener.Open(check, sealed); err != nil || got != "check" {
		return "", errors.New("the public and private keys do not match")
	}
	return pub, nil
}
