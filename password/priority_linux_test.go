package password

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// niceThreads counts this process's threads whose nice value is n
// (field 19 of /proc/self/task/<tid>/stat).
func niceThreads(t *testing.T, n int) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/self/task/*/stat")
	count := 0
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: split after its ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if v, err := strconv.Atoi(fields[16]); err == nil && v == n {
			count++
		}
	}
	return count
}

// TestLowPriorityHashing: WithLowPriority hashes on its own threads, one
// per slot, each at nice 10, and hashes and verifies as before.
func TestLowPriorityHashing(t *testing.T) {
	before := niceThreads(t, hashNice)
	h, err := NewHasher(Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 3, nil, WithLowPriority())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(ctx, "correct horse battery", enc); !ok || err != nil {
		t.Fatalf("Verify(right password) = %v, %v", ok, err)
	}
	if ok, _ := h.Verify(ctx, "wrong horse battery", enc); ok {
		t.Fatal("Verify(wrong password) = true")
	}
	if got := niceThreads(t, hashNice) - before; got != 3 {
		t.Errorf("%d threads at nice %d, want one per slot (3)", got, hashNice)
	}
}
