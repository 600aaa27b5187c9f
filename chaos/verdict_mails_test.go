package chaos

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents/consumer/email"
)

// mailKey is the local part of the Message-ID of the mail of kind for
// the event id.
func mailKey(id, kind string) string { return email.Key(uuid.MustParse(id), kind).String() }

// msg returns the first stream message of type typ of the user.
func msg(e *Evidence, user, typ string) StreamMsg {
	for _, m := range e.Stream {
		if m.UserID == user && m.Type == typ {
			return m
		}
	}
	panic("no " + typ + " of " + user)
}

// TestJudgeMails: every mail an event in the stream calls for arrives
// once, whatever its kind; a repeat after a lost send record is excused.
func TestJudgeMails(t *testing.T) {
	judgeCases(t, []judgeCase{
		{"a lifecycle mail twice around a consumer kill", func(e *Evidence) {
			k := mailKey(msg(e, "u1", "user.email_change_requested").ID, email.KindEmailChangeNotice)
			e.Emails[k] = append(e.Emails[k], e.Start.Add(time.Second))
			e.SendRecordLosses = []time.Time{e.Start.Add(500 * time.Millisecond)}
		}, nil},
		{"a verification mail missing", func(e *Evidence) {
			delete(e.Emails, mailKey(msg(e, "u1", "user.email_verification_requested").ID, email.KindVerify))
		}, []string{rowEmailsMissing}},
		{"a reset mail missing", func(e *Evidence) {
			delete(e.Emails, mailKey(msg(e, "u1", "user.password_reset_requested").ID, email.KindReset))
		}, []string{rowEmailsMissing}},
		// An email change calls for two mails: the one to the old
		// address alone is not enough.
		{"the new address's link missing", func(e *Evidence) {
			delete(e.Emails, mailKey(msg(e, "u1", "user.email_change_requested").ID, email.KindEmailChangeVerify))
		}, []string{rowEmailsMissing}},
		{"the old address's notice twice", func(e *Evidence) {
			k := mailKey(msg(e, "u1", "user.email_change_requested").ID, email.KindEmailChangeNotice)
			e.Emails[k] = append(e.Emails[k], e.Start.Add(time.Second))
		}, []string{rowDupEmails}},
		// One of two password changes mailed twice and the other not
		// at all: as many mails of the kind as events, and still wrong.
		{"one notice twice, the other missing", func(e *Evidence) {
			var ids []string
			for _, m := range e.Stream {
				if m.Type == "user.password_changed" {
					ids = append(ids, m.ID)
				}
			}
			k := mailKey(ids[0], email.KindPasswordChanged)
			e.Emails[k] = append(e.Emails[k], e.Start.Add(time.Second))
			delete(e.Emails, mailKey(ids[1], email.KindPasswordChanged))
		}, []string{rowEmailsMissing, rowDupEmails}},
		// A mail keyed as the wrong kind of its event (the welcome key
		// for a verification link) is not the mail the event called for.
		{"a mail under another kind's key", func(e *Evidence) {
			id := msg(e, "u1", "user.email_verification_requested").ID
			e.Emails[mailKey(id, email.KindWelcome)] = e.Emails[mailKey(id, email.KindVerify)]
			delete(e.Emails, mailKey(id, email.KindVerify))
		}, []string{rowEmailsMissing, rowDupEmails}},
		{"a mail no event called for", func(e *Evidence) {
			e.Emails[mailKey(msg(e, "u1", "user.email_verified").ID, email.KindWelcome)] = []time.Time{e.Start}
		}, []string{rowDupEmails}},
	})
}
