package chaos

import (
	"fmt"
	"sort"
	"strings"

	"github.com/authevents/authevents/chaos/load"
)

// checkDelivery: every event a 2xx answer promised is in the stream
// (exact matches of type, user and session first, then the events that
// name no session), and no event id is in it twice.
func checkDelivery(v *Verdict, e Evidence) {
	byID := map[string]int{}
	for _, m := range e.Stream {
		byID[m.MsgID]++
	}
	dups := 0
	for _, n := range byID {
		dups += n - 1
	}

	type key struct{ typ, user, session string }
	avail := map[key]int{}
	anySession := map[key]int{}
	events := changes(e)
	for _, m := range events {
		avail[key{m.Type, m.UserID, m.SessionID}]++
		anySession[key{m.Type, m.UserID, ""}]++
	}
	lost := 0
	var lostExamples []string
	var wild []load.Truth
	for _, t := range e.Truth {
		if t.SessionID == "" {
			wild = append(wild, t)
			continue
		}
		k := key{t.Type, t.UserID, t.SessionID}
		if avail[k] == 0 {
			lost++
			lostExamples = append(lostExamples, fmt.Sprintf("%s %s %s", t.Type, t.UserID, t.SessionID))
			continue
		}
		avail[k]--
		anySession[key{t.Type, t.UserID, ""}]--
	}
	for _, t := range wild {
		k := key{t.Type, t.UserID, ""}
		if anySession[k] <= 0 {
			lost++
			lostExamples = append(lostExamples, fmt.Sprintf("%s %s", t.Type, t.UserID))
			continue
		}
		anySession[k]--
	}
	v.add("events promised by a 2xx answer", true, "", "%d", len(e.Truth))
	v.add("distinct events in the stream (R3, ordered consumer)", true, "", "%d changes (%d events, %d messages)", len(events), len(distinct(e.Stream)), len(e.Stream))
	v.add("events lost", lost == 0, "0", "%d", lost)
	v.add("duplicate stream messages (one event id)", dups == 0, "0", "%d", dups)
	if len(lostExamples) > 0 {
		v.Detail["lost"] = head(lostExamples, 20)
	}
}

// checkEffects: each change in the stream has its audit row (under the id
// of the version read), its analytics count (under its base type) and each
// mail it calls for (checkMails), once.
func checkEffects(v *Verdict, e Evidence) {
	auditMissing, auditDup := 0, 0
	typeCount := map[string]int{}
	seen := map[string]bool{}
	for _, m := range changes(e) {
		seen[m.ID] = true
		typeCount[m.Type]++
		if e.Audit[m.ID] == 0 {
			auditMissing++
		}
	}
	for id, n := range e.Audit {
		if n > 1 || !seen[id] {
			auditDup += n - 1
			if !seen[id] {
				auditDup++
			}
		}
	}
	analyticsDup, analyticsMissing := 0, 0
	for _, typ := range sortedKeys(typeCount, e.Analytics) {
		d := e.Analytics[typ] - typeCount[typ]
		if d > 0 {
			analyticsDup += d
		} else {
			analyticsMissing -= d
		}
	}
	v.add("audit rows missing", auditMissing == 0, "0", "%d", auditMissing)
	v.add("duplicate effects: audit rows", auditDup == 0, "0", "%d", auditDup)
	v.add("analytics counts missing", analyticsMissing == 0, "0", "%d", analyticsMissing)
	v.add("duplicate effects: analytics counts", analyticsDup == 0, "0", "%d", analyticsDup)
	checkMails(v, e)
}

// checkOrder: each user's promised events, in the order their answers
// came, appear in that order among the user's changes.
func checkOrder(v *Verdict, e Evidence) {
	streamSeq := map[string][]string{}
	for _, m := range changes(e) {
		if m.UserID == "" {
			continue
		}
		streamSeq[m.UserID] = append(streamSeq[m.UserID], m.Type+"/"+m.SessionID)
	}
	truthSeq := map[string][]load.Truth{}
	for _, t := range e.Truth {
		truthSeq[t.UserID] = append(truthSeq[t.UserID], t)
	}
	orderViolations := 0
	var orderExamples []string
	for user, ts := range truthSeq {
		if !subsequence(ts, streamSeq[user]) {
			orderViolations++
			orderExamples = append(orderExamples, user)
		}
	}
	v.add("per-user order violations (users)", orderViolations == 0, "0", "%d of %d users", orderViolations, len(truthSeq))
	if len(orderExamples) > 0 {
		v.Detail["orderViolations"] = head(orderExamples, 20)
		// The two sequences of the first few, to read the cause from
		// the report.
		seqs := map[string]map[string][]string{}
		for _, user := range head(orderExamples, 3) {
			var promised []string
			for _, t := range truthSeq[user] {
				promised = append(promised, t.Type+"/"+t.SessionID)
			}
			seqs[user] = map[string][]string{"promised": promised, "stream": streamSeq[user]}
		}
		v.Detail["orderViolationSequences"] = seqs
	}
}

// subsequence reports whether the promised events ts appear, in order,
// among the user's messages (type/session); an event that names no session
// matches any session.
func subsequence(ts []load.Truth, msgs []string) bool {
	j := 0
	for _, t := range ts {
		for ; j < len(msgs); j++ {
			typ, session, _ := strings.Cut(msgs[j], "/")
			if typ == t.Type && (t.SessionID == "" || t.SessionID == session) {
				break
			}
		}
		if j == len(msgs) {
			return false
		}
		j++
	}
	return true
}

func sortedKeys(a, b map[string]int) []string {
	var ks []string
	for k := range a {
		ks = append(ks, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}
