package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelayDoublesUpToTheCap(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := b.Delay(n); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %s, want %s", n, got, w*time.Millisecond)
		}
	}
}

func TestDelayJitterStaysInItsBand(t *testing.T) {
	b := Exp(time.Second, time.Minute)
	lo, hi := time.Minute, time.Duration(0)
	for range 1000 {
		d := b.Delay(3) // 4 s ± 20 %
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 3200*time.Millisecond || hi > 4800*time.Millisecond {
		t.Fatalf("Delay(3) ranged over [%s, %s], want within [3.2s, 4.8s]", lo, hi)
	}
	if hi-lo < 400*time.Millisecond {
		t.Fatalf("Delay(3) ranged over [%s, %s]: no jitter", lo, hi)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported a full wait")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep on a cancelled context waited")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep(1ms) did not report a full wait")
	}
}

func TestUntilRetriesThenSucceeds(t *testing.T) {
	calls, seen := 0, 0
	err := Until(context.Background(), Backoff{Base: time.Millisecond, Max: time.Millisecond},
		func(context.Context) error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		}, func(int, error) { seen++ })
	if err != nil || calls != 3 || seen != 2 {
		t.Fatalf("Until = %v after %d calls and %d failures seen, want nil after 3 and 2", err, calls, seen)
	}
}

func TestUntilStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Until(ctx, Backoff{Base: time.Hour, Max: time.Hour},
		func(context.Context) error { return errors.New("never") }, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Until = %v, want the context's deadline", err)
	}
}
