package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
)

// TestBodiesAreDecodedStrictly: each malformed body is a 4xx naming the
// problem, on every route that takes a body, and the use case is never
// called.
func TestBodiesAreDecodedStrictly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, contentType string
		status                  int
		code                    string
		fields                  map[string]string
	}{
		{"truncated", `{"email":"a@b.com"`, "", 400, api.CodeInvalidJSON, nil},
		{"string", `"hello"`, "", 400, api.CodeInvalidJSON, nil},
		{"text/plain", loginBody, "text/plain", 415, api.CodeUnsupportedMedia, nil},
		{"no content type", loginBody, "-", 415, api.CodeUnsupportedMedia, nil},
		{"form content type", loginBody, "application/x-www-form-urlencoded", 415, api.CodeUnsupportedMedia, nil},
		{"not JSON", `{"email":`, "", 400, api.CodeInvalidJSON, nil},
		{"empty body", "", "application/json", 400, api.CodeInvalidJSON, nil},
		{"two values", loginBody + loginBody, "", 400, api.CodeInvalidJSON, nil},
		{"array", `[1,2]`, "", 400, api.CodeInvalidJSON, nil},
		{"null", `null`, "", 400, api.CodeInvalidJSON, nil},
		{"number for a string", `{"email":"a@example.com","password":12345678}`, "", 400, api.CodeValidation,
			map[string]string{"password": "must be a string"}},
		{"too large", `{"email":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, "", 413, api.CodeTooLarge, nil},
	}
	for _, path := range []string{"/auth/login", "/auth/register", "/auth/refresh"} {
		for _, tc := range cases {
			if tc.fields != nil && path != "/auth/login" {
				continue // the field named is login's
			}
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				tr := newTransport(t, api.Config{})
				tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return result(true), nil }
				h := []string{}
				switch tc.contentType {
				case "-":
					h = append(h, "Content-Type", "")
				case "":
				default:
					h = append(h, "Content-Type", tc.contentType)
				}
				wantErr(t, tr.call(t, "POST", path, tc.body, h...), tc.status, tc.code, tc.fields)
				if calls := tr.fake.Calls(); len(calls) != 0 {
					t.Errorf("a refused body reached the use case: %v", calls)
				}
			})
		}
	}
	t.Run("charset parameter is accepted", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return result(true), nil }
		if r := tr.call(t, "POST", "/auth/login", loginBody, "Content-Type", "application/json; charset=utf-8"); r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

// TestEveryMistypedFieldIsNamed: the README promises that fields names
// every bad field; the decoder used to stop at the first wrong JSON type.
func TestEveryMistypedFieldIsNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, body string
		fields     map[string]string
	}{
		{"/auth/register", `{"email":"t@example.com","password":12345678,"name":["x"]}`,
			map[string]string{"password": "must be a string", "name": "must be a string"}},
		{"/auth/register", `{"email":false,"password":{},"name":1.5}`,
			map[string]string{"email": "must be a string", "password": "must be a string", "name": "must be a string"}},
		{"/auth/login", `{"email":7,"password":8}`,
			map[string]string{"email": "must be a string", "password": "must be a string"}},
		{"/auth/refresh", `{"refreshToken":["rt_x"]}`, map[string]string{"refreshToken": "must be a string"}},
		{"/auth/login", `{"email":"a@example.com","password":1,"password":"a fine password"}`, map[string]string{"password": "must be a string"}},
	} {
		tr := newTransport(t, api.Config{})
		wantErr(t, tr.call(t, "POST", tc.path, tc.body), 400, api.CodeValidation, tc.fields)
		if calls := tr.fake.Calls(); len(calls) != 0 {
			t.Errorf("%s %s reached the use case: %v", tc.path, tc.body, calls)
		}
	}
}
