package main

import "runtime/debug"

// gcPercent is the relay's GOGC when the environment sets none. A relay
// allocates per row (the message and its headers, the PubAck's future,
// its JSON) and keeps little: a batch of rows. With Go's default of 100
// it collected several times a second in a drain, and its idle Ps ran
// mark workers on cores PostgreSQL and NATS needed; three replicas on two
// cores spent 15-16 ms of relay CPU per 1,000 rows against one's 12-13.
// At 400: 10.8-11.3 ms against 9.5-10.2, and 3 replicas drained at 0.91x
// of one instead of 0.81-0.94x (docs/benchmarks.md). The heap it grows to
// is a few times a batch's rows, well inside the manifest's 128 MiB, and
// GOMEMLIMIT (set there) bounds it whatever the backlog.
const gcPercent = 400

// setGC applies gcPercent unless GOGC is set: an operator's GOGC wins (an
// empty GOGC is the runtime's 100 but not a choice: it gets gcPercent).
// It returns the percent in force.
func setGC(environ map[string]string) int {
	if v := environ["GOGC"]; v != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}
