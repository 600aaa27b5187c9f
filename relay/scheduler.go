package relay

import (
	"time"

	"github.com/authevents/authevents/internal/retry"
)

// scheduler decides, for one worker, what its next batch claims and how
// long it waits before claiming. While the worker keeps up it claims the
// oldest due rows of the whole outbox; once a claim comes back full (a
// backlog) it claims lane by lane (lanes, as outbox.Lanes), each time the
// next lane, so concurrent workers and replicas drain different rows
// instead of scanning and skipping each other's; when its lanes are empty
// it claims from the whole outbox again. It holds no connection and does
// no I/O: the worker loop (Relay.work) runs the batches it asks for.
type scheduler struct {
	batchSize        int
	lanes            int
	minIdle, maxIdle time.Duration
	failing          retry.Backoff // waits after a failed batch

	lane      int // the next claim's lane, or anyLane
	next      int // lane counter: lane = next % lanes in lane mode
	laneLimit int
	idle      time.Duration // the next idle wait
	failures  int           // consecutive failed batches
	misses    int           // consecutive lanes without rows
	// The current round of lane claims (lanes of them) and their rows.
	roundClaims, roundRows int
}

// anyLane makes a batch claim from the whole outbox.
const anyLane = -1

// minLaneLimit is the smallest lane claim: per-batch costs (three round
// trips, a commit) dominate below it.
const minLaneLimit = 64

// wholeOutbox leaves lane mode; the next lane mode starts a new round.
func (s *scheduler) wholeOutbox() {
	s.lane, s.misses, s.roundClaims, s.roundRows = anyLane, 0, 0, 0
}

// starvedRound counts a lane claim of n rows into the round (a lane
// another claimer held is not counted: it says nothing of the lanes'
// yield); at the end of a round it reports one that yielded less than a
// row per lane.
func (s *scheduler) starvedRound(n int) bool {
	s.roundClaims++
	s.roundRows += n
	if s.roundClaims < s.lanes {
		return false
	}
	starved := s.roundRows < s.lanes
	s.roundClaims, s.roundRows = 0, 0
	return starved
}

// step is what a worker does after a batch.
type step struct {
	wait     time.Duration // before the next claim; 0 claims at once
	wakeable bool          // a NOTIFY may end the wait early
	recruit  bool          // wake one idle worker: there is a backlog
}

// newScheduler starts in whole-outbox mode; first is the lane its lane
// mode starts from (a random one per worker spreads the workers).
func newScheduler(cfg Config, lanes, first int) *scheduler {
	return &scheduler{
		batchSize: cfg.BatchSize, lanes: lanes, minIdle: cfg.MinPollInterval, maxIdle: cfg.PollInterval,
		failing: retry.Exp(50*time.Millisecond, 5*time.Second),
		lane:    anyLane, next: first, laneLimit: cfg.BatchSize, idle: cfg.MinPollInterval,
	}
}

// claim returns the lane (anyLane: the whole outbox) and the row limit of
// the next batch. A lane claim asking for more rows than its lane has
// eligible (the oldest pending row of each key) scans the rest of the
// lane, a per-key probe per row, to find that out. So in lane mode the
// limit follows what the lanes yield: down to the last short batch,
// doubling again after a full one.
func (s *scheduler) claim() (lane, limit int) {
	if s.lane == anyLane {
		return anyLane, s.batchSize
	}
	return s.lane, s.laneLimit
}

// disconnected is the step while NATS is not connected: wait, with the
// backoff of failures, without claiming.
func (s *scheduler) disconnected() step {
	s.failures++
	return step{wait: s.failing.Delay(s.failures)}
}

// failed is the step after a batch that failed: back to the whole
// outbox, after a backoff that grows with consecutive failures.
func (s *scheduler) failed() step {
	s.failures++
	s.wholeOutbox()
	return step{wait: s.failing.Delay(s.failures)}
}

// claimed is the step after a batch that claimed n rows; busy reports a
// lane another claimer held (nothing claimed).
func (s *scheduler) claimed(n int, busy bool) step {
	s.failures = 0
	_, limit := s.claim()
	if s.lane != anyLane && !busy && s.starvedRound(n) {
		// A lane claim looks at only the front of its lane (outbox's
		// laneScan): lanes that begin with one busy key's rows yield
		// its head alone, one row a round, and the other keys' rows
		// behind them waited for that key to drain. The whole outbox's
		// claim finds them.
		s.wholeOutbox()
		return step{}
	}
	if busy || (s.lane != anyLane && n == 0) {
		// Another claimer has this lane, or it is drained: the next lane,
		// and after a whole round of lanes without rows (the backlog is
		// gone, or there are more claimers than lanes) the whole outbox.
		// Falling back at the first empty lane made claimers meet in
		// whole-outbox claims again, mid-backlog.
		s.next++
		if s.misses++; s.misses < s.lanes {
			s.lane = s.next % s.lanes
		} else {
			s.wholeOutbox()
		}
		return step{}
	}
	s.misses = 0
	if s.lane != anyLane && n > 0 {
		if n < limit {
			s.laneLimit = max(n, minLaneLimit)
		} else {
			s.laneLimit = min(2*s.laneLimit, s.batchSize)
		}
	}
	if n == s.batchSize || (s.lane != anyLane && n > 0) {
		// A backlog: claim again at once, lane by lane, and recruit one
		// idle worker. Only a backlog does this, so an idle relay never
		// passes wake-ups around.
		s.idle = s.minIdle
		s.next++
		s.lane = s.next % s.lanes
		return step{recruit: true}
	}
	if n > 0 {
		s.idle = s.minIdle
	}
	wait := s.idle
	s.idle = min(s.idle*2, s.maxIdle)
	return step{wait: wait, wakeable: true}
}
