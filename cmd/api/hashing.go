package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/password"
)

// hashWorkerArg is bin/api's hidden mode: a password hash worker, one of
// the processes the api starts itself (HASH_WORKERS), serving
// password.ServeWorker on its standard input and output.
const hashWorkerArg = "hash-worker"

func hashWorker() {
	if err := password.ServeWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "api "+hashWorkerArg+": "+err.Error())
		os.Exit(1)
	}
	os.Exit(0)
}

// workerEnv is what a hash worker inherits of the api's environment: the
// Go runtime's settings, none of the api's (it needs no URL, key or
// password). Its GOMAXPROCS is the argon2 parallelism, whatever the api's:
// a worker computes one hash at a time, in parallelism goroutines, and a
// Go processor more would only let its garbage collector and idle threads
// take cycles from the hash (measured: docs/benchmarks.md, "Login at the
// raw hash rate").
func workerEnv(environ map[string]string, parallelism uint8) []string {
	var env []string
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GODEBUG", "GOTRACEBACK", "GOCOVERDIR"} {
		if v, ok := environ[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(max(int(parallelism), 1)))
}

// hashing returns how many hashes may run at once on a machine of cores
// cores, and whether they run in worker processes.
func (c Config) hashing(cores int) (slots int, workers bool, err error) {
	slots = c.HashConcurrency
	if slots <= 0 {
		slots = cores
	}
	switch c.HashWorkers {
	case "auto":
		return slots, true, nil
	case "0":
		return slots, false, nil
	}
	n, err := strconv.Atoi(c.HashWorkers)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("HASH_WORKERS must be auto, 0 or a number of processes, not %q", c.HashWorkers)
	}
	if c.HashConcurrency > 0 && c.HashConcurrency != n {
		return 0, false, fmt.Errorf("HASH_WORKERS=%d and HASH_CONCURRENCY=%d disagree: each worker is one hashing slot", n, c.HashConcurrency)
	}
	return n, true, nil
}

// newHasher builds the password hasher: HASH_CONCURRENCY slots, computed in
// worker processes at a lower priority (HASH_WORKERS) or in this one. stop
// ends the workers; call it once no request can hash any more.
func newHasher(cfg Config, environ map[string]string, reg prometheus.Registerer, log *slog.Logger) (h *password.Hasher, stop func(), err error) {
	slots, inWorkers, _ := cfg.hashing(runtime.GOMAXPROCS(0)) // validated by loadConfig
	opts := []password.HasherOption{password.WithQueueDepth(cfg.HashQueueDepth)}
	stop = func() {}
	if inWorkers {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, fmt.Errorf("HASH_WORKERS: %w", err)
		}
		ws, err := password.StartWorkers(slots, password.WorkerConfig{
			Command: []string{exe, hashWorkerArg}, Env: workerEnv(environ, cfg.Argon2Parallelism), Nice: cfg.HashWorkerNice,
			Log: log, Registerer: reg,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("HASH_WORKERS: %w", err)
		}
		log.Info("hash workers started", "component", "password", "pids", ws.PIDs(), "nice", cfg.HashWorkerNice)
		stop = func() {
			if err := ws.Close(); err != nil {
				log.Warn("hash workers stopped uncleanly", "component", "password", "err", err)
			}
		}
		opts = append(opts, password.WithWorkers(ws))
	} else {
		runtime.GOMAXPROCS(processors(cfg.HashPriority, runtime.GOMAXPROCS(0), slots, int(cfg.Argon2Parallelism)))
	}
	h, err = password.NewHasher(password.Params{
		Memory: cfg.Argon2Memory, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism,
		SaltLength: 16, KeyLength: 32,
	}, slots, password.NewObserver(reg), opts...)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("ARGON2_*: %w", err)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authevents_password_hash_queued",
		Help: "Password hashes waiting for a slot (at most HASH_QUEUE_DEPTH; beyond it requests get 503).",
	}, func() float64 { return float64(h.Queued()) }))
	return h, stop, nil
}

// processors is the API's GOMAXPROCS. With HASH_PRIORITY=low it adds one
// processor per goroutine hashing can run at once (slots × argon2
// parallelism: argon2 runs one goroutine per lane): hashes then never
// hold every Go processor, so a refresh or /readyz never waits behind
// them for the Go scheduler's 10 ms time slices; the kernel shares the
// cores among all runnable threads instead. A login flood thus delays
// signed-in users by a few milliseconds, not by tens.
func processors(priority string, procs, slots, parallelism int) int {
	if priority == "low" {
		return procs + slots*max(parallelism, 1)
	}
	return procs
}
