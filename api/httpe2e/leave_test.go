package httpe2e_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
)

// TestDisabledUserIsRefusedEverywhere: once an operator disabled the
// account, the very next request of each kind is refused, over the real
// router and services: me and every bearer route 401, refresh 401, login
// with the right password 403 account_disabled (a wrong one the usual
// 401); enabled again, the user signs in.
func TestDisabledUserIsRefusedEverywhere(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "refused@example.com")
	bearer := []string{"Authorization", "Bearer " + reg.AccessToken}
	if r := f.do(t, "GET", "/auth/me", nil, bearer...); r.status != 200 {
		t.Fatalf("me before: %d %s", r.status, r.body)
	}
	id := uuid.MustParse(reg.User.ID)
	if _, err := f.Service.DisableUser(context.Background(), id, authevents.ByOperator); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.do(t, "GET", "/auth/me", nil, bearer...), 401, api.CodeUnauthorized)
	wantError(t, f.do(t, "GET", "/auth/account/export", nil, bearer...), 401, api.CodeUnauthorized)
	wantError(t, f.do(t, "DELETE", "/auth/account", map[string]string{"password": goodPassword}, bearer...), 401, api.CodeUnauthorized)
	wantError(t, f.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": reg.RefreshToken}), 401, api.CodeInvalidRefresh)
	wantError(t, f.login(t, "refused@example.com", goodPassword), 403, api.CodeAccountDisabled)
	wantError(t, f.login(t, "refused@example.com", "wrong "+goodPassword), 401, api.CodeInvalidCreds)

	if _, err := f.Service.EnableUser(context.Background(), id, authevents.ByOperator); err != nil {
		t.Fatal(err)
	}
	if r := f.login(t, "refused@example.com", goodPassword); r.status != 200 {
		t.Fatalf("login after enable: %d %s", r.status, r.body)
	}
}
