package email

import (
	"context"
	"errors"
	"fmt"
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
	var se *mail.SendError
	if !errors.As(e.err, &se) {
		return "SMTP delivery failed"
	}
	msg := "SMTP delivery failed: " + se.Reason.String()
	if code := se.ErrorCode(); code != 0 {
		msg += fmt.Sprintf(" (%d", code)
		if esc := se.EnhancedStatusCode(); esc != "" {
			msg += " " + esc
		}
		msg += ")"
	}
	// go-mail's own text repeats the recipients and the Message-ID after
	// the server's words; the server's words come first.
	text, _, _ := strings.Cut(se.Error(), ", affected recipient(s): ")
	text, _, _ = strings.Cut(text, ", affected message ID: ")
	text = strings.TrimPrefix(strings.TrimPrefix(text, se.Reason.String()), ":")
	if text = strings.TrimSpace(redactAddresses(text, e.to)); text != "" {
		msg += ": " + text
	}
	return msg
}

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
