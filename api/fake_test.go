package api_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/token"
)

// fakeAccounts stands in for account.Service behind the router, so the
// transport (status codes, error bodies, headers, decoding) is specified
// with no database, Redis or NATS. Each use case answers with its func
// field; an unset one fails loudly with a 500. The rules themselves are
// specified against real servers in package account.
type fakeAccounts struct {
	register     func(context.Context, account.RegisterInput) (*account.Result, error)
	login        func(context.Context, account.LoginInput) (*account.Result, error)
	refresh      func(context.Context, string, authevents.Client) (*account.Result, error)
	authenticate func(context.Context, string) (*token.Verified, error)
	me           func(context.Context, uuid.UUID) (*authevents.User, error)
	logout       func(context.Context, *token.Verified) error
	logoutAll    func(context.Context, *token.Verified) (int, error)
	sessions     func(context.Context, uuid.UUID) ([]authevents.Session, error)
	endSession   func(context.Context, *token.Verified, uuid.UUID) error
	export       func(context.Context, *token.Verified) (*authevents.Export, error)
	// lifecycle is every lifecycle use case: it sees the use case's name
	// and its string arguments, in order.
	lifecycle func(name string, args ...string) error

	mu    sync.Mutex
	calls []string
}

// The bearer token the fake accepts, and who it belongs to.
const goodAccess = "good-access-token"

var (
	fakeUser    = uuid.MustParse("0190a4c8-0000-7000-8000-000000000001")
	fakeSession = uuid.MustParse("0190a4c8-0000-7000-8000-000000000002")
	fakeJTI     = uuid.MustParse("0190a4c8-0000-7000-8000-000000000003")
)

func newFake() *fakeAccounts {
	return &fakeAccounts{
		authenticate: func(_ context.Context, raw string) (*token.Verified, error) {
			if raw != goodAccess {
				return nil, authevents.ErrUnauthorized
			}
			return &token.Verified{UserID: fakeUser, SessionID: fakeSession, ID: fakeJTI}, nil
		},
	}
}

// result is a successful register/login/refresh answer.
func result(withUser bool) *account.Result {
	r := &account.Result{AccessToken: "at", RefreshToken: "rt_x", ExpiresIn: 15 * time.Minute}
	if withUser {
		r.User = &authevents.User{ID: fakeUser, Email: "a@example.com", Name: "A",
			PasswordHash: "$argon2id$secret", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)}
	}
	return r
}

func (f *fakeAccounts) called(name string) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.mu.Unlock()
}

// Calls returns the use cases called so far, in order.
func (f *fakeAccounts) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func unset(name string) error { return fmt.Errorf("fake: %s not set", name) }

func (f *fakeAccounts) Register(ctx context.Context, in account.RegisterInput) (*account.Result, error) {
	f.called("Register")
	if f.register == nil {
		return nil, unset("Register")
	}
	return f.register(ctx, in)
}

func (f *fakeAccounts) Login(ctx context.Context, in account.LoginInput) (*account.Result, error) {
	f.called("Login")
	if f.login == nil {
		return nil, unset("Login")
	}
	return f.login(ctx, in)
}

func (f *fakeAccounts) Refresh(ctx context.Context, raw string, c authevents.Client) (*account.Result, error) {
	f.called("Refresh")
	if f.refresh == nil {
		return nil, unset("Refresh")
	}
	return f.refresh(ctx, raw, c)
}

func (f *fakeAccounts) Authenticate(ctx context.Context, raw string) (*token.Verified, error) {
	f.called("Authenticate")
	return f.authenticate(ctx, raw)
}

func (f *fakeAccounts) Me(ctx context.Context, id uuid.UUID) (*authevents.User, error) {
	f.called("Me")
	if f.me == nil {
		return nil, unset("Me")
	}
	return f.me(ctx, id)
}

func (f *fakeAccounts) Logout(ctx context.Context, v *token.Verified) error {
	f.called("Logout")
	if f.logout == nil {
		return unset("Logout")
	}
	return f.logout(ctx, v)
}

func (f *fakeAccounts) LogoutAll(ctx context.Context, v *token.Verified) (int, error) {
	f.called("LogoutAll")
	if f.logoutAll == nil {
		return 0, unset("LogoutAll")
	}
	return f.logoutAll(ctx, v)
}

func (f *fakeAccounts) Sessions(ctx context.Context, id uuid.UUID) ([]authevents.Session, error) {
	f.called("Sessions")
	if f.sessions == nil {
		return nil, unset("Sessions")
	}
	return f.sessions(ctx, id)
}

func (f *fakeAccounts) EndSession(ctx context.Context, v *token.Verified, id uuid.UUID) error {
	f.called("EndSession")
	if f.endSession == nil {
		return unset("EndSession")
	}
	return f.endSession(ctx, v, id)
}

func (f *fakeAccounts) JWKS() token.JWKS {
	f.called("JWKS")
	return token.JWKS{Keys: []token.JWK{{KeyType: "OKP", Curve: "Ed25519", X: "x", KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}}
}

func (f *fakeAccounts) life(name string, args ...string) error {
	f.called(name)
	if f.lifecycle == nil {
		return unset(name)
	}
	return f.lifecycle(name, args...)
}

func (f *fakeAccounts) VerifyEmail(_ context.Context, tok string) error {
	return f.life("VerifyEmail", tok)
}

func (f *fakeAccounts) ResendVerification(_ context.Context, email string, c authevents.Client) error {
	return f.life("ResendVerification", email, c.IP)
}

func (f *fakeAccounts) ForgotPassword(_ context.Context, email string, c authevents.Client) error {
	return f.life("ForgotPassword", email, c.IP)
}

func (f *fakeAccounts) ResetPassword(_ context.Context, tok, pw string, c authevents.Client) error {
	return f.life("ResetPassword", tok, pw, c.IP)
}

func (f *fakeAccounts) ChangePassword(_ context.Context, v *token.Verified, current, pw string, c authevents.Client) error {
	return f.life("ChangePassword", v.UserID.String(), current, pw, c.IP)
}

func (f *fakeAccounts) ChangeEmail(_ context.Context, v *token.Verified, email, pw string, c authevents.Client) error {
	return f.life("ChangeEmail", v.UserID.String(), email, pw, c.IP)
}

func (f *fakeAccounts) DeleteAccount(_ context.Context, v *token.Verified, pw string, c authevents.Client) error {
	return f.life("DeleteAccount", v.UserID.String(), pw, c.IP)
}

func (f *fakeAccounts) Export(ctx context.Context, v *token.Verified) (*authevents.Export, error) {
	f.called("Export")
	if f.export == nil {
		return nil, unset("Export")
	}
	return f.export(ctx, v)
}
