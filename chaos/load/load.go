// Package load drives an authevents API with a realistic mix of requests
// at a target rate — registrations, logins (some with a wrong password),
// refresh chains, /auth/me, logout and logout-all — and records, for every
// 2xx answer whose effect must emit an event, which event: the ground truth
// that the chaos suite compares with the stream and the consumers' effects.
// Latencies go to HDR histograms (github.com/HdrHistogram/hdrhistogram-go).
// cmd/authload is its command-line front end.
package load

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// Op is one kind of request of the mix.
type Op string

// The operations of the mix.
const (
	Register  Op = "register"
	Login     Op = "login"
	LoginFail Op = "login_fail" // a wrong password: 401 is the expected answer
	Refresh   Op = "refresh"
	Me        Op = "me"
	Logout    Op = "logout"
	LogoutAll Op = "logout_all"
)

// Ops lists every operation, in report order.
var Ops = []Op{Register, Login, LoginFail, Refresh, Me, Logout, LogoutAll}

// Auth reports whether op is an authentication request (register, login,
// refresh), the ones whose latency the chaos verdict bounds.
func (op Op) Auth() bool { return op == Register || op == Login || op == LoginFail || op == Refresh }

// Config of a run.
type Config struct {
	// URLs are the API base URLs ("http://127.0.0.1:8080"). Requests go
	// round-robin; one whose connection is refused goes to the next URL,
	// as a load balancer in front of replicas does.
	URLs     []string
	Rate     float64       // requests per second, all operations together
	Duration time.Duration // how long to send
	Actors   int           // concurrent virtual users (default 32)
	Seed     uint64        // the mix's random choices
	Timeout  time.Duration // per request (default 15s)
	// RunID makes this run's e-mail addresses unique (default: the start
	// time).
	RunID string
	// Progress, when set, is called every second with the running figures.
	Progress func(Snapshot)
}

// Weights of the operations a signed-in virtual user picks from.
var weights = []struct {
	op Op
	w  int
}{{Refresh, 30}, {Me, 20}, {Login, 14}, {LoginFail, 8}, {Register, 12}, {Logout, 10}, {LogoutAll, 6}}

// Sample is one request.
type Sample struct {
	At      time.Time     // when it was sent
	Op      Op            //
	Status  int           // HTTP status, 0 when no answer came
	Latency time.Duration //
	OK      bool          // the expected answer (2xx; 401 for LoginFail)
}

// Truth is one event that a 2xx answer promised.
type Truth struct {
	At        time.Time `json:"at"` // when the answer arrived
	Type      string    `json:"type"`
	UserID    string    `json:"userId"`
	SessionID string    `json:"sessionId,omitempty"` // "" when the event names no session, or any of the user's
}

// Snapshot is the running state shown by the progress line.
type Snapshot struct {
	Elapsed  time.Duration
	Requests int64
	Errors   int64
	Rate     float64 // requests/s since the start
	P99      time.Duration
}

// Result is what a run produced.
type Result struct {
	Started time.Time
	Ended   time.Time
	Samples []Sample
	Truth   []Truth
	hist    map[Op]*histogram
}

// Run sends the mix until cfg.Duration has passed or ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.URLs) == 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, errors.New("load: URLs, a rate and a duration are required")
	}
	if cfg.Actors <= 0 {
		cfg.Actors = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	start := time.Now()
	if cfg.RunID == "" {
		cfg.RunID = fmt.Sprintf("%x", start.UnixNano())
	}
	r := &runner{cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1), res: &Result{Started: start, hist: map[Op]*histogram{}},
		all: newHistogram(), client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Actors, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}}
	for _, op := range Ops {
		r.res.hist[op] = newHistogram()
	}
	ctx, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer cancel()
	var wg sync.WaitGroup
	for i := range cfg.Actors {
		wg.Go(func() {
			a := &actor{r: r, id: i, rnd: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
			a.run(ctx)
		})
	}
	if cfg.Progress != nil {
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					cfg.Progress(r.snapshot())
					return
				case <-tick.C:
					cfg.Progress(r.snapshot())
				}
			}
		})
	}
	wg.Wait()
	r.res.Ended = time.Now()
	return r.res, nil
}

type runner struct {
	cfg      Config
	limiter  *rate.Limiter
	client   *http.Client
	next     atomic.Uint64 // round-robin URL index
	requests atomic.Int64
	errors   atomic.Int64

	mu  sync.Mutex
	res *Result
	all *histogram // every request, for the progress line
}

func (r *runner) snapshot() Snapshot {
	r.mu.Lock()
	p99 := r.all.quantile(99)
	r.mu.Unlock()
	el := time.Since(r.res.Started)
	n := r.requests.Load()
	return Snapshot{Elapsed: el, Requests: n, Errors: r.errors.Load(), Rate: float64(n) / el.Seconds(), P99: p99}
}

func (r *runner) record(s Sample, truth ...Truth) {
	r.requests.Add(1)
	if !s.OK {
		r.errors.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Samples = append(r.res.Samples, s)
	r.res.Truth = append(r.res.Truth, truth...)
	r.res.hist[s.Op].record(s.Latency)
	r.all.record(s.Latency)
}

// do sends one request and decodes a JSON answer into out (when 2xx).
func (r *runner) do(ctx context.Context, method, path string, body any, bearer string, out any) (int, error) {
	var buf []byte
	if body != nil {
		buf, _ = json.Marshal(body)
	}
	n := len(r.cfg.URLs)
	first := int(r.next.Add(1) % uint64(n))
	var err error
	for i := range n {
		base := r.cfg.URLs[(first+i)%n]
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(buf))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("User-Agent", "authload/1")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		var res *http.Response
		res, err = r.client.Do(req)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // nothing was sent: the next replica
			}
			return 0, err
		}
		defer res.Body.Close()
		b, rerr := io.ReadAll(res.Body)
		if rerr != nil {
			return 0, rerr
		}
		if res.StatusCode/100 == 2 && out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return res.StatusCode, fmt.Errorf("decode %s: %w", path, err)
			}
		}
		return res.StatusCode, nil
	}
	return 0, err
}

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
