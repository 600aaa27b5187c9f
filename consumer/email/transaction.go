package email

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// transaction sends m on c as one mail transaction, in as few round
// trips as the server allows:
//   - with CHUNKING and PIPELINING (RFC 3030, RFC 2920), MAIL, RCPT and
//     BDAT with the whole message go out in one write: one round trip;
//   - with PIPELINING, MAIL, RCPT and DATA in one write, then the message
//     ended by the dot: two;
//   - otherwise each command after the reply to the one before.
//
// go-mail's Client.Send waits for each reply in turn and ends each mail
// with RSET, five round trips a mail, which were a third of the email
// service's CPU under load; go-mail's smtp.Client exports its
// textproto.Conn for clients that add extensions, and this uses it. No
// RSET follows: a server ends the transaction itself once it has
// answered the message (RFC 5321 4.1.1.4).
//
// A failure is a *smtpError naming the step; delivered tells that the
// server accepted the message (its reply to the message was 2xx).
func transaction(c *smtp.Client, m *mail.Msg, ext extensions) error {
	from, err := m.GetSender(false)
	if err != nil {
		return &smtpError{step: stepMessage, err: err}
	}
	rcpts, err := m.GetRecipients()
	if err != nil {
		return &smtpError{step: stepMessage, err: err}
	}
	for _, a := range append([]string{from}, rcpts...) {
		if strings.ContainsAny(a, "\r\n") {
			return &smtpError{step: stepMessage, err: errors.New("an address holds a line break")}
		}
	}
	mailCmd := "MAIL FROM:" + from
	if ext.eightBit {
		mailCmd += " BODY=8BITMIME"
	}
	if ext.utf8 {
		mailCmd += " SMTPUTF8"
	}
	cmds := make([]command, 0, len(rcpts)+2)
	cmds = append(cmds, command{mailCmd, 250, stepMail})
	for _, r := range rcpts {
		cmds = append(cmds, command{"RCPT TO:" + r, 25, stepRcpt})
	}
	t := c.Text
	if ext.chunking && ext.pipelining {
		var body bytes.Buffer
		if _, err := m.WriteTo(&body); err != nil {
			return &smtpError{step: stepMessage, err: err}
		}
		if !bytes.HasSuffix(body.Bytes(), []byte("\r\n")) {
			body.WriteString("\r\n") // as DATA's dot writer ends it
		}
		// The server reads and drops the chunk when it refuses BDAT (a
		// recipient refused), so the session stays in step either way.
		cmds = append(cmds, command{fmt.Sprintf("BDAT %d LAST", body.Len()), 250, stepEnd})
		return pipeline(t, cmds, body.Bytes())
	}
	cmds = append(cmds, command{"DATA", 354, stepData})
	if ext.pipelining {
		if err := pipeline(t, cmds, nil); err != nil {
			// A 354 after a refusal (a server that should have refused
			// DATA) leaves the server waiting for a message that must
			// not be sent: the caller drops the session, which ends it.
			return err
		}
	} else {
		for _, cmd := range cmds {
			if err := t.PrintfLine("%s", cmd.line); err != nil {
				return &smtpError{step: cmd.step, err: err}
			}
			if _, _, err := t.ReadResponse(cmd.code); err != nil {
				return &smtpError{step: cmd.step, err: err}
			}
		}
	}
	w := t.DotWriter()
	if _, err := m.WriteTo(w); err != nil {
		return &smtpError{step: stepData, err: err}
	}
	if err := w.Close(); err != nil {
		return &smtpError{step: stepData, err: err}
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return &smtpError{step: stepEnd, err: err}
	}
	return nil
}

// pipeline writes cmds (and after the last, chunk) in one flush, then
// reads a reply to each. It returns the first refusal, or an I/O error.
func pipeline(t *textproto.Conn, cmds []command, chunk []byte) error {
	for _, cmd := range cmds {
		t.W.WriteString(cmd.line)
		t.W.WriteString("\r\n")
	}
	t.W.Write(chunk)
	if err := t.W.Flush(); err != nil {
		return &smtpError{step: cmds[0].step, err: err}
	}
	var first error
	for _, cmd := range cmds {
		_, _, err := t.ReadResponse(cmd.code)
		var refused *textproto.Error
		switch {
		case err == nil:
		case errors.As(err, &refused):
			if first == nil {
				first = &smtpError{step: cmd.step, err: err}
			}
		default: // the session is broken: no more replies to read
			return cmp.Or(first, error(&smtpError{step: cmd.step, err: err}))
		}
	}
	return first
}

// command is one SMTP command and the reply code it wants (two digits:
// any of 25x).
type command struct {
	line string
	code int
	step step
}

// extensions are the ones of the server's EHLO reply a transaction uses.
type extensions struct {
	pipelining, chunking, eightBit, utf8 bool
}

func extensionsOf(c *smtp.Client) extensions {
	has := func(name string) bool { ok, _ := c.Extension(name); return ok }
	return extensions{pipelining: has("PIPELINING"), chunking: has("CHUNKING"), eightBit: has("8BITMIME"), utf8: has("SMTPUTF8")}
}

// without returns e less those in not.
func (e extensions) without(not extensions) extensions {
	return extensions{pipelining: e.pipelining && !not.pipelining, chunking: e.chunking && !not.chunking,
		eightBit: e.eightBit && !not.eightBit, utf8: e.utf8 && !not.utf8}
}

// step is where in a transaction it failed.
type step string

const (
	stepMessage step = "message"     // building it, before anything was sent
	stepMail    step = "MAIL FROM"   // the sender
	stepRcpt    step = "RCPT TO"     // a recipient
	stepData    step = "DATA"        // DATA, or writing the message
	stepEnd     step = "end of data" // the reply to the message
)

// smtpError is a failed transaction: the step, and the server's reply
// (a *textproto.Error) or an I/O error.
type smtpError struct {
	step step
	err  error
}

func (e *smtpError) Error() string { return "SMTP " + string(e.step) + ": " + e.err.Error() }
func (e *smtpError) Unwrap() error { return e.err }

// beforeTheMail tells a failure that came before the server took any
// part of the mail: at MAIL, its first command (a kept session the
// server had ended fails there), or before anything was written.
func beforeTheMail(err error) bool {
	var se *smtpError
	return errors.As(err, &se) && se.step == stepMail
}
