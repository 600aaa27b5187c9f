package account

// Differences between the README and the answers, found by trying the API
// as a new user would (issue 12). Each test failed before its fix.

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMissingRegisterFieldsAreRequired: {} used to answer
// "password: must be at least 8 characters" for a password never sent.
func TestMissingRegisterFieldsAreRequired(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   RegisterInput
		want map[string]string
	}{
		{RegisterInput{}, map[string]string{"email": "is required", "password": "is required", "name": "is required"}},
		{RegisterInput{Email: "a@example.com", Name: "A"}, map[string]string{"password": "is required"}},
		{RegisterInput{Email: "a@example.com", Name: "A", Password: "short"}, map[string]string{"password": "must be at least 8 characters"}},
		{RegisterInput{Email: "a@-example.com", Name: " ", Password: "password"},
			map[string]string{"email": "must be a valid email address", "name": "is required", "password": "is too common; choose a less guessable password"}},
	} {
		_, _, err := checkRegister(tc.in)
		var got map[string]string
		if err != nil {
			got = err.Fields
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("checkRegister(%+v) fields (-want +got):\n%s", tc.in, d)
		}
	}
}

// TestEmailDomainsAreHostnames: an IP literal or a label that starts or
// ends with a hyphen is not a deliverable domain; both used to be
// accepted and got welcome emails.
func TestEmailDomainsAreHostnames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a@-example.com", false},
		{"a@example-.com", false},
		{"a@mail.-example.com", false},
		{"a@mail.example.com-", false},
		{"a@x.-", false},
		{"x@[127.0.0.1]", false},
		{"x@[IPv6:::1]", false},
		{"x@127.0.0.1", false},   // a dotted-quad "domain" is an address too
		{"x@example.123", false}, // the top-level label is never all digits
		{"a@ex-ample.com", true},
		{"a@xn--bcher-kva.example", true}, // punycode keeps inner hyphens
		{"a@3com.com", true},
		{"a@münchen.de", true},
	} {
		got, why := NormalizeEmail(tc.in)
		if (why == "") != tc.ok {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want accepted=%v", tc.in, got, why, tc.ok)
		}
	}
	if _, why := NormalizeEmail("a@" + strings.Repeat("b", 64) + ".com"); why == "" {
		t.Error("a 64-character label was accepted (at most 63)")
	}
}
