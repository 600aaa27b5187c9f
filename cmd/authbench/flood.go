package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// floodResult is one phase of the flood comparison: refresh and /readyz
// latency, with or without a login flood running alongside.
type floodResult struct {
	refresh, readyz       []time.Duration
	logins, shed, refused int64
}

func p95(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*95/100)]
}

// floodPhase measures what a credential-stuffing flood (failed logins on
// every hashing slot, far more than the API can hash) does to the users
// already signed in: refresh latency (c clients rotating their own
// sessions) and /readyz latency, side by side with the same measurement
// without the flood, in each round.
func floodPhase(ctx context.Context, d time.Duration, rounds, c, flooders int, opsURL string,
	refresh func(ctx context.Context, w int) error, failLogin func(ctx context.Context) (int, error),
	client *http.Client) (base, flood []floodResult) {
	measure := func(withFlood bool) floodResult {
		var res floodResult
		var mu sync.Mutex
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var wg sync.WaitGroup
		for w := range c {
			wg.Go(func() {
				for ctx.Err() == nil {
					t := time.Now()
					if err := refresh(ctx, w); err == nil {
						mu.Lock()
						res.refresh = append(res.refresh, time.Since(t))
						mu.Unlock()
					}
				}
			})
		}
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for ctx.Err() == nil {
				<-tick.C
				t := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", opsURL+"/readyz", nil)
				if r, err := client.Do(req); err == nil {
					r.Body.Close()
					mu.Lock()
					res.readyz = append(res.readyz, time.Since(t))
					mu.Unlock()
				}
			}
		})
		if withFlood {
			for range flooders {
				wg.Go(func() {
					for ctx.Err() == nil {
						status, err := failLogin(ctx)
						if err != nil {
							continue
						}
						atomic.AddInt64(&res.logins, 1)
						switch status {
						case http.StatusServiceUnavailable:
							atomic.AddInt64(&res.shed, 1)
						case http.StatusUnauthorized:
							atomic.AddInt64(&res.refused, 1)
						}
					}
				})
			}
		}
		wg.Wait()
		return res
	}
	for range rounds {
		base = append(base, measure(false))
		flood = append(flood, measure(true))
	}
	return base, flood
}

func printFlood(d time.Duration, c, flooders int, base, flood []floodResult) {
	fmt.Printf("\nlogin flood (%d clients of failed logins, no rate limits) vs none, %s each, refresh c=%d:\n", flooders, d, c)
	var bRef, fRef, bRdy, fRdy []float64
	for i := range base {
		b, f := base[i], flood[i]
		fmt.Printf("round %d: refresh p95 %s -> %s, /readyz p95 %s -> %s; flood: %.0f logins/s answered (%d 401, %d 503 shed)\n",
			i+1, ms(p95(b.refresh)), ms(p95(f.refresh)), ms(p95(b.readyz)), ms(p95(f.readyz)),
			float64(f.logins)/d.Seconds(), f.refused, f.shed)
		bRef, fRef = append(bRef, float64(p95(b.refresh))), append(fRef, float64(p95(f.refresh)))
		bRdy, fRdy = append(bRdy, float64(p95(b.readyz))), append(fRdy, float64(p95(f.readyz)))
	}
	fmt.Printf("median: refresh p95 %s without flood, %s under flood (goal <= 50 ms); /readyz p95 %s -> %s\n",
		ms(time.Duration(medianOf(bRef))), ms(time.Duration(medianOf(fRef))),
		ms(time.Duration(medianOf(bRdy))), ms(time.Duration(medianOf(fRdy))))
}
