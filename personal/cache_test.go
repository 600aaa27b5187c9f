package personal

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCacheIsBoundedAndLiveKeysExpire(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	c := newCache(3, time.Minute, clk.now)
	k := newTestKey(t, uuid.New())
	erasedUser := uuid.New()
	c.put(erasedUser, nil)
	for range 10 {
		c.put(uuid.New(), k)
		if n := len(c.entries); n > 3 {
			t.Fatalf("cache of size 3 holds %d entries", n)
		}
	}

	live := uuid.New()
	c = newCache(3, time.Minute, clk.now)
	c.put(live, k)
	c.put(erasedUser, nil)
	clk.add(time.Minute)
	if _, _, ok := c.get(live); ok {
		t.Error("a live key outlived the TTL")
	}
	if _, erased, ok := c.get(erasedUser); !ok || !erased {
		t.Errorf("get(erased) = erased %v, hit %v; an erasure is final and stays cached", erased, ok)
	}
	c.forget(erasedUser)
	if _, _, ok := c.get(erasedUser); ok {
		t.Error("forget left the entry")
	}
	off := newCache(-1, time.Minute, clk.now)
	off.put(live, k)
	if _, _, ok := off.get(live); ok {
		t.Error("a disabled cache cached")
	}
}
