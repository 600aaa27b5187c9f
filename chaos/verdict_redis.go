package chaos

import (
	"fmt"
	"time"

	"github.com/authevents/authevents/chaos/load"
)

// checkRedisOutages: while Redis is down /auth/me answers 503 (fails
// closed), and it answers 200 again within 10 s of Redis (and PostgreSQL,
// if it was crashed then) coming back.
func checkRedisOutages(v *Verdict, e Evidence) {
	for i, o := range e.RedisOutages {
		// Recovery is timed from the restart, or from the end of a
		// PostgreSQL crash still going on then (+ APISettle): /auth/me
		// needs both.
		back := o[1]
		for _, f := range e.Plan {
			if end := e.Start.Add(f.End() + APISettle); f.Kind == CrashPostgres && !e.Start.Add(f.At).After(o[1].Add(time.Second)) && end.After(back) {
				back = end
			}
		}
		other, recovered := 0, time.Duration(-1)
		for _, s := range e.Samples {
			if s.Op != load.Me {
				continue
			}
			if s.At.After(o[0]) && s.At.Add(s.Latency).Before(o[1]) && s.Status != 503 && s.Status/100 != 2 &&
				!(s.Status == 0 && nearAPIKill(e, s.At)) {
				other++
			}
			if s.At.After(o[1]) && s.OK && recovered < 0 {
				recovered = max(s.At.Sub(back), 0)
			}
		}
		v.add(fmt.Sprintf("Redis outage %d: /auth/me answers other than 503", i+1), other == 0, "0", "%d", other)
		v.add(fmt.Sprintf("Redis outage %d: first 200 after restart (and PostgreSQL back)", i+1), recovered >= 0 && recovered < 10*time.Second, "< 10 s", "%.1f s", recovered.Seconds())
	}
}

// nearAPIKill reports whether an API process was killed within APISettle
// of at: a request it was serving then is cut, and gets no answer at all
// (status 0), which is no answer other than 503 from the API.
func nearAPIKill(e Evidence, at time.Time) bool {
	for _, f := range e.Plan {
		if f.Kind != KillAPI {
			continue
		}
		kill := e.Start.Add(f.At)
		if !at.Before(kill.Add(-APISettle)) && at.Before(kill.Add(APISettle)) {
			return true
		}
	}
	return false
}
