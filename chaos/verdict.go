package chaos

import (
	"fmt"
	"io"
	"time"

	"github.com/authevents/authevents/chaos/load"
)

// StreamMsg is one message read back from the stream.
type StreamMsg struct {
	Seq       uint64
	MsgID     string // Nats-Msg-Id
	ID        string // the CloudEvent id
	Type      string // as published: user.logged_in_v2 for version 2
	TwinID    string // the other version of the same change (twinid)
	Time      time.Time
	UserID    string
	SessionID string
	// Mails are the kinds of mail the event calls for (consumer/email's
	// Kinds), in the order they are sent.
	Mails []string
	// Subject is the NATS subject (a dead letter's original subject), Text
	// the body and headers, for the scan of a deleted user's data.
	Subject, Text string
}

// Evidence is what a run left behind, for Judge.
type Evidence struct {
	Start time.Time // the load's start: offset 0 of the plan
	// Plan is the faults as they were applied: a crashed PostgreSQL's
	// recovery, a restart that waited, make them last longer than
	// planned.
	Plan    []Fault
	Profile Profile
	Samples []load.Sample
	Truth   []load.Truth
	Stream  []StreamMsg
	// Audit is audit_log rows per event id, Analytics the analytics
	// counts per event type, Emails the times each mail's Message-ID
	// (the part before the @: its key, email.Key) reached the SMTP sink.
	Audit     map[string]int
	Analytics map[string]int
	Emails    map[string][]time.Time
	// SendRecordLosses are when a sent e-mail's record could be lost:
	// consumer replicas SIGKILLed, PostgreSQL crashed. Such a loss sends
	// once more, by design (exactly-once ends at the SMTP boundary).
	SendRecordLosses []time.Time
	// Exits are processes that stopped without being killed, after they
	// had been ready.
	Exits []string
	// LastHeal is when the last fault ended, Drained when the outbox was
	// empty and every consumer had acknowledged every event.
	LastHeal, Drained time.Time
	// RedisOutages bound the Redis outages.
	RedisOutages [][2]time.Time
	// Deletions are the account deletions the load asked for, with the
	// personal data it gave each user; DLQ is the dead-letter stream
	// (Subject: the original subject). Rows are the rows of every table
	// that hold any of Needles(Deletions), of RowsScanned read; Keys the
	// personal_keys rows of the deleted users and of their farewell keys
	// (owner id → erased). ControlRows are the rows the same scan finds
	// holding any address of the load's domain (load.Domain): the live
	// users' at least, so a scan that reads nothing shows.
	ControlRows int
	Deletions   []load.Deletion
	DLQ         []StreamMsg
	Rows        []TableRow
	RowsScanned int
	Keys        map[string]bool
}

// Row is one line of the verdict.
type Row struct {
	Check string `json:"check"`
	Value string `json:"value"`
	Limit string `json:"limit"`
	OK    bool   `json:"ok"`
}

// Verdict is the computed outcome of a run.
type Verdict struct {
	Rows   []Row          `json:"rows"`
	OK     bool           `json:"ok"`
	Detail map[string]any `json:"detail"`
}

func (v *Verdict) add(check string, ok bool, limit string, format string, args ...any) {
	v.Rows = append(v.Rows, Row{Check: check, Value: fmt.Sprintf(format, args...), Limit: limit, OK: ok})
	if !ok {
		v.OK = false
	}
}

// Print writes the verdict as a table.
func (v *Verdict) Print(w io.Writer) {
	fmt.Fprintf(w, "%-58s %-34s %-14s %s\n", "check", "value", "limit", "")
	for _, r := range v.Rows {
		mark := "ok"
		if !r.OK {
			mark = "VIOLATION"
		}
		fmt.Fprintf(w, "%-58s %-34s %-14s %s\n", r.Check, r.Value, r.Limit, mark)
	}
	if v.OK {
		fmt.Fprintln(w, "verdict: every guarantee held")
	} else {
		fmt.Fprintln(w, "verdict: VIOLATED")
	}
}

// Judge computes the verdict: each check adds its rows, in this order.
func Judge(e Evidence) *Verdict {
	v := &Verdict{OK: true, Detail: map[string]any{}}
	checkDelivery(v, e)
	checkVersions(v, e)
	checkEffects(v, e)
	checkOrder(v, e)
	checkErasure(v, e)
	checkAuthDuringBrokerFaults(v, e)
	checkRedisOutages(v, e)
	checkProcesses(v, e)
	return v
}

// distinct returns the first message of each event id, in stream order.
func distinct(stream []StreamMsg) []StreamMsg {
	seen := map[string]bool{}
	var out []StreamMsg
	for _, m := range stream {
		if !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	return out
}

// checkProcesses: no process died unprompted, and the system drained
// after the last fault healed.
func checkProcesses(v *Verdict, e Evidence) {
	v.add("processes that died unprompted", len(e.Exits) == 0, "0", "%d", len(e.Exits))
	if len(e.Exits) > 0 {
		v.Detail["exits"] = e.Exits
	}
	drain := e.Drained.Sub(e.LastHeal)
	v.add("drain time after the last fault healed", !e.Drained.IsZero(), "", "%.1f s", drain.Seconds())
	v.Detail["drainSeconds"] = drain.Seconds()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func head(s []string, n int) []string { return s[:min(n, len(s))] }
