package account_test

import (
	"context"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
	"github.com/authevents/authevents/token/tokentest"
)

// lifecycle is a fixture whose service seals links to a key the test
// holds, as the email service would, in the given verification mode.
type lifecycle struct {
	*fixture
	opener *token.Opener
}

func setupLifecycle(t *testing.T, required bool, opts ...func(*accounttest.Options)) *lifecycle {
	t.Helper()
	sealer, opener := tokentest.SealPair(t)
	cfg := accounttest.Config()
	cfg.VerificationRequired = required
	all := append([]func(*accounttest.Options){func(o *accounttest.Options) {
		o.Config = &cfg
		o.Account = append(o.Account, account.WithSealer(sealer))
	}}, opts...)
	return &lifecycle{fixture: setup(t, all...), opener: opener}
}

// link opens the sealed token of the newest event of eventType, as the
// email service does; "" when that event carries no link.
func (l *lifecycle) link(t *testing.T, eventType string) string {
	t.Helper()
	rows := outboxtest.Events(t, l.Pool, eventType)
	if len(rows) == 0 {
		t.Fatalf("no %s event", eventType)
	}
	return accounttest.OpenLink(t, rows[len(rows)-1], l.opener)
}

// registerVerified registers email in either mode and verifies it.
func (l *lifecycle) registerVerified(t *testing.T, email string) {
	t.Helper()
	l.register(t, email)
	if err := l.Service.VerifyEmail(context.Background(), l.link(t, authevents.EventEmailVerificationRequested)); err != nil {
		t.Fatalf("verify %s: %v", email, err)
	}
}
