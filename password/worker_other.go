//go:build !linux

package password

import (
	"errors"
	"os/exec"
)

// startNiced is Linux-only: elsewhere, hash in the API process.
func startNiced(*exec.Cmd, int) error {
	return errors.New("hash worker processes need Linux (set HASH_WORKERS=0)")
}
