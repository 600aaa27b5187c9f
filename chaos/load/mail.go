package load

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/authevents/authevents/internal/mailbox"
)

// inbox shares one reading of the mail source among the actors: it reads
// the source at most every pollEvery and files the mails by recipient, so
// that each actor's wait looks at its own few mails, not at every mail of
// the run.
type inbox struct {
	src mailbox.Source // nil: no mail is ever found

	mu     sync.Mutex
	polled time.Time
	byTo   map[string][]mailbox.Mail
	err    error
}

const pollEvery = 50 * time.Millisecond

func (in *inbox) refresh() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if time.Since(in.polled) < pollEvery {
		return
	}
	in.polled = time.Now()
	mails, err := in.src.Mails()
	in.err = err
	if err != nil {
		return
	}
	in.byTo = map[string][]mailbox.Mail{}
	for _, m := range mails {
		in.byTo[m.To] = append(in.byTo[m.To], m)
	}
}

// sourceFunc is a mailbox.Source of a function.
type sourceFunc func() ([]mailbox.Mail, error)

func (f sourceFunc) Mails() ([]mailbox.Mail, error) { return f() }

// to is the source of the mails to one address.
func (in *inbox) to(addr string) mailbox.Source {
	addr = strings.ToLower(addr)
	return sourceFunc(func() ([]mailbox.Mail, error) {
		in.refresh()
		in.mu.Lock()
		defer in.mu.Unlock()
		return append([]mailbox.Mail(nil), in.byTo[addr]...), in.err
	})
}

// seen returns the Message-IDs of the mails of kind to addr so far.
func (in *inbox) seen(addr, kind string) []string {
	if in.src == nil {
		return nil
	}
	mails, _ := in.to(addr).Mails()
	var ids []string
	for _, m := range mails {
		if m.Kind == kind {
			ids = append(ids, m.MessageID)
		}
	}
	return ids
}

// errNoMail: the run has no mail source.
var errNoMail = errors.New("load: no mail source (Config.Mail)")

// wait returns the token of the newest link of kind mailed to addr that
// skip does not name, waiting at most within.
func (in *inbox) wait(ctx context.Context, addr, kind string, skip map[string]bool, within time.Duration) (token, messageID string, err error) {
	if in.src == nil {
		return "", "", errNoMail
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	m, err := mailbox.Wait(ctx, in.to(addr), addr, kind, func(m mailbox.Mail) bool {
		_, _, ok := m.Token()
		return ok && !skip[m.MessageID]
	})
	if err != nil {
		return "", "", err
	}
	token, _, _ = m.Token()
	return token, m.MessageID, nil
}
