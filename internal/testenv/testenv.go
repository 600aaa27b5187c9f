// Package testenv decides what a test does when a service it needs is not
// reachable: skip on a developer's machine, fail under CI=true, where a
// missing service must never pass as a green run.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// Unavailable skips t, or fails it when CI=true, because service cannot be
// used.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but unavailable: %v", service, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this a failure): %v", service, err)
}

// Getenv returns the environment variable key, or def when it is unset.
func Getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Name returns prefix followed by random hex, for per-test databases,
// key prefixes and stream names.
func Name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
