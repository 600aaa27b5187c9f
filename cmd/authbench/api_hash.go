package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hashPhase is one phase of the API benchmark that measures password
// hashing through the API (or the raw rate itself), once per round.
type hashPhase struct {
	key  string // in the per-round lines
	name string
	c    int
	op   func(ctx context.Context, w, i int) error
	// measure, if set, measures a round instead of c goroutines of op.
	measure func() (result, error)
	after   func() error // once the phase's round is over
	ratio   bool         // report rate / raw argon2id rate, per round
	rounds  []result
}

// hashPhases are the phases in the order each round runs them; the first
// is the raw argon2id rate, the reference of the others' ratios.
type hashPhases []*hashPhase

// runHashPhases runs, per round and back to back so that each ratio is
// taken between figures measured under the same background load: the raw
// argon2id rate (one goroutine per core, no HTTP, no database); register
// with a fresh address (201) on a; register on b, which requires verified
// addresses (202, held to ENUMERATION_FLOOR), if b has a URL; login with
// the accounts registered so far; forgot-password for them (202, held to
// the floor, no hash). It returns the phases and the accounts made on a,
// grouped per client.
func runHashPhases(ctx context.Context, a, b apiClient, rounds, c, cfloor, cforgot, rawNice int, argon2Args []string, d time.Duration, run0 int64, hash func()) (hashPhases, [][]string, error) {
	var emails [][]string
	per := make([][]string, c)
	var round int
	pick := func(w, i int) string {
		set := emails[(w+i)%len(emails)]
		return set[i%len(set)]
	}
	phases := hashPhases{
		{key: "hash", name: "argon2id raw (all cores)", c: runtime.NumCPU(), op: func(context.Context, int, int) error { hash(); return nil }},
		{key: "register", name: "POST /auth/register (optional: 201)", c: c, ratio: true, op: func(ctx context.Context, w, i int) error {
			email := fmt.Sprintf("bench-%d-%d-%d-%d@example.com", run0, round, w, i)
			err := a.post(ctx, "/auth/register", map[string]string{"email": email, "password": benchPassword, "name": "Bench"}, http.StatusCreated)
			if err == nil {
				per[w] = append(per[w], email)
			}
			return err
		}, after: func() error {
			for w, p := range per {
				if len(p) > 0 {
					emails = append(emails, p)
				}
				per[w] = nil
			}
			if len(emails) == 0 {
				return fmt.Errorf("no registration succeeded (is the API at %s up?)", a.base)
			}
			return nil
		}},
	}
	if b.base != "" {
		phases = append(phases, &hashPhase{key: "register-required", name: "POST /auth/register (required: 202)", c: cfloor, ratio: true, op: func(ctx context.Context, w, i int) error {
			email := fmt.Sprintf("bench-%d-req-%d-%d-%d@example.com", run0, round, w, i)
			return b.post(ctx, "/auth/register", map[string]string{"email": email, "password": benchPassword, "name": "Bench"}, http.StatusAccepted)
		}})
	}
	phases = append(phases,
		&hashPhase{key: "login", name: "POST /auth/login", c: c, ratio: true, op: func(ctx context.Context, w, i int) error {
			return a.post(ctx, "/auth/login", map[string]string{"email": pick(w, i), "password": benchPassword}, http.StatusOK)
		}},
		&hashPhase{key: "forgot", name: "POST /auth/password/forgot (202)", c: cforgot, op: func(ctx context.Context, w, i int) error {
			return a.post(ctx, "/auth/password/forgot", map[string]string{"email": pick(w, i)}, http.StatusAccepted)
		}},
	)
	if rawNice > 0 {
		phases = slices.Insert(phases, 1, &hashPhase{key: "hash-nice", name: fmt.Sprintf("argon2id raw at nice +%d (as the workers)", rawNice),
			measure: func() (result, error) { return rawAtNice(ctx, rawNice, d, argon2Args) }})
	}
	for round = range rounds {
		for _, p := range phases {
			if p.measure != nil {
				r, err := p.measure()
				if err != nil {
					return nil, nil, err
				}
				p.rounds = append(p.rounds, r)
				continue
			}
			p.rounds = append(p.rounds, run(ctx, p.c, d, p.op))
			if p.after != nil {
				if err := p.after(); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return phases, emails, nil
}

func printRow(name string, r result) {
	fmt.Printf("%-42s %10.1f %10s %10s %8d\n", name, r.rate(), ms(r.p50), ms(r.p99), r.errors)
}

// print writes each phase's median round.
func (hp hashPhases) print() {
	fmt.Printf("%-42s %10s %10s %10s %8s\n", "phase (median of rounds)", "ops/s", "p50", "p99", "errors")
	for _, p := range hp {
		name := p.name
		if p != hp[0] {
			name += fmt.Sprintf(" c=%d", p.c)
		}
		printRow(name, median(p.rounds))
	}
}

// printRatios writes, per phase, the median of its per-round ratios to the
// raw argon2id rate (and to the raw rate at the workers' nice value, if
// measured), and the rounds.
func (hp hashPhases) printRatios() {
	ratio := func(p, ref *hashPhase, what, goal string) {
		var ratios []string
		var xs []float64
		for i, r := range p.rounds {
			x := r.rate() / ref.rounds[i].rate()
			xs = append(xs, x)
			ratios = append(ratios, fmt.Sprintf("%.1f", 100*x))
		}
		fmt.Printf("%s / %s = %.1f %% (median of per-round ratios; rounds: %s %%%s)\n",
			p.key, what, 100*medianOf(xs), strings.Join(ratios, ", "), goal)
	}
	for _, p := range hp {
		if p.ratio {
			ratio(p, hp[0], "raw hash", "; goal >= 90 %")
		}
	}
	if hp[1].key != "hash-nice" {
		return
	}
	for _, p := range hp {
		if p.ratio {
			ratio(p, hp[1], "raw hash at the workers' nice", "")
		}
	}
	ratio(hp[1], hp[0], "raw hash: the machine's noise (1.0 when nothing else runs)", "")
}

// printRounds writes every round's rates.
func (hp hashPhases) printRounds() {
	for i := range hp[0].rounds {
		var parts []string
		for _, p := range hp {
			parts = append(parts, fmt.Sprintf("%s %.1f/s", p.key, p.rounds[i].rate()))
		}
		fmt.Printf("round %d: %s\n", i+1, strings.Join(parts, ", "))
	}
}

// rawAtNice measures the raw argon2id rate in a child process (this
// binary's argon2 command) niced by nice, as the API's hash workers are:
// on a machine shared with other work, both then get the same share of it.
// argon2 hashes in goroutines of its own, so a niced thread of this
// process could not measure it.
func rawAtNice(ctx context.Context, nice int, d time.Duration, argon2Args []string) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	out, err := exec.CommandContext(ctx, "nice", append([]string{"-n", strconv.Itoa(nice), exe, "argon2", "-d", d.String()}, argon2Args...)...).Output()
	if err != nil {
		return result{}, fmt.Errorf("raw argon2id at nice %d: %w", nice, err)
	}
	var r result
	if _, err := fmt.Sscan(string(out), &r.ops, &r.elapsed); err != nil {
		return result{}, fmt.Errorf("raw argon2id at nice %d: %q: %w", nice, out, err)
	}
	return r, nil
}
