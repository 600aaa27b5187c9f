package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestUsersCommands: authctl users show|disable|enable|delete find a user
// by id or address and change it through the account use cases: each
// change is its event in the outbox, disabling stops the user's tokens at
// once (the denylist authctl writes is the API's), a change that changes
// nothing says so, and show never prints the password hash.
func TestUsersCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := accounttest.New(t, accounttest.Options{})
	const email = "operated@example.com"
	res, err := api.Service.Register(ctx, account.RegisterInput{Email: email, Password: "correct horse battery staple", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.User.ID.String()
	env := map[string]string{"DATABASE_URL": api.Pool.Config().ConnString(), "REDIS_URL": redistest.URL(), "REDIS_KEY_PREFIX": api.Prefix,
		"SERVICE_NAME": "auth-service", "APP_ENV": "test"}

	show, err := runCLI(t, env, "users", "show", "Operated@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "users show", show, "{createdAt:s,disabledAt:null,email:s,emailVerifiedAt:null,id:s,lastLoginAt:null,liveSessions:n,name:s}")
	if show["id"] != id || show["liveSessions"] != float64(1) {
		t.Errorf("users show = %v", show)
	}
	text := runText(t, env, "users", "show", id)
	if !strings.Contains(text, email) || !strings.Contains(text, "disabled") || strings.Contains(text, "argon2") {
		t.Errorf("users show text:\n%s", text)
	}

	dis, err := runCLI(t, env, "users", "disable", id)
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "users disable", dis, "{changed:b,sessionsEnded:n,userId:s}")
	if dis["changed"] != true || dis["sessionsEnded"] != float64(1) {
		t.Errorf("users disable = %v", dis)
	}
	if _, err := api.Service.Authenticate(ctx, res.AccessToken); !errors.Is(err, authevents.ErrUnauthorized) {
		t.Errorf("the access token of a user authctl disabled: %v, want refused", err)
	}
	_, err = api.Service.Login(ctx, account.LoginInput{Email: email, Password: "correct horse battery staple"})
	if !errors.Is(err, authevents.ErrAccountDisabled) {
		t.Errorf("login of a disabled user = %v", err)
	}
	if again, err := runCLI(t, env, "users", "disable", email); err != nil || again["changed"] != false {
		t.Errorf("users disable again = %v, %v; want changed false", again, err)
	}
	if text := runText(t, env, "users", "disable", email); !strings.Contains(text, "already disabled") {
		t.Errorf("users disable of a disabled user printed %q", text)
	}
	if show, _ := runCLI(t, env, "users", "show", id); show["disabledAt"] == nil || show["liveSessions"] != float64(0) {
		t.Errorf("users show after disable = %v", show)
	}
	if en, err := runCLI(t, env, "users", "enable", id); err != nil || en["changed"] != true {
		t.Errorf("users enable = %v, %v", en, err)
	}
	if text := runText(t, env, "users", "delete", id); !strings.Contains(text, "deleted user "+id) {
		t.Errorf("users delete printed %q", text)
	}
	if _, err := runCLI(t, env, "users", "show", id); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("users show of a deleted user = %v, want no user", err)
	}
	for _, typ := range []string{authevents.EventUserDisabled, authevents.EventUserEnabled, authevents.EventUserDeleted} {
		rows := outboxtest.RequireCount(t, api.Pool, typ, 1)
		if d := rows[0].DataMap(t); d["by"] != "operator" || d["userId"] != id {
			t.Errorf("%s = %v", typ, d)
		}
	}
	for _, args := range [][]string{{"users", "show"}, {"users", "delete", id, "another"}} {
		var ue usageError
		if _, err := runCLI(t, env, args...); !errors.As(err, &ue) {
			t.Errorf("authctl %v = %v, want a usage error", args, err)
		}
	}
}
