package chaos

import (
	"sort"
	"time"
)

// The time of a run, cut into what the verdict compares: the windows of
// broker faults with nothing else hitting the API, and the quiet
// stretches around them.

// Interval is [From, To), in offsets from the start of the load.
type Interval struct{ From, To time.Duration }

func union(ivs []Interval) []Interval {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].From < ivs[j].From })
	var out []Interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && iv.From <= out[n-1].To {
			out[n-1].To = max(out[n-1].To, iv.To)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// APISettle is how long after a fault that hits the API its effects may
// last (pools reconnecting, a restarted process warming up), and how long
// before it a request may have started that the fault cut off.
const APISettle = 2 * time.Second

// Windows returns the intervals in which a broker fault is active and no
// fault that hits the API is (nor is within APISettle): there, every
// auth request must be answered as if nothing happened.
func Windows(plan []Fault) []Interval {
	var broker, api []Interval
	for _, f := range plan {
		if f.Kind.Broker() {
			broker = append(broker, Interval{f.At, f.End()})
		}
		if f.Kind.HitsAPI() {
			api = append(api, Interval{f.At - APISettle, f.End() + APISettle})
		}
	}
	var out []Interval
	api = union(api)
	for _, b := range union(broker) {
		cur := []Interval{b}
		for _, a := range api {
			var next []Interval
			for _, c := range cur {
				if a.To <= c.From || a.From >= c.To {
					next = append(next, c)
					continue
				}
				if a.From > c.From {
					next = append(next, Interval{c.From, a.From})
				}
				if a.To < c.To {
					next = append(next, Interval{a.To, c.To})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

func total(ivs []Interval) time.Duration {
	var d time.Duration
	for _, iv := range ivs {
		d += iv.To - iv.From
	}
	return d
}

// BrokerTime is how long some broker fault is active.
func BrokerTime(plan []Fault) time.Duration {
	var b []Interval
	for _, f := range plan {
		if f.Kind.Broker() {
			b = append(b, Interval{f.At, f.End()})
		}
	}
	return total(union(b))
}

// BrokerOnly is how long broker faults are active with nothing hitting the
// API.
func BrokerOnly(plan []Fault) time.Duration { return total(Windows(plan)) }

// QuietSettle is how long after a broker fault heals its aftermath
// (relays draining the outbox, consumers catching up) may last.
const QuietSettle = 5 * time.Second

// Quiet returns the intervals of [from, d) with no broker fault active or
// healed within QuietSettle, and none that hits the API (± APISettle): the
// baseline that Windows is compared with. Both may contain the faults
// that neither hit the API nor the broker (a relay or consumer killed, a
// relay cut from PostgreSQL), so the two differ in the broker only.
func Quiet(plan []Fault, from, d time.Duration) []Interval {
	var busy []Interval
	for _, f := range plan {
		switch {
		case f.Kind.Broker():
			busy = append(busy, Interval{f.At, f.End() + QuietSettle})
		case f.Kind.HitsAPI():
			busy = append(busy, Interval{f.At - APISettle, f.End() + APISettle})
		}
	}
	var out []Interval
	at := from
	for _, b := range union(busy) {
		if b.From > at {
			out = append(out, Interval{at, b.From})
		}
		at = max(at, b.To)
	}
	if at < d {
		out = append(out, Interval{at, d})
	}
	return out
}
