package password

import (
	"context"
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
			h, _ := workerHasher(b, p.params, 1, WorkerConfig{})
			benchHash(b, h)
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
