package password

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkHandover is the cost of hashing in a worker process rather than
// in this one: the difference of the two ns/op at the same parameters.
// With cheap parameters the difference is the handover alone (two pipe
// writes, two wake-ups, a goroutine); at the OWASP ones it shows against
// a real hash.
//
//	go test -run '^$' -bench Handover -benchtime 2s -count 5 ./password/
func BenchmarkHandover(b *testing.B) {
	for _, p := range []struct {
		name   string
		params Params
	}{{"cheap", cheap}, {"owasp", OWASP()}} {
		b.Run(p.name+"/in-process", func(b *testing.B) {
			h, err := NewHasher(p.params, 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			benchHash(b, h)
		})
		b.Run(p.name+"/worker", func(b *testing.B) {
			h, ws := workerHasher(b, p.params, 1, WorkerConfig{})
			benchHash(b, h)
			// The worker's peak resident memory: what a deployment's
			// memory limit must allow per HASH_CONCURRENCY slot.
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ws.PIDs()[0]))
			if err != nil {
				b.Fatal(err)
			}
			for _, line := range strings.Split(string(status), "\n") {
				if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(kb, "kB")))
					b.ReportMetric(float64(n)/1024, "worker-peak-MB")
				}
			}
		})
	}
}

func benchHash(b *testing.B, h *Hasher) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
