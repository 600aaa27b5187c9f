package email

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/token"
)

// Types are the event types the email service writes mails for.
func Types() []string {
	return []string{authevents.EventUserRegistered, authevents.EventEmailVerificationRequested,
		authevents.EventRegistrationAttempted, authevents.EventPasswordResetRequested, authevents.EventPasswordChanged,
		authevents.EventEmailChangeRequested, authevents.EventEmailChanged, authevents.EventUserDeleted}
}

// Kinds returns the kinds of mail an event calls for, in the order they
// are sent, without opening its link: what a reader of the stream (the
// chaos verdict) expects at the mail server, each kind once, with the
// Message-ID of Key(ev.EventID, kind). A link that expired before the
// email service got to it is the one exception: its mail is not sent.
// Kinds and mails agree (TestKindsAreTheMailsSent).
//
// Both versions of a type call for the same mails (the service mails the
// one it reads, consumer.Versioned); Kinds reads nothing protected.
func Kinds(ev *consumer.Event) ([]string, error) {
	switch ev.Base {
	case authevents.EventUserRegistered:
		return []string{KindWelcome}, nil
	case authevents.EventEmailVerificationRequested:
		return []string{KindVerify}, nil
	case authevents.EventRegistrationAttempted:
		return []string{KindRegistrationAttempt}, nil
	case authevents.EventPasswordResetRequested:
		return []string{KindReset}, nil
	case authevents.EventPasswordChanged:
		return []string{KindPasswordChanged}, nil
	case authevents.EventEmailChangeRequested:
		var d struct {
			NewEmailTaken bool `json:"newEmailTaken"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, consumer.Permanent(fmt.Errorf("%s data: %w", ev.Type, err))
		}
		if d.NewEmailTaken {
			return []string{KindEmailChangeTaken, KindEmailChangeNotice}, nil
		}
		return []string{KindEmailChangeVerify, KindEmailChangeNotice}, nil
	case authevents.EventEmailChanged:
		return []string{KindEmailChanged}, nil
	}
	return nil, nil
}

// mails returns the mails an event calls for (none for other types), from
// its values as Decode gives them (a version 2 event's opened).
func (h *Handler) mails(ev *consumer.Event) ([]Mail, error) {
	switch ev.Base {
	case authevents.EventUserRegistered:
		var d authevents.UserRegistered
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		return compose(KindWelcome, d.Email, "Welcome to authevents", Content{Email: d.Email})
	case authevents.EventEmailVerificationRequested:
		var d authevents.UserEmailVerificationRequested
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		c := Content{Email: d.Email}
		if ok, err := h.link(ev, d.Link, d.Email, authevents.LinkVerifyEmail, &c); !ok || err != nil {
			return nil, err
		}
		return compose(KindVerify, d.Email, "Confirm your address", c)
	case authevents.EventRegistrationAttempted:
		var d authevents.UserRegistrationAttempted
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		return compose(KindRegistrationAttempt, d.Email, "Someone tried to sign up with your address", Content{Email: d.Email, IP: d.IP, When: time.Time(d.Timestamp)})
	case authevents.EventPasswordResetRequested:
		var d authevents.UserPasswordResetRequested
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		c := Content{Email: d.Email, IP: d.IP}
		if ok, err := h.link(ev, d.Link, d.Email, authevents.LinkResetPassword, &c); !ok || err != nil {
			return nil, err
		}
		return compose(KindReset, d.Email, "Reset your password", c)
	case authevents.EventPasswordChanged:
		var d authevents.UserPasswordChanged
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		return compose(KindPasswordChanged, d.Email, "Your password was changed", Content{Email: d.Email, IP: d.IP, Reason: d.Reason, When: time.Time(d.Timestamp)})
	case authevents.EventEmailChangeRequested:
		var d authevents.UserEmailChangeRequested
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		c := Content{Email: d.Email, NewEmail: d.NewEmail, IP: d.IP, When: time.Time(d.Timestamp)}
		// The current address gets its notice whether or not the new one
		// is taken: its owner learns of the request, and nothing of the
		// other address (found in review: only a free one gave a notice).
		notice, err := Compose(KindEmailChangeNotice, d.Email, "A change of your address was asked for", c)
		if err != nil {
			return nil, err
		}
		if d.NewEmailTaken {
			taken, err := Compose(KindEmailChangeTaken, d.NewEmail, "Someone tried to use your address", c)
			if err != nil {
				return nil, err
			}
			return []Mail{taken, notice}, nil
		}
		if d.Link == nil {
			return nil, consumer.Permanent(errors.New("user.email_change_requested without a link for a free address"))
		}
		ok, err := h.link(ev, *d.Link, d.NewEmail, authevents.LinkVerifyEmail, &c)
		if err != nil {
			return nil, err
		}
		if !ok {
			return []Mail{notice}, nil
		}
		verify, err := Compose(KindEmailChangeVerify, d.NewEmail, "Confirm your new address", c)
		if err != nil {
			return nil, err
		}
		return []Mail{verify, notice}, nil
	case authevents.EventEmailChanged:
		var d authevents.UserEmailChanged
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		return compose(KindEmailChanged, d.OldEmail, "The address of your account was changed", Content{Email: d.OldEmail, NewEmail: d.Email, When: time.Time(d.Timestamp)})
	case authevents.EventUserDeleted:
		var d authevents.UserDeleted
		if err := ev.Decode(&d); err != nil {
			return nil, err
		}
		return compose(KindAccountDeleted, d.Email, "Your account was deleted", Content{Email: d.Email, Reason: d.By, When: time.Time(d.Timestamp)})
	}
	return nil, nil
}

func compose(kind, to, subject string, c Content) ([]Mail, error) {
	if to == "" {
		return nil, consumer.Permanent(fmt.Errorf("%s mail without a recipient", kind))
	}
	m, err := Compose(kind, to, subject, c)
	if err != nil {
		return nil, consumer.Permanent(err)
	}
	return []Mail{m}, nil
}

// link opens a sealed link, to be mailed to, into c. It reports false, with
// no error, for a link that expired before it could be mailed: a dead link
// helps nobody.
func (h *Handler) link(ev *consumer.Event, l authevents.Link, to, path string, c *Content) (bool, error) {
	if h.opener == nil {
		return false, consumer.Permanent(errors.New("a sealed link, and no MAIL_SEAL_PRIVATE_KEY to open it"))
	}
	b := token.Binding{EventID: ev.EventID.String(), EventType: ev.Type, To: to, ExpiresAt: time.Time(l.ExpiresAt)}
	raw, err := h.opener.Open(b, l.SealedToken)
	if err != nil && ev.Version == 2 && ev.TwinID != "" {
		// personal.Protect copies the link of version 1 into version 2 as
		// it is: sealed for the twin (its id and type), to the same address.
		b.EventID, b.EventType = ev.TwinID, ev.Base
		raw, err = h.opener.Open(b, l.SealedToken)
	}
	if err != nil {
		return false, consumer.Permanent(err)
	}
	c.ExpiresAt = time.Time(l.ExpiresAt)
	if !c.ExpiresAt.After(time.Now()) {
		return false, nil
	}
	c.Link = LinkTo(h.links, path, raw)
	return true, nil
}
