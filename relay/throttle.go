package relay

import (
	"sync"
	"time"
)

// throttle lets a repeated log line through at most once per interval:
// an outage is reported, not a line per retry.
type throttle struct {
	interval time.Duration
	mu       sync.Mutex
	last     time.Time
}

func (t *throttle) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); now.Sub(t.last) >= t.interval {
		t.last = now
		return true
	}
	return false
}
