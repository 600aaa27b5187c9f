// Package subjects matches NATS subjects against subject filters, as the
// server does, for the relay (which rows its stream binds), the consumers
// and the dashboard.
package subjects

import "strings"

// Match reports whether subject matches the NATS subject filter
// (* one token, > the rest). A subject with an empty token matches nothing.
func Match(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for _, tok := range st {
		// A subject with an empty token ("a..b", "a.b.") is no subject at
		// all: no stream can bind it, whatever its filter says.
		if tok == "" {
			return false
		}
	}
	for i, f := range ft {
		if f == ">" {
			return len(st) > i
		}
		if i >= len(st) || (f != "*" && f != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}

// MatchAny reports whether subject matches one of filters.
func MatchAny(filters []string, subject string) bool {
	for _, f := range filters {
		if Match(f, subject) {
			return true
		}
	}
	return false
}
