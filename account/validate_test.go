package account

import (
	"net"
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/authevents/authevents/password"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"user@example.com", "user@example.com"},
		{"  User@Example.COM \t", "user@example.com"},
		{"us\u200ber@exa\u200dmple.com", "user@example.com"},              // zero-width removed
		{"\ufeffuser@example.com", "user@example.com"},                    // BOM removed
		{"ｕｓｅｒ@ｅｘａｍｐｌｅ.ｃｏｍ", "user@example.com"},                          // fullwidth -> NFKC
		{"user+tag@example.co.uk", "user+tag@example.co.uk"},              // plus addressing kept
		{"Ünïcödé@example.com", "ünïcödé@example.com"},                    // internationalized local part
		{"user@example.com\r\nBcc: x@evil.test", ""},                      // header injection
		{"user@example.com\n", ""},                                        // trailing LF is still rejected
		{"user\u2028@example.com", ""},                                    // line separator
		{"", ""},                                                          //
		{"   ", ""},                                                       //
		{"no-at-sign", ""},                                                //
		{"@example.com", ""},                                              //
		{"user@", ""},                                                     //
		{"user@localhost", ""},                                            // no dot in domain
		{"user@.example.com", ""},                                         //
		{"user@example..com", ""},                                         //
		{"John <user@example.com>", ""},                                   // display name
		{"a b@example.com", ""},                                           //
		{"user@example.com, other@example.com", ""},                       //
		{strings.Repeat("a", 64) + "@" + labels(63, 63, 58) + ".com", ""}, // 255 bytes
		{"\xff@example.com", ""},                                          //
	} {
		got, why := NormalizeEmail(tc.in)
		if got != tc.want || (tc.want == "") != (why != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want %q", tc.in, got, why, tc.want)
		}
	}
	ok := strings.Repeat("a", 60) + "@" + labels(63, 63, 61) + ".com" // 254 bytes
	if got, why := NormalizeEmail(ok); got != ok {
		t.Errorf("NormalizeEmail(254-byte address) = %q, %q", got, why)
	}
}

// labels returns DNS labels of the given lengths joined by dots.
func labels(n ...int) string {
	var l []string
	for _, k := range n {
		l = append(l, strings.Repeat("b", k))
	}
	return strings.Join(l, ".")
}

func TestNormalizeName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Ada Lovelace", "Ada Lovelace"},
		{"  Ada  ", "Ada"},
		{"李小龍", "李小龍"},
		{strings.Repeat("é", 100), strings.Repeat("é", 100)},
		{strings.Repeat("é", 101), ""},
		{"", ""},
		{" \t\n ", ""},
		{"Ada\x00", ""},
		{"Ada\nLovelace", ""},
		{"Ada\x1b[31m", ""},
		{"evil\u202egnp.exe", ""}, // right-to-left override
		{"\xc3\x28", ""},
	} {
		got, why := NormalizeName(tc.in)
		if got != tc.want || (tc.want == "") != (why != "") {
			t.Errorf("NormalizeName(%q) = %q, %q; want %q", tc.in, got, why, tc.want)
		}
	}
}

// FuzzNormalizeEmail checks the invariants every accepted address keeps,
// whatever the input: idempotent, lower case, bounded, parseable, no line
// breaks or invisible characters.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"user@example.com", " U@E.COM ", "a\u200b@b.c", "ｕ@ｅ.ｃｏｍ", "a\r\n@b.c", "\"a b\"@c.d", "a@b@c.d", "x@[127.0.0.1]", "\u2126@k.com", "ß@straße.de", "İ@x.com",
		"a@-example.com", "a@example-.com", "x@[IPv6:::1]", "x@10.0.0.1", "a@b.-c", "a@ex_ample.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, why := NormalizeEmail(in)
		if why != "" {
			if got != "" {
				t.Fatalf("rejected %q but returned %q", in, got)
			}
			return
		}
		if len(got) > MaxEmailBytes || got == "" {
			t.Fatalf("accepted %q as %q (%d bytes)", in, got, len(got))
		}
		if strings.ContainsAny(got, "\r\n") || strings.IndexFunc(got, isForbidden) >= 0 || zeroWidth.Replace(got) != got {
			t.Fatalf("accepted %q with forbidden characters: %q", in, got)
		}
		if a, err := mail.ParseAddress(got); err != nil || a.Address != got {
			t.Fatalf("accepted %q as %q, which does not parse back", in, got)
		}
		if again, why := NormalizeEmail(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%s)", in, got, again, why)
		}
		domain := got[strings.LastIndexByte(got, '@')+1:]
		if strings.ContainsAny(domain, "[]:") || net.ParseIP(domain) != nil {
			t.Fatalf("accepted %q: the domain %q is an IP literal", in, domain)
		}
		for _, label := range strings.Split(domain, ".") {
			if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
				t.Fatalf("accepted %q: label %q of %q is not a host name label", in, label, domain)
			}
		}
	})
}

// FuzzEmailIPLiteralsAreRefused: no address whose domain is an IP
// address, bracketed or bare, v4 or v6, is ever accepted.
func FuzzEmailIPLiteralsAreRefused(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, "x")
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "ada")
	f.Fuzz(func(t *testing.T, ip []byte, local string) {
		if len(ip) != 4 && len(ip) != 16 {
			return
		}
		addr := net.IP(ip).String()
		for _, domain := range []string{addr, "[" + addr + "]", "[IPv6:" + addr + "]"} {
			if got, why := NormalizeEmail(local + "@" + domain); why == "" {
				t.Fatalf("accepted %q", got)
			}
		}
	})
}

// FuzzEmailHyphenEdgedLabelsAreRefused: a domain with a label that starts
// or ends with a hyphen is never accepted, wherever the label stands.
func FuzzEmailHyphenEdgedLabelsAreRefused(f *testing.F) {
	f.Add("example", "com", uint8(0))
	f.Add("mail.example", "co.uk", uint8(3))
	f.Fuzz(func(t *testing.T, name, tld string, where uint8) {
		labels := strings.Split(name+"."+tld, ".")
		i := int(where) % len(labels)
		for _, bad := range []string{"-" + labels[i], labels[i] + "-"} {
			l := append([]string(nil), labels...)
			l[i] = bad
			if got, why := NormalizeEmail("a@" + strings.Join(l, ".")); why == "" {
				t.Fatalf("accepted %q (label %q)", got, bad)
			}
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"Ada", "  Ada  ", "\x00", "a\u202eb", strings.Repeat("x", 101), "李"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, why := NormalizeName(in)
		if why != "" {
			return
		}
		n := utf8.RuneCountInString(got)
		if n < 1 || n > MaxNameRunes || !utf8.ValidString(got) || strings.IndexFunc(got, isForbidden) >= 0 {
			t.Fatalf("accepted %q as %q", in, got)
		}
		if strings.TrimFunc(got, unicode.IsSpace) != got {
			t.Fatalf("accepted %q with surrounding space: %q", in, got)
		}
	})
}

func FuzzPasswordCheck(f *testing.F) {
	for _, s := range []string{"password", "correct horse", strings.Repeat("é", 8), "\xff\xfe", strings.Repeat("a", 257)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if password.Check(in) != "" {
			return
		}
		n := utf8.RuneCountInString(in)
		if n < password.MinLength || n > password.MaxLength || !utf8.ValidString(in) || password.IsCommon(in) {
			t.Fatalf("accepted %q", in)
		}
	})
}

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
