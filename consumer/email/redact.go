package email

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/wneessen/go-mail"
)

// sendError keeps an SMTP server's text, which can name the recipient,
// out of the error's message (a dead letter's reason, a log line): the
// message says what failed, with the server's status code and its text
// with every address replaced by "[address]". The cause stays for
// errors.Is and errors.As.
type sendError struct {
	err error
	to  string
}

func (e sendError) Error() string {
	if errors.Is(e.err, context.DeadlineExceeded) || errors.Is(e.err, context.Canceled) {
		return "SMTP delivery timed out"
	}
	var what, text string
	var code int
	var te *textproto.Error
	var tx *smtpError
	var se *mail.SendError // from go-mail's dial: EHLO, STARTTLS, AUTH
	switch {
	case errors.As(e.err, &tx) && errors.As(tx.err, &te):
		what, code, text = string(tx.step)+" refused", te.Code, te.Msg
	case errors.As(e.err, &tx):
		what = string(tx.step) + " failed"
	case errors.As(e.err, &se):
		what, code = se.Reason.String(), se.ErrorCode()
		// go-mail's own text repeats the recipients and the Message-ID
		// after the server's words; the server's words come first.
		text, _, _ = strings.Cut(se.Error(), ", affected recipient(s): ")
		text, _, _ = strings.Cut(text, ", affected message ID: ")
		text = strings.TrimPrefix(strings.TrimPrefix(text, se.Reason.String()), ":")
	default:
		return "SMTP delivery failed"
	}
	msg := "SMTP delivery failed: " + what
	if code != 0 {
		msg += fmt.Sprintf(" (%d", code)
		if esc := enhancedCode.FindString(text); esc != "" {
			msg += " " + esc
		}
		msg += ")"
	}
	if text = strings.TrimSpace(redactAddresses(text, e.to)); text != "" {
		msg += ": " + text
	}
	return msg
}

// enhancedCode is an RFC 3463 status code in a server's reply.
var enhancedCode = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

func (e sendError) Unwrap() error { return e.err }

func redactSendError(err error, to string) error { return sendError{err: err, to: to} }

var (
	bracketed = regexp.MustCompile(`<[^<>]*>`)
	address   = regexp.MustCompile(`[^\s<>()\[\]{},;:"'` + "`" + `]+@[^\s<>()\[\]{},;:"'` + "`" + `]*`)
)

// redactAddresses replaces in s every address by "[address]": whatever
// stands in angle brackets, anything shaped like local@domain, and the
// recipient to and its local part wherever they appear (a server may
// name "user ada unknown"), case-insensitively.
func redactAddresses(s, to string) string {
	s = bracketed.ReplaceAllString(s, "[address]")
	s = address.ReplaceAllString(s, "[address]")
	local, _, _ := strings.Cut(to, "@")
	for _, v := range []string{to, local} {
		if len(v) < 3 { // a one- or two-letter local part would blank common words
			continue
		}
		s = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(v)).ReplaceAllString(s, "[address]")
	}
	return s
}
