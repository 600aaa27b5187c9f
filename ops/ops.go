// Package ops serves the operations endpoints every authevents binary
// exposes on its own listener (OPS_ADDR): /healthz (the process is alive),
// /readyz (its dependencies answer) and /metrics (Prometheus).
package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authevents/authevents/internal/buildinfo"
)

// Check is one readiness dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check.
const CheckTimeout = 2 * time.Second

// NewRegistry returns a registry with the Go runtime and process collectors
// and authevents_build_info, the one each binary injects into its
// components.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector())
	return reg
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(reg *prometheus.Registry, checks ...Check) http.Handler {
	return handler(reg, false, checks)
}

// HandlerWithPprof is Handler plus net/http/pprof under /debug/pprof/, for
// profiling a live process (the ops listener must not be public).
func HandlerWithPprof(reg *prometheus.Registry, checks ...Check) http.Handler {
	return handler(reg, true, checks)
}

func handler(reg *prometheus.Registry, withPprof bool, checks []Check) http.Handler {
	mux := http.NewServeMux()
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		results := Run(r.Context(), checks)
		status, code := "ok", http.StatusOK
		for _, v := range results {
			if v != "ok" {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": results})
	})
	// The readiness checks are metrics too, run at each scrape: an alert
	// on them fires however little traffic there is.
	ready := prometheus.NewRegistry()
	ready.MustRegister(readinessCollector(checks))
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, ready},
		promhttp.HandlerOpts{Registry: reg, ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

var dependencyUpDesc = prometheus.NewDesc("authevents_dependency_up",
	"1 when the readiness check of a dependency (postgres, redis, nats) passes at scrape time, else 0: what /readyz reports.",
	[]string{"dependency"}, nil)

// readinessCollector runs the checks at each scrape.
type readinessCollector []Check

func (c readinessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dependencyUpDesc }

func (c readinessCollector) Collect(ch chan<- prometheus.Metric) {
	for name, res := range Run(context.Background(), c) {
		v := 0.0
		if res == "ok" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(dependencyUpDesc, prometheus.GaugeValue, v, name)
	}
}

// Run runs every check concurrently, each with CheckTimeout, and returns
// "ok" or the error text per check name.
func Run(ctx context.Context, checks []Check) map[string]string {
	out := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			res := "ok"
			if err := c.Fn(cctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			out[c.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
