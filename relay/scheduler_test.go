package relay

import (
	"testing"
	"time"
)

func testScheduler(lanes, first int) *scheduler {
	return newScheduler(Config{BatchSize: 100, MinPollInterval: 10 * time.Millisecond, PollInterval: 80 * time.Millisecond}, lanes, first)
}

// expect checks a step and the claim that follows it.
func expect(t *testing.T, s *scheduler, got step, want step, wantLane, wantLimit int) {
	t.Helper()
	if got != want {
		t.Errorf("step = %+v, want %+v", got, want)
	}
	if lane, limit := s.claim(); lane != wantLane || limit != wantLimit {
		t.Errorf("next claim = lane %d limit %d, want lane %d limit %d", lane, limit, wantLane, wantLimit)
	}
}

// An idle worker waits MinPollInterval, doubling up to PollInterval, and
// a NOTIFY may cut each wait short; a batch with rows starts over at
// MinPollInterval. It never recruits another worker: an idle relay passes
// no wake-ups around.
func TestSchedulerIdleWaitDoublesToPollInterval(t *testing.T) {
	s := testScheduler(16, 0)
	if lane, limit := s.claim(); lane != anyLane || limit != 100 {
		t.Fatalf("first claim = lane %d limit %d, want the whole outbox, a full batch", lane, limit)
	}
	for _, ms := range []time.Duration{10, 20, 40, 80, 80} {
		expect(t, s, s.claimed(0, false), step{wait: ms * time.Millisecond, wakeable: true}, anyLane, 100)
	}
	expect(t, s, s.claimed(3, false), step{wait: 10 * time.Millisecond, wakeable: true}, anyLane, 100)
	expect(t, s, s.claimed(0, false), step{wait: 20 * time.Millisecond, wakeable: true}, anyLane, 100)
}

// A full batch is a backlog: claim again at once, lane by lane, and
// recruit a worker. A lane's claim limit follows what the lanes yield:
// down to the last short batch (never below minLaneLimit), doubling
// again after a full one, up to BatchSize.
func TestSchedulerBacklogGoesLaneByLane(t *testing.T) {
	s := testScheduler(16, 5)
	backlog := step{recruit: true}
	expect(t, s, s.claimed(100, false), backlog, 6, 100)
	expect(t, s, s.claimed(30, false), backlog, 7, minLaneLimit)
	expect(t, s, s.claimed(minLaneLimit, false), backlog, 8, 100) // 2 × 64, capped
	expect(t, s, s.claimed(70, false), backlog, 9, 70)
	expect(t, s, s.claimed(70, false), backlog, 10, 100)
	// The lanes wrap around.
	for lane := 11; lane < 16; lane++ {
		s.claimed(100, false)
	}
	expect(t, s, s.claimed(100, false), backlog, 0, 100)
}

// A lane another claimer holds, or one without rows, moves on to the next
// lane at once; only a whole round of lanes without rows ends lane mode.
// A lane with rows in between starts the round over.
func TestSchedulerLeavesLaneModeAfterARoundOfEmptyLanes(t *testing.T) {
	s := testScheduler(4, 0)
	expect(t, s, s.claimed(100, false), step{recruit: true}, 1, 100)
	expect(t, s, s.claimed(0, true), step{}, 2, 100)  // busy
	expect(t, s, s.claimed(0, false), step{}, 3, 100) // empty
	expect(t, s, s.claimed(0, false), step{}, 0, 100)
	expect(t, s, s.claimed(5, false), step{recruit: true}, 1, minLaneLimit) // rows: the round starts over
	for _, lane := range []int{2, 3, 0} {
		expect(t, s, s.claimed(0, false), step{}, lane, minLaneLimit)
	}
	expect(t, s, s.claimed(0, true), step{}, anyLane, 100) // fourth miss in a row
	// Back in whole-outbox mode, an empty claim is idle again.
	expect(t, s, s.claimed(0, false), step{wait: 10 * time.Millisecond, wakeable: true}, anyLane, 100)
}

// A failed batch returns to the whole outbox after a backoff (50 ms
// doubling to 5 s, ±20 %) that grows with consecutive failures, including
// time without NATS, and starts over after a batch that worked.
func TestSchedulerBacksOffAfterFailures(t *testing.T) {
	s := testScheduler(16, 0)
	s.claimed(100, false) // lane mode
	within := func(got step, base time.Duration) {
		t.Helper()
		if got.wakeable || got.recruit || got.wait < base*8/10 || got.wait > base*12/10 {
			t.Errorf("step = %+v, want a wait of %s ±20 %%, not wakeable", got, base)
		}
	}
	within(s.disconnected(), 50*time.Millisecond)
	if lane, _ := s.claim(); lane == anyLane {
		t.Errorf("without NATS the worker claims nothing and keeps its lane, got anyLane")
	}
	within(s.failed(), 100*time.Millisecond)
	if lane, limit := s.claim(); lane != anyLane || limit != 100 {
		t.Errorf("after a failure: lane %d limit %d, want the whole outbox", lane, limit)
	}
	for range 10 {
		s.failed()
	}
	within(s.failed(), 5*time.Second)
	if s.failures != 13 {
		t.Errorf("failures = %d, want 13 consecutive", s.failures)
	}
	s.claimed(1, false)
	within(s.failed(), 50*time.Millisecond)
}

// A round of lane claims that yields less than a row per lane (lanes
// whose fronts hold one busy key's rows: its head, one row a round) goes
// back to the whole outbox, whose claim finds the rows behind them.
func TestSchedulerLeavesLaneModeAfterAStarvedRound(t *testing.T) {
	s := testScheduler(4, 0)
	expect(t, s, s.claimed(100, false), step{recruit: true}, 1, 100)
	expect(t, s, s.claimed(1, false), step{recruit: true}, 2, minLaneLimit) // the busy key's head
	expect(t, s, s.claimed(0, false), step{}, 3, minLaneLimit)
	expect(t, s, s.claimed(0, false), step{}, 0, minLaneLimit)
	expect(t, s, s.claimed(1, false), step{}, anyLane, 100) // 2 rows in a round of 4 lanes
	// A round that yields rows stays in lane mode.
	s.claimed(100, false)
	for range 4 {
		s.claimed(10, false)
	}
	if lane, _ := s.claim(); lane == anyLane {
		t.Error("a round of 40 rows over 4 lanes left lane mode")
	}
}
