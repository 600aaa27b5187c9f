package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// personalKEK writes a new key-encryption key of the users' personal data
// keys (PERSONAL_DATA_KEY_FILE: one key a line, the current first).
func (c *cli) personalKEK(_ context.Context, args []string) error {
	if len(args) != 1 {
		return usageError{cmd: "personal kek", msg: "needs one file path"}
	}
	file, written := args[0], false
	ring, err := personal.ReadKeyringFile(file)
	if err != nil || !c.ifMissing {
		err := token.CreateFile(file, []byte(personal.GenerateKEK()+"\n"))
		if errors.Is(err, os.ErrExist) && c.ifMissing {
			// Another authctl made it since we looked: keep theirs.
			if ring, err = personal.ReadKeyringFile(file); err != nil {
				return fmt.Errorf("%s exists and holds no valid key: %w", file, err)
			}
		} else if err != nil {
			return err
		} else if ring, err = personal.ReadKeyringFile(file); err != nil {
			return err
		} else {
			written = true
		}
	}
	if c.json {
		return c.printJSON(map[string]any{"file": file, "written": written, "kekId": ring.CurrentID()})
	}
	if written {
		fmt.Fprintf(c.out, "wrote a personal data key-encryption key to %s (id %s)\n", file, ring.CurrentID())
	} else {
		fmt.Fprintf(c.out, "keeping the existing personal data key-encryption key %s (id %s)\n", file, ring.CurrentID())
	}
	return nil
}

// personalRewrap re-wraps the live data keys under the current KEK.
func (c *cli) personalRewrap(ctx context.Context, _ []string) error {
	ring, err := personal.KeyringFromConfig(c.cfg.PersonalDataKey, c.cfg.PersonalDataKeyFile)
	if err != nil {
		return err
	}
	if ring == nil {
		return errors.New("personal rewrap needs PERSONAL_DATA_KEY_FILE (the current key first, the older ones after it)")
	}
	pool, err := c.openPool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys := personal.NewKeys(pool, ring, personal.Options{})
	total := 0
	for {
		n, err := keys.Rewrap(ctx, 1000)
		if err != nil {
			return err
		}
		if total += n; n == 0 {
			break
		}
	}
	if c.json {
		return c.printJSON(map[string]any{"rewrapped": total, "kekId": ring.CurrentID()})
	}
	fmt.Fprintf(c.out, "re-wrapped %d personal data keys under %s\n", total, ring.CurrentID())
	return nil
}
