package consumer

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// held is the set of messages fetched and not yet settled. The server's
// ack wait runs per message from its delivery, so messages that wait in a
// fetched batch behind a slow handler would expire and go to another
// replica; keepAlive sends "in progress" for every held message, not only
// the one being handled, so a message is redelivered only when its holder
// is gone.
type held struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
}

func newHeld() *held { return &held{msgs: map[jetstream.Msg]struct{}{}} }

func (h *held) add(m jetstream.Msg) {
	h.mu.Lock()
	h.msgs[m] = struct{}{}
	h.mu.Unlock()
}

func (h *held) remove(m jetstream.Msg) {
	h.mu.Lock()
	delete(h.msgs, m)
	h.mu.Unlock()
}

func (h *held) snapshot() []jetstream.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]jetstream.Msg, 0, len(h.msgs))
	for m := range h.msgs {
		out = append(out, m)
	}
	return out
}

// keepAlive sends InProgress for every held message each period until
// done is closed.
func (h *held) keepAlive(done <-chan struct{}, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			for _, m := range h.snapshot() {
				m.InProgress() // an error means it was settled meanwhile, or the connection is down: nothing to do
			}
		}
	}
}

// keepAlivePeriod is a third of the ack wait: two keep-alives may be lost
// before the server gives a message up.
func keepAlivePeriod(ackWait time.Duration) time.Duration {
	return max(ackWait/3, 100*time.Millisecond)
}
