package chaos

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer/email"
)

// mailKinds orders the per-kind rows: the kinds of consumer/email.
var mailKinds = []string{email.KindWelcome, email.KindVerify, email.KindRegistrationAttempt, email.KindReset,
	email.KindPasswordChanged, email.KindEmailChangeVerify, email.KindEmailChangeNotice, email.KindEmailChangeTaken,
	email.KindEmailChanged, email.KindAccountDeleted}

// mailCount is what one kind of mail came to.
type mailCount struct{ expected, arrived, dup, excused, erased int }

// expectedMail is a mail a change calls for: its kind, and the user the
// change is about ("" when it names none).
type expectedMail struct{ kind, user, eventType string }

// expectedMails returns the mails the changes in the stream call for, by
// the key of their Message-ID (email.Key of the id of the version the
// email service reads, and the kind).
func expectedMails(e Evidence) map[string]expectedMail {
	expected := map[string]expectedMail{}
	for _, m := range changes(e) {
		id, err := uuid.Parse(m.ID)
		for _, kind := range m.Mails {
			x := expectedMail{kind, m.UserID, m.Type}
			if err != nil {
				expected[m.ID+"/"+kind] = x // no key can match: missing
				continue
			}
			expected[email.Key(id, kind).String()] = x
		}
	}
	return expected
}

// deletedUsers returns the users a user.deleted in the stream names, with
// that event's time: the commit of the deletion, which erased the user's
// key, follows it.
func deletedUsers(e Evidence) map[string]time.Time {
	out := map[string]time.Time{}
	for _, m := range changes(e) {
		if _, ok := out[m.UserID]; m.Type == authevents.EventUserDeleted && m.UserID != "" && !ok {
			out[m.UserID] = m.Time
		}
	}
	return out
}

// checkMails: each mail an event in the stream calls for (StreamMsg.Mails)
// reached the SMTP sink exactly once, under the Message-ID of its key
// (email.Key of the event id and the kind), and no other mail arrived. A
// repeat is the SMTP boundary, counted apart, when a send record could be
// lost between the first send and the repeat. A mail of a deleted user
// (but the confirmation of the deletion) is not sent once the deletion
// erased the user's key, by design: missing, it is counted apart.
func checkMails(v *Verdict, e Evidence) {
	expected := expectedMails(e)
	deleted := deletedUsers(e)
	byKind := map[string]*mailCount{}
	var total mailCount
	var missing []string
	for key, x := range expected {
		kind := x.kind
		c := byKind[kind]
		if c == nil {
			c = &mailCount{}
			byKind[kind] = c
		}
		c.expected++
		times := e.Emails[key]
		if _, gone := deleted[x.user]; len(times) == 0 && gone && x.eventType != authevents.EventUserDeleted {
			c.erased++
			continue
		}
		if len(times) == 0 {
			missing = append(missing, kind+" "+key)
			continue
		}
		c.arrived++
		for _, again := range times[1:] {
			// The record follows the send: a loss just before the first
			// arrival counts too.
			if slices.ContainsFunc(e.SendRecordLosses, func(k time.Time) bool { return !k.Before(times[0].Add(-time.Second)) && k.Before(again) }) {
				c.excused++
			} else {
				c.dup++
			}
		}
	}
	unexpected := 0
	for key, times := range e.Emails {
		if _, ok := expected[key]; !ok {
			unexpected += len(times)
		}
	}
	for _, c := range byKind {
		total.expected += c.expected
		total.arrived += c.arrived
		total.dup += c.dup
		total.excused += c.excused
		total.erased += c.erased
	}
	lost := total.expected - total.arrived - total.erased
	v.add("e-mails missing", lost == 0, "0", "%d of %d expected", lost, total.expected)
	v.add("duplicate effects: e-mails", total.dup+unexpected == 0, "0", "%d (+%d at the SMTP boundary)", total.dup+unexpected, total.excused)
	for _, kind := range mailKinds {
		if c := byKind[kind]; c != nil {
			v.add(fmt.Sprintf("  %s: expected / arrived / duplicates", kind), true, "", "%d / %d / %d (+%d)", c.expected, c.arrived, c.dup, c.excused)
		}
	}
	if total.erased > 0 {
		v.add("  not sent: their user was deleted first (by design)", true, "", "%d", total.erased)
	}
	if unexpected > 0 {
		v.add("  e-mails no event called for", true, "", "%d", unexpected)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		v.Detail["missingMails"] = head(missing, 20)
	}
}
