package personal

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// cache holds unwrapped data keys, so that a consumer does not ask
// PostgreSQL once per event. It is bounded (size) and each live key
// expires after ttl: that is the bound on how long another process that
// cached a key may still decrypt with it after the key was erased.
// Erasure is final, so an erased entry does not expire (only eviction
// drops it): a redelivery storm of an erased user's events costs no query.
type cache struct {
	mu      sync.Mutex
	entries map[uuid.UUID]cacheEntry
	size    int
	ttl     time.Duration
	now     func() time.Time
}

type cacheEntry struct {
	key     *DataKey // nil when erased
	expires time.Time
}

func newCache(size int, ttl time.Duration, now func() time.Time) *cache {
	return &cache{entries: make(map[uuid.UUID]cacheEntry, size), size: size, ttl: ttl, now: now}
}

// get returns the cached key of user, or erased, or ok false on a miss.
func (c *cache) get(user uuid.UUID) (key *DataKey, erased, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[user]
	if !ok {
		return nil, false, false
	}
	if e.key != nil && !c.now().Before(e.expires) {
		delete(c.entries, user)
		return nil, false, false
	}
	return e.key, e.key == nil, true
}

// put caches a live key, or an erasure when key is nil.
func (c *cache) put(user uuid.UUID, key *DataKey) {
	if c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[user]; !ok && len(c.entries) >= c.size {
		c.evictLocked()
	}
	c.entries[user] = cacheEntry{key: key, expires: c.now().Add(c.ttl)}
}

// forget drops user's entry.
func (c *cache) forget(user uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, user)
}

// evictLocked makes room for one entry: an expired one if a short scan
// finds it, else any (map order is random, so this is random eviction:
// no bookkeeping per hit, and good enough for a cache whose misses cost
// one indexed read).
func (c *cache) evictLocked() {
	now := c.now()
	const scan = 8
	i := 0
	var victim uuid.UUID
	for u, e := range c.entries {
		if e.key != nil && !now.Before(e.expires) {
			delete(c.entries, u)
			return
		}
		if i == 0 {
			victim = u
		}
		if i++; i == scan {
			break
		}
	}
	delete(c.entries, victim)
}
