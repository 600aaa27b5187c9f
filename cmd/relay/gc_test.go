package main

import (
	"runtime/debug"
	"testing"
)

// TestGCPercent: the relay runs at gcPercent unless GOGC is set, and an
// operator's GOGC is left as the runtime read it.
func TestGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	inForce := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	if got := setGC(map[string]string{}); got != gcPercent || inForce() != gcPercent {
		t.Errorf("without GOGC the relay runs at %d, want %d", got, gcPercent)
	}
	if got := setGC(map[string]string{"GOGC": ""}); got != gcPercent || inForce() != gcPercent {
		t.Errorf("with an empty GOGC the relay runs at %d, want %d", got, gcPercent)
	}
	debug.SetGCPercent(150) // as the runtime set it from GOGC=150
	if got := setGC(map[string]string{"GOGC": "150"}); got != 150 || inForce() != 150 {
		t.Errorf("with GOGC=150 the relay runs at %d, want 150", got)
	}
}
