package email

import "errors"

// IgnoreExtensions makes s use neither CHUNKING (chunking true) nor
// PIPELINING (pipelining true) when a server offers them.
func IgnoreExtensions(s *SMTP, chunking, pipelining bool) {
	s.ignore = extensions{chunking: chunking, pipelining: pipelining}
}

// FailedStep is the step of the transaction err failed at ("MAIL FROM",
// "RCPT TO", "DATA", "end of data"), "" if err is no transaction's.
func FailedStep(err error) string {
	var se *smtpError
	if !errors.As(err, &se) {
		return ""
	}
	return string(se.step)
}

// Redact is the error a dead letter's reason would show for err.
func Redact(err error, to string) error { return redactSendError(err, to) }
