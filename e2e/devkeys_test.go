package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestDevKeysFromManyMakeRunsAtOnce: several make runs that start at once
// on a fresh checkout (CI's clean clone, the e2e tests in parallel) all get
// the development keys, and the same ones. CI saw one make run die with
// "authctl: link var/.tmp-key-… var/jwt-ed25519.pem: file exists" when
// another created the signing key between its check and its keygen.
func TestDevKeysFromManyMakeRunsAtOnce(t *testing.T) {
	t.Parallel()
	bin := buildAll(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	const runs = 8
	outs := make([][]byte, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			cmd := exec.Command("bash", "-c", `set -euo pipefail; root=$PWD; source scripts/devkeys.sh
echo "$JWT_PRIVATE_KEY_FILE $PERSONAL_DATA_KEY_FILE $MAIL_SEAL_PUBLIC_KEY"; cat "$JWT_PRIVATE_KEY_FILE" "$PERSONAL_DATA_KEY_FILE"`)
			cmd.Dir = root
			cmd.Env = append(cleanKeyEnv(os.Environ()), "BIN_DIR="+bin, "KEY_DIR="+keys)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range runs {
		if errs[i] != nil {
			t.Errorf("run %d of %d at once: %v\n%s", i+1, runs, errs[i], outs[i])
		} else if !bytes.Equal(outs[i], outs[0]) {
			t.Errorf("run %d got other keys than run 1:\n%s\nvs\n%s", i+1, outs[i], outs[0])
		}
	}
}

// cleanKeyEnv drops the variables that name keys, so the script makes its own.
func cleanKeyEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := bytes.Cut([]byte(kv), []byte("="))
		switch string(name) {
		case "JWT_PRIVATE_KEY_FILE", "MAIL_SEAL_PUBLIC_KEY", "MAIL_SEAL_PRIVATE_KEY", "PERSONAL_DATA_KEY", "PERSONAL_DATA_KEY_FILE":
			continue
		}
		out = append(out, kv)
	}
	return out
}
