// Package mailbox reads the mails the email service sent, from the SMTP
// test sink or from the MAIL_DIR folder of `make run`, and finds the
// one-time link a mail carries. It is how tests, the chaos load and the
// load tools act as the owner of an address: they verify it, reset its
// password or confirm a new one by following the link, as a person would.
package mailbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// KindHeader names a mail's kind; consumer/email sets it (email.KindHeader).
const KindHeader = "X-Authevents-Kind"

// Mail is one parsed message.
type Mail struct {
	MessageID string // without the angle brackets
	Kind      string // verify, reset, email-change-verify…
	To        string // the recipient's address, lower-cased
	Subject   string
	Text      string // the decoded text/plain part
}

// Parse reads a message as the email service writes it.
func Parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	m := Mail{
		MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<> "),
		Kind:      msg.Header.Get(KindHeader),
		Subject:   subject,
	}
	if to, err := mail.ParseAddress(msg.Header.Get("To")); err == nil {
		m.To = strings.ToLower(to.Address)
	}
	m.Text, err = textPart(msg)
	return m, err
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+\?token=[A-Za-z0-9_%.~-]+`)

// Token returns the token of the one-time link in the text part, and the
// link's path (/verify-email, /reset-password…); ok is false when the mail
// carries no link.
func (m Mail) Token() (token, path string, ok bool) {
	l := linkRE.FindString(m.Text)
	if l == "" {
		return "", "", false
	}
	u, err := url.Parse(l)
	if err != nil {
		return "", "", false
	}
	return u.Query().Get("token"), u.Path, u.Query().Get("token") != ""
}

// A Source lists the mails received so far, oldest first where it can tell.
type Source interface {
	Mails() ([]Mail, error)
}

// Raw is a Source over raw messages: an SMTP sink's, for one.
type Raw func() [][]byte

// Mails parses each message; one that does not parse is skipped.
func (r Raw) Mails() ([]Mail, error) {
	var out []Mail
	for _, b := range r() {
		if m, err := Parse(b); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// Dir is a Source over a MAIL_DIR folder of .eml files. It parses each
// file once. One goroutine at a time may call Mails.
type Dir struct {
	Path string
	seen map[string]Mail
}

// Mails lists the folder's mails, in the order of their file times.
func (d *Dir) Mails() ([]Mail, error) {
	if d.seen == nil {
		d.seen = map[string]Mail{}
	}
	entries, err := os.ReadDir(d.Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	type dated struct {
		m  Mail
		at time.Time
	}
	var all []dated
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		m, ok := d.seen[e.Name()]
		if !ok {
			b, err := os.ReadFile(filepath.Join(d.Path, e.Name()))
			if err != nil {
				continue
			}
			if m, err = Parse(b); err != nil {
				continue
			}
			d.seen[e.Name()] = m
		}
		all = append(all, dated{m, info.ModTime()})
	}
	// Oldest first, so that a caller that wants the latest link takes
	// the last match.
	sort.SliceStable(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	out := make([]Mail, len(all))
	for i, a := range all {
		out[i] = a.m
	}
	return out, nil
}

// Wait polls src every 20 ms until a mail to the address, of the kind,
// that match accepts (nil: any) has arrived, and returns the latest such
// mail. It fails when ctx ends first.
func Wait(ctx context.Context, src Source, to, kind string, match func(Mail) bool) (Mail, error) {
	to = strings.ToLower(to)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		mails, err := src.Mails()
		if err != nil {
			return Mail{}, err
		}
		for i := len(mails) - 1; i >= 0; i-- {
			m := mails[i]
			if m.To == to && m.Kind == kind && (match == nil || match(m)) {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return Mail{}, fmt.Errorf("no %s mail to %s: %w", kind, to, ctx.Err())
		case <-tick.C:
		}
	}
}

// textPart returns the decoded text/plain part of a message.
func textPart(msg *mail.Message) (string, error) {
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return decode(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return "", fmt.Errorf("no text/plain part: %w", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case ct == "text/plain":
			return decode(p.Header.Get("Content-Transfer-Encoding"), p)
		case strings.HasPrefix(ct, "multipart/"):
			sub := &mail.Message{Header: mail.Header{"Content-Type": {p.Header.Get("Content-Type")}}, Body: p}
			return textPart(sub)
		}
	}
}

func decode(enc string, r io.Reader) (string, error) {
	switch strings.ToLower(enc) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
