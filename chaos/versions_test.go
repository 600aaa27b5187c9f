package chaos

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
)

// keyed returns the clean evidence e as a run with the personal data key
// in mode leaves it: each event with personal fields published as version
// 2 (and, in the dual period, as version 1 before it, the two naming each
// other); its audit row under the version 2 id, its mails keyed by it, its
// analytics count under the base type as before.
func keyed(e Evidence, mode Events) Evidence {
	e.Profile.Events = mode
	audit, emails := map[string]int{}, map[string][]time.Time{}
	var stream []StreamMsg
	for _, m := range e.Stream {
		m.Subject = authevents.Subject(m.Type)
		v2type := authevents.ProtectedType(m.Type)
		if v2type == "" {
			stream = append(stream, m)
			audit[m.ID] = e.Audit[m.ID]
			for _, kind := range m.Mails {
				emails[mailKey(m.ID, kind)] = e.Emails[mailKey(m.ID, kind)]
			}
			continue
		}
		v1, v2 := m, m
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(m.ID)).String()
		v1.TwinID = id
		v2.MsgID, v2.ID, v2.Type, v2.TwinID, v2.Subject = id, id, v2type, m.ID, authevents.Subject(v2type)
		v2.Text = `{"type":"` + v2type + `","data":{"email":"pd1.AAAA"}}`
		if mode == EventsDual {
			stream = append(stream, v1)
		}
		stream = append(stream, v2)
		audit[id] = e.Audit[m.ID]
		for _, kind := range m.Mails {
			emails[mailKey(id, kind)] = e.Emails[mailKey(m.ID, kind)]
		}
	}
	e.Stream, e.Audit, e.Emails = stream, audit, emails
	return e
}

// twins returns the two versions of the first event of type typ of user:
// version 1 (zero in a run of version 2 alone) and version 2.
func twins(e *Evidence, user, typ string) (v1, v2 *StreamMsg) {
	for i := range e.Stream {
		m := &e.Stream[i]
		if m.UserID != user {
			continue
		}
		if m.Type == typ && v1 == nil && v2 == nil {
			v1 = m
		}
		if m.Type == authevents.ProtectedType(typ) && v2 == nil {
			v2 = m
			if v1 == nil {
				v1 = &StreamMsg{}
			}
			return v1, v2
		}
	}
	panic("no " + typ + " of " + user)
}

// TestJudgeReadsTheVersionTheConsumersRead: with the key, an event and its
// twin are one change, whose effects are those of version 2: the
// verdict's counts stay exact, in the dual period and with version 2
// alone.
func TestJudgeReadsTheVersionTheConsumersRead(t *testing.T) {
	for _, mode := range []Events{EventsDual, EventsV2} {
		t.Run(string(mode), func(t *testing.T) {
			checkVerdict(t, Judge(keyed(evidence(), mode)), nil)
			for _, c := range []judgeCase{
				{"a version 2 lost", func(e *Evidence) {
					_, v2 := twins(e, "u2", "user.registered")
					delete(e.Audit, v2.ID)
					e.Analytics["user.registered"]--
					id := v2.ID
					e.Stream = slices.DeleteFunc(e.Stream, func(m StreamMsg) bool { return m.ID == id })
				}, map[Events][]string{EventsDual: {rowLost, rowVersions, rowDupEmails, rowOrder}, EventsV2: {rowLost, rowDupEmails, rowOrder}}[mode]},
				{"the audit row under version 1's id", func(e *Evidence) {
					_, v2 := twins(e, "u1", "user.registered")
					delete(e.Audit, v2.ID)
					e.Audit[v2.TwinID] = 1
				}, []string{rowAuditMissing, rowDupAudit}},
				{"a mail keyed by version 1's id", func(e *Evidence) {
					_, v2 := twins(e, "u1", "user.password_reset_requested")
					e.Emails[mailKey(v2.TwinID, "reset")] = e.Emails[mailKey(v2.ID, "reset")]
					delete(e.Emails, mailKey(v2.ID, "reset"))
				}, []string{rowEmailsMissing, rowDupEmails}},
				{"both versions counted", func(e *Evidence) { e.Analytics["user.registered"] += 2 }, []string{rowDupCounts}},
				{"the v2 twin names another event", func(e *Evidence) {
					_, v2 := twins(e, "u1", "user.email_changed")
					v2.TwinID = uuid.NewString()
				}, map[Events][]string{EventsDual: {rowVersions}}[mode]},
			} {
				t.Run(c.name, func(t *testing.T) {
					e := keyed(evidence(), mode)
					c.change(&e)
					checkVerdict(t, Judge(e), c.want)
				})
			}
		})
	}
	// Version 1 of a type with personal fields with version 2 alone, and
	// version 2 without the key, are events the mode does not publish.
	e := keyed(evidence(), EventsV2)
	v1 := e.Stream[0]
	v1.Type, v1.ID, v1.MsgID = "user.registered", uuid.NewString(), "x"
	e.Stream = append(e.Stream, v1)
	checkVerdict(t, Judge(e), []string{rowVersions})
	e = keyed(evidence(), EventsDual)
	e.Profile.Events = ""
	checkVerdict(t, Judge(e), []string{rowVersions, rowAuditMissing, rowDupAudit, rowEmailsMissing, rowDupEmails})
}
