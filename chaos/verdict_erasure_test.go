package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/personal"
)

// u3 is the user the erasure evidence deletes, and what the load gave it.
var (
	u3      = uuid.NewSHA1(uuid.NameSpaceOID, []byte("u3")).String()
	u3Addrs = []string{"u3-1-run@load.example.com", "u3-1-run-moved@load.example.com"}
	u3Name  = "Load Tester u3-1-run"
	u3Agent = "authload/1 (u3-1-run)"
)

// withDeletion adds to the clean evidence u3, who registers, asks to move
// to another address (its link never followed), logs out and deletes the
// account 10 s into the run, each event with its effects; every version 1
// message of u3 with personal fields holds its clear values, the rows and the
// version 2 messages none; its key and farewell key are erased.
func withDeletion(e Evidence) Evidence {
	at := e.Start.Add(10 * time.Second)
	add := func(typ, session string, mails ...string) {
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(u3+typ)).String()
		text := `{"type":"` + typ + `","data":{"userId":"` + u3 + `"}}`
		if authevents.ProtectedType(typ) != "" {
			text = `{"type":"` + typ + `","data":{"email":"` + u3Addrs[0] + `","newEmail":"` + u3Addrs[1] + `","name":"` + u3Name + `","userAgent":"` + u3Agent + `"}}`
		}
		e.Stream = append(e.Stream, StreamMsg{MsgID: id, ID: id, Type: typ, UserID: u3, SessionID: session, Mails: mails, Time: at, Text: text})
		e.Audit[id]++
		e.Analytics[typ]++
		for _, kind := range mails {
			e.Emails[mailKey(id, kind)] = []time.Time{at.Add(-time.Second)}
		}
		if typ != "user.email_change_requested" { // no truth needed for all
			e.Truth = append(e.Truth, load.Truth{Type: typ, UserID: u3})
		}
	}
	add("user.registered", "", email.KindWelcome)
	add("user.email_change_requested", "", email.KindEmailChangeVerify, email.KindEmailChangeNotice)
	add("user.logged_out", "s-u3")
	add("user.deleted", "", email.KindAccountDeleted)
	e.Emails[mailKey(e.Stream[len(e.Stream)-1].ID, email.KindAccountDeleted)] = []time.Time{at.Add(time.Second)}
	e.Deletions = []load.Deletion{{At: at, Status: 204, UserID: u3, Emails: u3Addrs, Name: u3Name, UserAgent: u3Agent}}
	e.Rows = []TableRow{{"audit_log", "(17," + u3 + ",user.registered_v2,pd1.AAAA)"}}
	e.RowsScanned, e.ControlRows = 40, 12
	e.Keys = map[string]bool{u3: true, personal.FarewellOwner(uuid.MustParse(u3)).String(): true}
	return e
}

// TestJudgeErasure: once a user is deleted, none of the address, name or
// user agent the load gave it is in a table, in a version 2 message of the
// stream or the DLQ, or (with version 2 alone) in any message; its key is
// a tombstone, the farewell key is gone once the goodbye mail went, and
// no mail of its events goes after the deletion. A mail the deletion
// overtook is not sent, by design.
func TestJudgeErasure(t *testing.T) {
	dlq := func(e *Evidence, subject, text string) {
		e.DLQ = append(e.DLQ, StreamMsg{ID: uuid.NewString(), Type: strings.TrimPrefix(subject, "auth."), Subject: subject, Text: text})
	}
	for _, mode := range []Events{EventsDual, EventsV2} {
		t.Run(string(mode), func(t *testing.T) {
			clean := func() Evidence { return keyed(withDeletion(evidence()), mode) }
			v := Judge(clean())
			checkVerdict(t, v, nil)
			if r := row(t, v, rowDeleted); !strings.HasPrefix(r.Value, "1 (1 asked, 1 answered 204)") {
				t.Errorf("%s = %s, want 1 deletion", rowDeleted, r.Value)
			}
			if r := row(t, v, rowReappears); !strings.HasPrefix(r.Value, "0 of 1 (40 rows") {
				t.Errorf("%s = %s", rowReappears, r.Value)
			}
			for _, c := range []judgeCase{
				{"its address in a table", func(e *Evidence) {
					e.Rows = append(e.Rows, TableRow{"security_alerts", `(3,new_ip,` + u3Addrs[0] + `)`})
				}, []string{rowReappears}},
				{"the address it moved to in a table", func(e *Evidence) {
					e.Rows = append(e.Rows, TableRow{"one_time_tokens", `(` + u3Addrs[1] + `)`})
				}, []string{rowReappears}},
				{"its name in a version 2 message", func(e *Evidence) {
					_, v2 := twins(e, u3, "user.registered")
					v2.Text += `"name":"` + u3Name + `"`
				}, []string{rowReappears}},
				{"its user agent in a dead letter of version 2", func(e *Evidence) {
					dlq(e, "auth.user.logged_in_v2", `{"userAgent":"`+u3Agent+`"}`)
				}, []string{rowReappears}},
				// The version 1 copies hold it by design in the dual period.
				{"its address in a dead letter of version 1", func(e *Evidence) {
					dlq(e, "auth.user.logged_in", `{"email":"`+u3Addrs[0]+`"}`)
				}, map[Events][]string{EventsV2: {rowReappears}}[mode]},
				{"another user's data", func(e *Evidence) {
					e.Rows = append(e.Rows, TableRow{"users", "(u2-1-run@load.example.com,Load Tester u2-1-run)"})
				}, nil},
				{"its key alive", func(e *Evidence) { e.Keys[u3] = false }, []string{rowTombstone}},
				{"its key never made", func(e *Evidence) { delete(e.Keys, u3) }, []string{rowTombstone}},
				{"the farewell key alive", func(e *Evidence) {
					e.Keys[personal.FarewellOwner(uuid.MustParse(u3)).String()] = false
				}, []string{rowFarewell}},
				{"a mail of its events after the deletion", func(e *Evidence) {
					_, v2 := twins(e, u3, "user.registered")
					e.Emails[mailKey(v2.ID, email.KindWelcome)] = []time.Time{e.Start.Add(11 * time.Second)}
				}, []string{rowLateMail}},
				{"a mail the deletion overtook", func(e *Evidence) {
					_, v2 := twins(e, u3, "user.email_change_requested")
					delete(e.Emails, mailKey(v2.ID, email.KindEmailChangeNotice))
				}, nil},
				{"the goodbye mail missing", func(e *Evidence) {
					_, v2 := twins(e, u3, "user.deleted")
					delete(e.Emails, mailKey(v2.ID, email.KindAccountDeleted))
				}, []string{rowEmailsMissing}},
				{"a deletion the load did not ask for", func(e *Evidence) { e.Deletions = nil },
					map[Events][]string{EventsDual: {rowDeleted, rowControlV1}, EventsV2: {rowDeleted}}[mode]},
				{"version 1 copies that hold nothing", func(e *Evidence) {
					for i := range e.Stream {
						e.Stream[i].Text = "{}"
					}
				}, map[Events][]string{EventsDual: {rowControlV1}}[mode]},
				{"a table scan that reads nothing", func(e *Evidence) { e.Rows, e.ControlRows = nil, 0 }, []string{rowControlRows}},
			} {
				t.Run(c.name, func(t *testing.T) {
					e := clean()
					c.change(&e)
					v := Judge(e)
					checkVerdict(t, v, c.want)
					if c.name == "a mail the deletion overtook" && !slices.Contains(names(v, false), "  not sent: their user was deleted first (by design)") {
						t.Errorf("no row counts the mail not sent")
					}
				})
			}
		})
	}
}
