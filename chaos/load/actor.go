package load

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Weights of the operations a signed-in virtual user picks from.
var weights = []struct {
	op Op
	w  int
}{{Refresh, 30}, {Me, 20}, {Login, 14}, {LoginFail, 8}, {Register, 12}, {Logout, 10}, {LogoutAll, 6}}

type tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	User         *struct {
		ID string `json:"id"`
	} `json:"user"`
}

// session is one refresh-token family the virtual user holds.
type session struct {
	id, access, refresh string
}

// actor is one virtual user at a time: it registers, then signs in and
// out, refreshes and reads itself, sometimes starting over as a new user.
type actor struct {
	r        *runner
	id       int
	rnd      *rand.Rand
	n        int // users registered so far
	email    string
	userID   string
	sessions []session // live sessions, the current one last
}

const password = "load-test correct horse battery"

func (a *actor) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := a.r.limiter.Wait(ctx); err != nil {
			return
		}
		op := a.pick()
		a.step(ctx, op)
	}
}

func (a *actor) pick() Op {
	switch {
	case a.userID == "":
		return Register
	case len(a.sessions) == 0:
		if a.rnd.IntN(10) == 0 {
			return LoginFail
		}
		return Login
	}
	total := 0
	for _, w := range weights {
		total += w.w
	}
	x := a.rnd.IntN(total)
	for _, w := range weights {
		if x < w.w {
			return w.op
		}
		x -= w.w
	}
	return Me
}

func (a *actor) step(ctx context.Context, op Op) {
	start := time.Now()
	var truth []Truth
	var status int
	var err error
	ok := func() bool { return err == nil && status/100 == 2 }
	cur := len(a.sessions) - 1
	switch op {
	case Register:
		a.n++
		email := fmt.Sprintf("u%d-%d-%s@load.example.com", a.id, a.n, a.r.cfg.RunID)
		var t tokens
		status, err = a.r.do(ctx, "POST", "/auth/register", map[string]string{"email": email, "password": password, "name": "Load Tester"}, "", &t)
		a.email, a.userID, a.sessions = "", "", nil
		if ok() && t.User != nil {
			a.email, a.userID = email, t.User.ID
			a.sessions = []session{{id: claim(t.AccessToken, "sid"), access: t.AccessToken, refresh: t.RefreshToken}}
			truth = append(truth, Truth{Type: "user.registered", UserID: a.userID})
		}
	case Login, LoginFail:
		pw := password
		if op == LoginFail {
			pw = "a wrong password!"
		}
		var t tokens
		status, err = a.r.do(ctx, "POST", "/auth/login", map[string]string{"email": a.email, "password": pw}, "", &t)
		if op == Login && ok() {
			a.sessions = append(a.sessions, session{id: claim(t.AccessToken, "sid"), access: t.AccessToken, refresh: t.RefreshToken})
			truth = append(truth, Truth{Type: "user.logged_in", UserID: a.userID})
		}
	case Refresh:
		var t tokens
		s := a.sessions[cur]
		status, err = a.r.do(ctx, "POST", "/auth/refresh", map[string]string{"refreshToken": s.refresh}, "", &t)
		if ok() {
			a.sessions[cur] = session{id: s.id, access: t.AccessToken, refresh: t.RefreshToken}
			truth = append(truth, Truth{Type: "user.token_refreshed", UserID: a.userID, SessionID: s.id})
		} else {
			a.sessions = a.sessions[:cur] // its token may be used up: forget it
		}
	case Me:
		status, err = a.r.do(ctx, "GET", "/auth/me", nil, a.sessions[cur].access, nil)
	case Logout:
		s := a.sessions[cur]
		status, err = a.r.do(ctx, "POST", "/auth/logout", nil, s.access, nil)
		a.sessions = a.sessions[:cur]
		if ok() {
			truth = append(truth, Truth{Type: "user.logged_out", UserID: a.userID, SessionID: s.id})
		}
	case LogoutAll:
		var out struct {
			SessionsEnded int `json:"sessionsEnded"`
		}
		status, err = a.r.do(ctx, "POST", "/auth/logout/all", nil, a.sessions[cur].access, &out)
		a.sessions = nil
		if ok() {
			for range out.SessionsEnded {
				truth = append(truth, Truth{Type: "user.logged_out", UserID: a.userID})
			}
		}
	}
	if ctx.Err() != nil && err != nil {
		return // cut off by the end of the run, not by the system
	}
	now := time.Now()
	for i := range truth {
		truth[i].At = now
	}
	good := ok() || (op == LoginFail && err == nil && status == http.StatusUnauthorized)
	a.r.record(Sample{At: start, Op: op, Status: status, Latency: now.Sub(start), OK: good}, truth...)
}

// claim reads a claim of a JWT without verifying it (the load generator
// only needs the session id the API put there).
func claim(jwt, name string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}
