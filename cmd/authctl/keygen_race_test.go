package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// TestKeygenIfMissingRaces: two `make run`s started at once (the e2e tests
// do it) both ran `authctl keygen --if-missing` on one file: one saw no
// key, lost the race to create it, and failed with "file exists" (or read
// the other's half-written file). Any number at once now all succeed, and
// the file holds one valid key.
func TestKeygenIfMissingRaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		cmd, file string
		valid     func(string) error
	}{
		{"keygen", filepath.Join(dir, "jwt.pem"), func(f string) error { _, err := token.LoadPrivateKeyFile(f); return err }},
		{"mailkey", filepath.Join(dir, "mail.env"), func(f string) error { _, err := readMailKey(f); return err }},
		{"personal kek", filepath.Join(dir, "personal.key"), func(f string) error { _, err := personal.ReadKeyringFile(f); return err }},
	} {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				var out bytes.Buffer
				errs <- run(context.Background(), append(strings.Fields(tc.cmd), "--if-missing", tc.file), map[string]string{}, &out)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("%s --if-missing, 16 at once: %v", tc.cmd, err)
			}
		}
		if err := tc.valid(tc.file); err != nil {
			t.Errorf("%s: the file holds no valid key: %v", tc.cmd, err)
		}
	}
}
