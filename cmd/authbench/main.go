// Command authbench measures authevents against the limits of the machine
// it runs on and prints figures with ratios:
//
//	authbench api -url http://127.0.0.1:8080 [-c 8] [-d 5s] [-rounds 3]
//
// The api benchmark first measures the raw argon2id rate (same parameters,
// one goroutine per core, no HTTP, no database), then drives register and
// login at a fixed concurrency. Each phase runs -rounds times; medians are
// reported because the machine is shared and noisy.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"time"

	"github.com/authevents/authevents/personal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: authbench api|relay|consumer|failover|keepup [flags] | authbench kek")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "api":
		err = benchAPI(ctx, os.Args[2:])
	case "argon2":
		err = benchArgon2(ctx, os.Args[2:])
	case "relay":
		err = benchRelay(ctx, os.Args[2:])
	case "consumer":
		err = benchConsumer(ctx, os.Args[2:])
	case "failover":
		err = benchFailover(ctx, os.Args[2:])
	case "keepup":
		err = benchKeepUp(ctx, os.Args[2:])
	case "kek":
		// A new PERSONAL_DATA_KEY, for the scripts' BENCH_PROTECT.
		fmt.Println(personal.GenerateKEK())
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench: "+err.Error())
		os.Exit(1)
	}
}

// result is one phase's figures.
type result struct {
	ops      int
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// run calls op from c goroutines for d and collects latencies.
func run(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, worker, i int) error) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lat := make([][]time.Duration, c)
	errs := make([]int, c)
	start := time.Now()
	done := make(chan struct{})
	for w := range c {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				if err := op(ctx, w, i); err != nil {
					if ctx.Err() != nil {
						return
					}
					errs[w]++
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	for range c {
		<-done
	}
	r := result{elapsed: time.Since(start)}
	var all []time.Duration
	for w := range c {
		all = append(all, lat[w]...)
		r.errors += errs[w]
	}
	r.ops = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		r.p50 = all[len(all)/2]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return r
}

// median returns the round with the median rate.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		switch {
		case a.rate() < b.rate():
			return -1
		case a.rate() > b.rate():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func header() {
	fmt.Printf("machine: %d cores (GOMAXPROCS %d), %s/%s, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func commonFlags(fs *flag.FlagSet) (c *int, d *time.Duration, rounds *int) {
	c = fs.Int("c", 8, "concurrent clients")
	d = fs.Duration("d", 5*time.Second, "duration of each round")
	rounds = fs.Int("rounds", 3, "rounds per phase (the median is reported)")
	return
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
