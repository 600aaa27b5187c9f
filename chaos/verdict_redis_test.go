package chaos

import (
	"testing"
	"time"

	"github.com/authevents/authevents/chaos/load"
)

// redis adds a Redis outage from 10 s to 15 s: /auth/me answered status
// during it and on until back after the restart, then 200.
func redis(e *Evidence, status int, back time.Duration) {
	down, up := e.Start.Add(10*time.Second), e.Start.Add(15*time.Second)
	e.RedisOutages = [][2]time.Time{{down, up}}
	for at := down.Add(100 * time.Millisecond); at.Before(up.Add(back)); at = at.Add(500 * time.Millisecond) {
		e.Samples = append(e.Samples, load.Sample{At: at, Op: load.Me, Status: status, Latency: time.Millisecond})
	}
	e.Samples = append(e.Samples, load.Sample{At: up.Add(back), Op: load.Me, Status: 200, Latency: time.Millisecond, OK: true})
}

// TestRedisRecoveryIsTimedFromWhenItCanBeSeen: seed 628180 failed the
// Redis recovery row with nothing wrong. The load asked /auth/me nothing
// for 6 s after Redis came back (its actors waited for mails that a NATS
// quorum loss held up), then PostgreSQL crashed and took 12.6 s to come
// back: the first 200 came 1 s after that, 18.8 s after Redis. Recovery is
// now timed from the later of Redis and of any PostgreSQL crash that began
// before /auth/me answered again, and from the first /auth/me asked after
// that; an API that keeps answering 503 is still caught.
func TestRedisRecoveryIsTimedFromWhenItCanBeSeen(t *testing.T) {
	t.Parallel()
	e := evidence()
	up := e.Start.Add(15 * time.Second)
	e.RedisOutages = [][2]time.Time{{e.Start.Add(10 * time.Second), up}}
	e.Plan = append(e.Plan, Fault{Kind: CrashPostgres, At: 20 * time.Second, Down: 12600 * time.Millisecond})
	e.Samples = append(e.Samples,
		load.Sample{At: up.Add(16 * time.Second), Op: load.Me, Status: 503, Latency: time.Millisecond},
		load.Sample{At: up.Add(28 * time.Second), Op: load.Me, Status: 200, Latency: time.Millisecond, OK: true})
	if r := row(t, Judge(e), rowRedisBack); !r.OK {
		t.Errorf("%s = %s: no request could see the API before PostgreSQL was back", rowRedisBack, r.Value)
	}
	// The same, but the API answers 503 for 12 s once both are back.
	e.Samples = e.Samples[:len(e.Samples)-1]
	for at := up.Add(16 * time.Second); at.Before(up.Add(31 * time.Second)); at = at.Add(500 * time.Millisecond) {
		e.Samples = append(e.Samples, load.Sample{At: at, Op: load.Me, Status: 503, Latency: time.Millisecond})
	}
	e.Samples = append(e.Samples, load.Sample{At: up.Add(31 * time.Second), Op: load.Me, Status: 200, Latency: time.Millisecond, OK: true})
	if r := row(t, Judge(e), rowRedisBack); r.OK {
		t.Errorf("%s = %s: an API answering 503 for 12 s after both came back passed", rowRedisBack, r.Value)
	}
}
