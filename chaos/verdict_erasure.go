package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/chaos/load"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/personal"
)

// TableRow is a row of a table, as text (PostgreSQL's record text: every
// column, text and jsonb included).
type TableRow struct{ Table, Text string }

// Needles returns what is looked for once the users of ds are deleted:
// every address, the name and the user agent the load gave each. The IP
// is not among them: every request of the load comes from one address.
func Needles(ds []load.Deletion) []string {
	var out []string
	for _, d := range ds {
		out = append(out, slices.Collect(maps.Keys(needlesOf(d)))...)
	}
	slices.Sort(out)
	return out
}

// needlesOf maps the needles of one deleted user to their names in the
// report (a needle is personal data: the report names it, never prints it).
func needlesOf(d load.Deletion) map[string]string {
	n := map[string]string{}
	for _, a := range d.Emails {
		n[a] = "address"
	}
	if d.Name != "" {
		n[d.Name] = "name"
	}
	if d.UserAgent != "" {
		n[d.UserAgent] = "user agent"
	}
	return n
}

// scanned reports whether a message of the stream or the DLQ must hold no
// deleted user's data: every message when version 2 is published alone;
// in the dual period (and without the key) version 2 only, since the
// version 1 copies hold the clear values by design until the stream's max
// age (docs/privacy.md).
func scanned(mode Events, m StreamMsg) bool {
	return mode == EventsV2 || strings.HasSuffix(m.Subject, "_v2")
}

// checkErasure: once the run drained, no deleted user's address, name or
// user agent is in any row of any table, nor in the messages of the stream
// and the DLQ that must hold none (scanned); the user's key is a tombstone,
// the farewell key is erased once the goodbye mail went, and no mail of
// the user's events was sent after the deletion erased the key.
func checkErasure(v *Verdict, e Evidence) {
	deleted := deletedUsers(e)
	expected := expectedMails(e)
	records := map[string]load.Deletion{}
	answered := 0
	for _, d := range e.Deletions {
		if d.Status == 204 {
			answered++
		}
		if d.UserID != "" {
			records[d.UserID] = d
		}
	}
	var findings []string
	reappear, unknown, live, farewells, late := 0, 0, 0, 0, 0
	var msgs, dead int
	for _, m := range e.Stream {
		if scanned(e.Profile.Events, m) {
			msgs++
		}
	}
	for _, m := range e.DLQ {
		if scanned(e.Profile.Events, m) {
			dead++
		}
	}
	goodbye := map[string]bool{} // the user's confirmation reached the sink
	for key, x := range expected {
		if x.kind == email.KindAccountDeleted && len(e.Emails[key]) > 0 {
			goodbye[x.user] = true
		}
	}
	for _, user := range sortedUsers(deleted) {
		d, ok := records[user]
		if !ok {
			unknown++ // no needles: the load did not ask for it
			findings = append(findings, user+": deleted, and the load never asked")
			continue
		}
		found := scanFor(e, needlesOf(d), false)
		if len(found) > 0 {
			reappear++
			for _, f := range found {
				findings = append(findings, user+": "+f)
			}
		}
		if !e.Keys[user] {
			live++
		}
		if e.Profile.Events.keyed() && goodbye[user] && !e.Keys[personal.FarewellOwner(uuid.MustParse(user)).String()] {
			farewells++
		}
	}
	for key, x := range expected {
		at, gone := deleted[x.user]
		if !gone || x.eventType == authevents.EventUserDeleted {
			continue
		}
		// The envelope's time has millisecond precision.
		for _, t := range e.Emails[key] {
			if t.After(at.Add(time.Millisecond)) {
				late++
			}
		}
	}
	v.add("accounts deleted (user.deleted in the stream)", unknown == 0 && (answered == 0 || len(deleted) > 0), "> 0",
		"%d (%d asked, %d answered 204)", len(deleted), len(e.Deletions), answered)
	v.add("deleted users whose data reappears", reappear == 0, "0", "%d of %d (%d rows, %d messages, %d dead letters scanned)",
		reappear, len(deleted), e.RowsScanned, msgs, dead)
	v.add("  deleted users whose key is no tombstone", live == 0, "0", "%d", live)
	v.add("  farewell keys not erased after the goodbye mail", farewells == 0, "0", "%d", farewells)
	v.add("  mails of a deleted user's events sent after the deletion", late == 0, "0", "%d", late)
	// Controls: the scans find what is there. The table scan finds the
	// live users' addresses; in the dual period the version 1 copies,
	// which are not scanned, hold the deleted users' data by design.
	v.add("  control: rows holding an address of the load", len(deleted) == 0 || e.ControlRows > 0, "> 0", "%d", e.ControlRows)
	if e.Profile.Events != EventsV2 {
		copies := 0
		for _, user := range sortedUsers(deleted) {
			if d, ok := records[user]; ok && len(scanFor(e, needlesOf(d), true)) > 0 {
				copies++
			}
		}
		v.add("  control: deleted users in the version 1 copies (by design)", len(deleted) == 0 || copies > 0, "> 0", "%d of %d", copies, len(deleted))
	}
	if len(findings) > 0 {
		v.Detail["erasureFindings"] = head(findings, 20)
	}
}

// scanFor returns where the needles were found: "table t holds the
// address", "stream message auth.user.registered_v2 holds the name"; with
// unscanned, in the messages of the stream and the DLQ that are not
// scanned (and in no table) instead.
func scanFor(e Evidence, n map[string]string, unscanned bool) []string {
	var out []string
	look := func(where, text string) {
		for needle, name := range n {
			if strings.Contains(text, needle) {
				out = append(out, fmt.Sprintf("%s holds the %s", where, name))
			}
		}
	}
	if !unscanned {
		for _, r := range e.Rows {
			look("table "+r.Table, r.Text)
		}
	}
	for _, m := range e.Stream {
		if scanned(e.Profile.Events, m) != unscanned {
			look("stream message "+m.Subject, m.Text)
		}
	}
	for _, m := range e.DLQ {
		if scanned(e.Profile.Events, m) != unscanned {
			look("dead letter "+m.Subject, m.Text)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedUsers(m map[string]time.Time) []string {
	var out []string
	for u := range m {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}
