package chaos

import (
	"fmt"
	"time"

	"github.com/authevents/authevents/chaos/load"
)

// checkRedisOutages: while Redis is down /auth/me answers 503 (fails
// closed), and it answers 200 again within 10 s of Redis (and PostgreSQL,
// if it crashed before /auth/me answered again) coming back.
func checkRedisOutages(v *Verdict, e Evidence) {
	for i, o := range e.RedisOutages {
		other := 0
		var me []load.Sample // /auth/me asked after the restart
		for _, s := range e.Samples {
			if s.Op != load.Me {
				continue
			}
			if s.At.After(o[0]) && s.At.Add(s.Latency).Before(o[1]) && s.Status != 503 && s.Status/100 != 2 &&
				!(s.Status == 0 && nearAPIKill(e, s.At)) {
				other++
			}
			if s.At.After(o[1]) {
				me = append(me, s)
			}
		}
		v.add(fmt.Sprintf("Redis outage %d: /auth/me answers other than 503", i+1), other == 0, "0", "%d", other)
		recovered := redisRecovery(e, o, me)
		v.add(fmt.Sprintf("Redis outage %d: first 200 after restart (and PostgreSQL back)", i+1), recovered >= 0 && recovered < 10*time.Second, "< 10 s", "%.1f s", recovered.Seconds())
	}
}

// redisRecovery is how long /auth/me took to answer 200 once it could:
// timed from the restart, or from the end of a PostgreSQL crash (+
// APISettle) that began before /auth/me answered again (it needs both),
// and from the first /auth/me asked after that, since a load whose actors
// all wait for something else (mails a NATS outage holds up) asks none
// for a while. It is -1 when /auth/me never answered again.
func redisRecovery(e Evidence, o [2]time.Time, me []load.Sample) time.Duration {
	firstOK := -1
	for j, s := range me {
		if s.OK {
			firstOK = j
			break
		}
	}
	if firstOK < 0 {
		return -1
	}
	back := o[1]
	for _, f := range e.Plan {
		start, end := e.Start.Add(f.At), e.Start.Add(f.End()+APISettle)
		if f.Kind == CrashPostgres && start.After(o[0]) && start.Before(me[firstOK].At) && end.After(back) {
			back = end
		}
	}
	for _, s := range me[:firstOK+1] {
		if !s.At.Before(back) {
			return me[firstOK].At.Sub(s.At)
		}
	}
	return 0 // answered while PostgreSQL was still settling
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
