package load

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/authevents/authevents/consumer/email"
)

// Weights of the operations a signed-in virtual user picks from; the
// lifecycle flows (a resend, a reset through the mailed link, a password
// change, an address change confirmed through the mailed link, the
// account's deletion) are rare, as in life.
var weights = []struct {
	op Op
	w  int
}{{Refresh, 30}, {Me, 20}, {Login, 14}, {LoginFail, 8}, {Register, 12}, {Logout, 10}, {LogoutAll, 6},
	{ResendVerification, 2}, {ForgotPassword, 2}, {ChangePassword, 2}, {ChangeEmail, 2}, {DeleteAccount, 2}}

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

// actor is one virtual user at a time: it registers (and, when the API
// requires it, verifies its address through the mailed link before it
// signs in), then signs in and out, refreshes and reads itself, now and
// then resets or changes its password or changes its address, sometimes
// starting over as a new user.
type actor struct {
	r        *runner
	id       int
	rnd      *rand.Rand
	n        int // users registered so far
	email    string
	password string
	// The user's personal data as the load gave it: a name and a user
	// agent of its own, and every address it had or asked for.
	name, agent string
	emails      []string
	userID      string    // "" until an answer named it
	sessions    []session // live sessions, the current one last
	verified    bool      // the address is proven
	pending     bool      // registered under required verification: no login before the link
	// await is the kind of mail whose link the actor follows next
	// ("" when none), sent to awaitTo.
	await, awaitTo string
	newEmail       string          // the address an email change moves to
	misses         int             // mails given up on in a row
	used           map[string]bool // Message-IDs of mails not to follow (followed, or older than a new request)
	owed           []Truth         // promised events whose user the actor does not know yet
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
	case a.email == "":
		return Register
	case a.await == email.KindReset:
		return ResetPassword
	case a.await != "":
		return VerifyEmail
	case a.pending:
		return ResendVerification
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
	var link string
	if op == VerifyEmail || op == ResetPassword {
		var found bool
		if link, found = a.follow(ctx); !found {
			return // no request goes out: the mail did not come
		}
	}
	start := time.Now()
	var truth []Truth
	var status int
	var err error
	ok := func() bool { return err == nil && status/100 == 2 }
	cur := len(a.sessions) - 1
	switch op {
	case Register:
		truth, status, err = a.register(ctx)
	case Login, LoginFail:
		pw := a.password
		if op == LoginFail {
			pw = "a wrong password!"
		}
		var t tokens
		status, err = a.do(ctx, "POST", "/auth/login", map[string]string{"email": a.email, "password": pw}, "", &t)
		if op == Login && ok() {
			if a.userID == "" && t.User != nil {
				a.userID = t.User.ID
				truth = a.pay()
			}
			a.sessions = append(a.sessions, session{id: claim(t.AccessToken, "sid"), access: t.AccessToken, refresh: t.RefreshToken})
			truth = append(truth, Truth{Type: "user.logged_in", UserID: a.userID})
		}
	case Refresh:
		var t tokens
		s := a.sessions[cur]
		status, err = a.do(ctx, "POST", "/auth/refresh", map[string]string{"refreshToken": s.refresh}, "", &t)
		if ok() {
			a.sessions[cur] = session{id: s.id, access: t.AccessToken, refresh: t.RefreshToken}
			truth = append(truth, Truth{Type: "user.token_refreshed", UserID: a.userID, SessionID: s.id})
		} else {
			a.sessions = a.sessions[:cur] // its token may be used up: forget it
		}
	case Me:
		status, err = a.do(ctx, "GET", "/auth/me", nil, a.sessions[cur].access, nil)
	case Logout:
		s := a.sessions[cur]
		status, err = a.do(ctx, "POST", "/auth/logout", nil, s.access, nil)
		a.sessions = a.sessions[:cur]
		if ok() {
			truth = append(truth, Truth{Type: "user.logged_out", UserID: a.userID, SessionID: s.id})
		}
	case DeleteAccount:
		truth, status, err = a.deleteAccount(ctx)
	case LogoutAll:
		var out struct {
			SessionsEnded int `json:"sessionsEnded"`
		}
		status, err = a.do(ctx, "POST", "/auth/logout/all", nil, a.sessions[cur].access, &out)
		a.sessions = nil
		if ok() {
			for range out.SessionsEnded {
				truth = append(truth, Truth{Type: "user.logged_out", UserID: a.userID})
			}
		}
	default:
		truth, status, err = a.lifecycle(ctx, op, link)
	}
	a.finish(ctx, op, start, status, err, truth)
}

// finish records a request: its sample and the events its answer promised.
func (a *actor) finish(ctx context.Context, op Op, start time.Time, status int, err error, truth []Truth) {
	if ctx.Err() != nil && err != nil {
		return // cut off by the end of the run, not by the system
	}
	now := time.Now()
	for i := range truth {
		if truth[i].At.IsZero() {
			truth[i].At = now
		}
	}
	// A verification link answers 400 when a resend superseded it while
	// its mail was on the way: the one-time rule working, not a failure.
	good := err == nil && (status/100 == 2 || op == LoginFail && status == http.StatusUnauthorized ||
		op == VerifyEmail && status == http.StatusBadRequest)
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
