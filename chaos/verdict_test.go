package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/chaos/load"
)

// evidence is a clean run: two users, their events once each, in order,
// every effect once.
func evidence() Evidence {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	e := Evidence{Start: t0, Profile: Short(1), Audit: map[string]int{}, Analytics: map[string]int{}, Emails: map[string][]time.Time{},
		LastHeal: t0.Add(50 * time.Second), Drained: t0.Add(55 * time.Second)}
	add := func(id, typ, user, session string) {
		e.Stream = append(e.Stream, StreamMsg{MsgID: id, ID: id, Type: typ, UserID: user, SessionID: session})
		e.Audit[id]++
		e.Analytics[typ]++
		if typ == "user.registered" {
			e.Emails[id] = []time.Time{t0}
		}
	}
	for _, u := range []string{"u1", "u2"} {
		add(u+"-r", "user.registered", u, "")
		add(u+"-f", "user.token_refreshed", u, "s-"+u)
		add(u+"-o", "user.logged_out", u, "s-"+u)
		e.Truth = append(e.Truth, load.Truth{Type: "user.registered", UserID: u}, load.Truth{Type: "user.token_refreshed", UserID: u, SessionID: "s-" + u},
			load.Truth{Type: "user.logged_out", UserID: u})
	}
	return e
}

// redis adds a Redis outage from 10 s to 15 s: /auth/me answered status
// during it, and 200 again back after the restart.
func redis(e *Evidence, status int, back time.Duration) {
	down, up := e.Start.Add(10*time.Second), e.Start.Add(15*time.Second)
	e.RedisOutages = [][2]time.Time{{down, up}}
	for at := down.Add(100 * time.Millisecond); at.Before(up); at = at.Add(500 * time.Millisecond) {
		e.Samples = append(e.Samples, load.Sample{At: at, Op: load.Me, Status: status, Latency: time.Millisecond})
	}
	e.Samples = append(e.Samples, load.Sample{At: up.Add(back), Op: load.Me, Status: 200, Latency: time.Millisecond, OK: true})
}

func failing(v *Verdict) []string {
	var out []string
	for _, r := range v.Rows {
		if !r.OK {
			out = append(out, r.Check)
		}
	}
	return out
}

func TestJudge(t *testing.T) {
	// Latency rows need samples: none here, so they fail in every case;
	// each case names the other rows it must fail.
	latency := []string{"auth requests during broker faults", "auth p99 fault-free", "auth p99 during broker faults"}
	cases := []struct {
		name   string
		change func(e *Evidence)
		want   []string
	}{
		{"clean", func(*Evidence) {}, nil},
		{"a message lost", func(e *Evidence) { e.Stream = e.Stream[1:]; delete(e.Audit, "u1-r"); e.Analytics["user.registered"]-- },
			[]string{"events lost", "duplicate effects: e-mails", "per-user order"}},
		{"a message twice", func(e *Evidence) { e.Stream = append(e.Stream, e.Stream[0]) }, []string{"duplicate stream messages"}},
		{"two of one user's events swapped", func(e *Evidence) { e.Stream[1], e.Stream[2] = e.Stream[2], e.Stream[1] }, []string{"per-user order"}},
		{"an analytics count twice", func(e *Evidence) { e.Analytics["user.logged_out"]++ }, []string{"duplicate effects: analytics"}},
		{"an audit row missing", func(e *Evidence) { delete(e.Audit, "u2-o") }, []string{"audit rows missing"}},
		{"an e-mail twice", func(e *Evidence) { e.Emails["u1-r"] = append(e.Emails["u1-r"], e.Start.Add(time.Second)) }, []string{"duplicate effects: e-mails"}},
		{"an e-mail twice around a consumer kill", func(e *Evidence) {
			e.Emails["u1-r"] = append(e.Emails["u1-r"], e.Start.Add(time.Second))
			e.SendRecordLosses = []time.Time{e.Start.Add(500 * time.Millisecond)}
		}, nil},
		{"a process died", func(e *Evidence) { e.Exits = []string{"relay-1"} }, []string{"processes that died unprompted"}},
		{"Redis outage ridden out", func(e *Evidence) { redis(e, 503, time.Second) }, nil},
		{"Redis outage answered 500", func(e *Evidence) { redis(e, 500, time.Second) }, []string{"Redis outage 1: /auth/me answers other than 503"}},
		{"Redis outage not recovered", func(e *Evidence) { redis(e, 503, 20*time.Second) }, []string{"Redis outage 1: first 200"}},
		{"Redis back during a PostgreSQL crash", func(e *Evidence) {
			redis(e, 503, 12*time.Second)
			e.Plan = []Fault{{Kind: CrashPostgres, At: 14 * time.Second, Down: 9 * time.Second}}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := evidence()
			c.change(&e)
			got := failing(Judge(e))
			var rest []string
			for _, g := range got {
				if !slicesHasPrefix(latency, g) {
					rest = append(rest, g)
				}
			}
			if len(rest) != len(c.want) {
				t.Fatalf("failing rows %q, want %q", rest, c.want)
			}
			for i := range rest {
				if !strings.HasPrefix(rest[i], c.want[i]) {
					t.Errorf("failing rows %q, want %q", rest, c.want)
				}
			}
		})
	}
}

func slicesHasPrefix(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TestJudgeLatency: auth requests during a broker fault are judged against
// the quiet stretches, by the median of the windows' p99: at most 1.5× or
// 20 ms more, whichever is larger.
func TestJudgeLatency(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name         string
		base, during time.Duration
		fail         bool
	}{
		{"as fast", 50 * ms, 50 * ms, false}, {"1.4x", 50 * ms, 70 * ms, false}, {"2x", 50 * ms, 100 * ms, true},
		{"+15 ms on 10 ms", 10 * ms, 25 * ms, false}, {"+25 ms on 10 ms", 10 * ms, 35 * ms, true},
		{"the fetch spin", 15 * ms, 235 * ms, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := evidence()
			e.Plan = []Fault{{Kind: QuorumLoss, At: 20 * time.Second, Down: 20 * time.Second}}
			for at := time.Duration(0); at < e.Profile.Duration; at += 20 * time.Millisecond {
				d := c.base
				if at >= 20*time.Second && at < 40*time.Second {
					d = c.during
				}
				if at%(2*time.Second) == 0 {
					d *= 3 // an outlier now and then, in both
				}
				e.Samples = append(e.Samples, load.Sample{At: e.Start.Add(at), Op: load.Refresh, Status: 200, Latency: d, OK: true})
			}
			v := Judge(e)
			failed := false
			for _, r := range v.Rows {
				if strings.HasPrefix(r.Check, "auth p99 during broker faults") {
					failed = !r.OK
					t.Log(r.Value)
				}
			}
			if failed != c.fail {
				t.Errorf("latency row failed = %v, want %v", failed, c.fail)
			}
		})
	}
}
