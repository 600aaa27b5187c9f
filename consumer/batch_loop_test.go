package consumer

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sized is a message of n bytes.
type sized struct {
	jetstream.Msg
	n int
}

func (m sized) Data() []byte { return make([]byte, m.n) }

// TestBatchesAreBounded: collect cuts a batch at Config.Batch events, at
// Config.BatchBytes (the message over it starts the next batch, and a
// message larger than the bound is a batch alone), and as soon as no
// message waits, unless BatchLinger gives later ones a moment.
func TestBatchesAreBounded(t *testing.T) {
	c := &Consumer{cfg: Config{Batch: 3, BatchBytes: 100}}
	queue := make(chan pending, 10)
	for _, n := range []int{10, 10, 10, 10, 60, 50, 150, 10} {
		queue <- pending{msg: sized{n: n}}
	}
	close(queue)
	var sizes [][]int
	var carry *pending
	for {
		var ps []pending
		ps, carry = c.collect(queue, carry)
		if len(ps) == 0 {
			break
		}
		var batch []int
		for _, p := range ps {
			batch = append(batch, p.msg.(sized).n)
		}
		sizes = append(sizes, batch)
	}
	want := [][]int{{10, 10, 10}, {10, 60}, {50}, {150}, {10}}
	if len(sizes) != len(want) {
		t.Fatalf("batches %v, want %v", sizes, want)
	}
	for i := range want {
		if len(sizes[i]) != len(want[i]) || sizes[i][0] != want[i][0] {
			t.Errorf("batch %d = %v, want %v (all: %v)", i, sizes[i], want[i], sizes)
		}
	}

	// The stream pauses: what is there goes at once.
	open := make(chan pending, 10)
	open <- pending{msg: sized{n: 1}}
	start := time.Now()
	if ps, _ := c.collect(open, nil); len(ps) != 1 || time.Since(start) > 100*time.Millisecond {
		t.Errorf("a lone message: batch of %d after %v, want 1 at once", len(ps), time.Since(start))
	}
	// With a linger, one arriving within it joins the batch.
	c.cfg.BatchLinger = time.Second
	open <- pending{msg: sized{n: 1}}
	go func() { time.Sleep(20 * time.Millisecond); open <- pending{msg: sized{n: 1}} }()
	if ps, _ := c.collect(open, nil); len(ps) != 2 {
		t.Errorf("linger 1s: batch of %d, want the late message in it (2)", len(ps))
	}
}
