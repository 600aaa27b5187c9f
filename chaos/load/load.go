// Package load drives an authevents API with a realistic mix of requests
// at a target rate — registrations, logins (some with a wrong password),
// refresh chains, /auth/me, logout and logout-all, and now and then the
// account lifecycle: address verification, password reset, password and
// address change, the account's deletion — and records, for every 2xx answer whose effect must
// emit an event, which event: the ground truth that the chaos suite
// compares with the stream and the consumers' effects. Latencies go to
// HDR histograms (github.com/HdrHistogram/hdrhistogram-go).
//
// The virtual users read their mail (Config.Mail: the SMTP sink, or the
// MAIL_DIR folder of make run) and follow the links in it as their owners
// would, so the mix works whether the API requires verified addresses
// (register answers 202; the user signs in after the link) or not.
// cmd/authload is its command-line front end.
package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/authevents/authevents/internal/mailbox"
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
	// The account lifecycle. VerifyEmail and ResetPassword follow a
	// mailed link: an address verification or change, a reset.
	VerifyEmail        Op = "verify_email"
	ResendVerification Op = "resend_verification"
	ForgotPassword     Op = "forgot_password"
	ResetPassword      Op = "reset_password"
	ChangePassword     Op = "change_password"
	ChangeEmail        Op = "change_email"
	DeleteAccount      Op = "delete_account"
)

// Ops lists every operation, in report order.
var Ops = []Op{Register, Login, LoginFail, Refresh, Me, Logout, LogoutAll,
	VerifyEmail, ResendVerification, ForgotPassword, ResetPassword, ChangePassword, ChangeEmail, DeleteAccount}

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
	// Mail is where the API's mails land (the SMTP sink's Mailbox, or a
	// mailbox.Dir over MAIL_DIR); nil: no link can be followed, so under
	// required verification no user signs in.
	Mail mailbox.Source
	// MailWait bounds the wait for one mail (default 15s): under faults
	// the email service may be down, and the user does something else.
	MailWait time.Duration
	// NoRateLimits: the API runs with RATE_LIMIT_ENABLED=false, so a 202
	// of a resend or a forgotten password promises its event (a rate
	// limit drops it silently).
	NoRateLimits bool
	// Progress, when set, is called every second with the running figures.
	Progress func(Snapshot)
}

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
	// Deletions are the account deletions asked for that may have
	// happened (answered 204, or not answered).
	Deletions []Deletion
	// Mails are the waits for a mail, per kind.
	Mails map[string]*MailWaits
	hist  map[Op]*histogram
}

// MailWaits counts the waits for one kind of mail.
type MailWaits struct {
	Found, GaveUp int
	hist          *histogram // time to arrival of those found
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
	if cfg.MailWait <= 0 {
		cfg.MailWait = 15 * time.Second
	}
	start := time.Now()
	if cfg.RunID == "" {
		cfg.RunID = fmt.Sprintf("%x", start.UnixNano())
	}
	r := &runner{cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1), mail: &inbox{src: cfg.Mail},
		res: &Result{Started: start, hist: map[Op]*histogram{}, Mails: map[string]*MailWaits{}},
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
			a := &actor{r: r, id: i, rnd: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), used: map[string]bool{}}
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
	mail     *inbox
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

// mailWait records a wait for a mail of kind: found after d, or given up.
func (r *runner) mailWait(kind string, d time.Duration, found bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.res.Mails[kind]
	if w == nil {
		w = &MailWaits{hist: newHistogram()}
		r.res.Mails[kind] = w
	}
	if !found {
		w.GaveUp++
		return
	}
	w.Found++
	w.hist.record(d)
}
