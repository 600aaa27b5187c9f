package chaos_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/chaos"
	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// evidence gathers what the run left behind, once the load ended and
// every fault healed; boots are the processes that exited before they
// were ready (restarted by the supervisor).
func (s *system) evidence(p chaos.Profile, start time.Time, applied []appliedFault, res *load.Result) (ev chaos.Evidence, boots []string) {
	var lastHeal time.Time
	for _, a := range applied {
		if a.to.After(lastHeal) {
			lastHeal = a.to
		}
	}
	drained := s.waitDrained(3 * time.Minute)
	s.sup.mu.Lock()
	s.sup.done = true
	var lost []time.Time // when a sent e-mail's record could be lost
	for _, c := range s.cons {
		lost = append(lost, s.sup.kills[c.name]...)
	}
	exits := append([]string(nil), s.sup.exits...)
	boots = append([]string(nil), s.sup.boots...)
	s.sup.mu.Unlock()

	var actual []chaos.Fault // the faults as applied
	for _, a := range applied {
		actual = append(actual, chaos.Fault{Kind: a.f.Kind, At: a.from.Sub(start), Down: a.to.Sub(a.from), Target: a.f.Target})
		if a.f.Kind == chaos.CrashPostgres {
			lost = append(lost, a.from)
		}
	}
	ev = chaos.Evidence{Start: start, Plan: actual, Profile: p, Samples: res.Samples, Truth: res.Truth,
		Stream: s.readStream(), Audit: s.counts(`SELECT event_id::text, count(*) FROM audit_log GROUP BY 1`),
		Analytics: s.counts(`SELECT type, sum(count)::int FROM analytics_event_counts GROUP BY 1`), Emails: s.sink.Arrivals(),
		LastHeal: lastHeal, Drained: drained, RedisOutages: s.redisOut, SendRecordLosses: lost, Exits: exits}
	s.erasureEvidence(&ev, res.Deletions)
	return ev, boots
}

// waitDrained waits until the outbox is empty and every consumer has
// acknowledged every message, and returns when that was first seen (the
// zero time if it was not). It waits in a subtest, so that a run that does
// not drain fails and still gets its verdict and report.
func (s *system) waitDrained(within time.Duration) time.Time {
	var at time.Time
	s.t.Run("drain", func(t *testing.T) {
		testenv.WaitFor(t, "the outbox empty and every consumer caught up after the load", within, s.drained)
		at = time.Now()
	})
	return at
}

func (s *system) drained() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil || n > 0 {
		return false
	}
	for _, d := range durables {
		c, err := s.js.Consumer(ctx, stream, d)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

// readStream reads every message of the stream with an ordered consumer.
func (s *system) readStream() []chaos.StreamMsg {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	msgs := natstest.Collect(s.t, s.js, stream, int(info.State.Msgs), 60*time.Second)
	if len(msgs) != int(info.State.Msgs) {
		s.t.Fatalf("read %d messages of %d", len(msgs), info.State.Msgs)
	}
	var out []chaos.StreamMsg
	for _, m := range msgs {
		sm := streamMsg(m.Subject(), m.Data(), m.Headers())
		if md, _ := m.Metadata(); md != nil {
			sm.Seq = md.Sequence.Stream
		}
		out = append(out, sm)
	}
	return out
}

// streamMsg reads one message of the stream (or a dead letter, published
// on subject).
func streamMsg(subject string, data []byte, h nats.Header) chaos.StreamMsg {
	var ce struct {
		ID, Type, Subject, Time string
		TwinID                  string `json:"twinid"`
		Data                    struct {
			UserID    string `json:"userId"`
			SessionID string `json:"sessionId"`
		}
	}
	json.Unmarshal(data, &ce)
	at, _ := time.Parse(time.RFC3339Nano, ce.Time)
	text := string(data)
	for k, vs := range h {
		text += "\n" + k + ": " + strings.Join(vs, ",")
	}
	sm := chaos.StreamMsg{MsgID: h.Get(nats.MsgIdHdr), ID: ce.ID, Type: ce.Type, TwinID: ce.TwinID, Time: at,
		UserID: ce.Data.UserID, SessionID: ce.Data.SessionID, Subject: subject, Text: text}
	// The mails it calls for, as the email service reads it; an event
	// it could not read calls for none here, and its mails, if any
	// were sent, count as called for by nothing. email.Kinds leaves out
	// the confirmation of a deletion, which the service sends once per
	// user.deleted it reads (its key: email.Key of that event's id).
	if ev, err := consumer.NewEvent(subject, data); err == nil {
		sm.Mails, _ = email.Kinds(ev)
		if ev.Base == authevents.EventUserDeleted {
			sm.Mails = []string{email.KindAccountDeleted}
		}
	}
	return sm
}

// counts reads (key, count) rows: audit rows per event id, analytics
// counts per type.
func (s *system) counts(query string) map[string]int {
	rows, _ := s.pool.Query(context.Background(), query)
	out := map[string]int{}
	var key string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error { out[key] = n; return nil }); err != nil {
		s.t.Fatal(err)
	}
	return out
}
