package account

import (
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/authevents/authevents/password"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"user@example.com", "user@example.com"},
		{"  User@Example.COM \t", "user@example.com"},
		{"us\u200ber@exa\u200dmple.com", "user@example.com"},                    // zero-width removed
		{"\ufeffuser@example.com", "user@example.com"},                          // BOM removed
		{"ｕｓｅｒ@ｅｘａｍｐｌｅ.ｃｏｍ", "user@example.com"},                                // fullwidth -> NFKC
		{"user+tag@example.co.uk", "user+tag@example.co.uk"},                    // plus addressing kept
		{"Ünïcödé@example.com", "ünïcödé@example.com"},                          // internationalized local part
		{"user@example.com\r\nBcc: x@evil.test", ""},                            // header injection
		{"user@example.com\n", ""},                                              // trailing LF is still rejected
		{"user\u2028@example.com", ""},                                          // line separator
		{"", ""},                                                                //
		{"   ", ""},                                                             //
		{"no-at-sign", ""},                                                      //
		{"@example.com", ""},                                                    //
		{"user@", ""},                                                           //
		{"user@localhost", ""},                                                  // no dot in domain
		{"user@.example.com", ""},                                               //
		{"user@example..com", ""},                                               //
		{"John <user@example.com>", ""},                                         // display name
		{"a b@example.com", ""},                                                 //
		{"user@example.com, other@example.com", ""},                             //
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", ""}, // 255 bytes
		{"\xff@example.com", ""},                                                //
	} {
		got, why := NormalizeEmail(tc.in)
		if got != tc.want || (tc.want == "") != (why != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want %q", tc.in, got, why, tc.want)
		}
	}
	ok := strings.Repeat("a", 60) + "@" + strings.Repeat("b", 189) + ".com" // 254 bytes
	if got, why := NormalizeEmail(ok); got != ok {
		t.Errorf("NormalizeEmail(254-byte address) = %q, %q", got, why)
	}
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
	for _, s := range []string{"user@example.com", " U@E.COM ", "a\u200b@b.c", "ｕ@ｅ.ｃｏｍ", "a\r\n@b.c", "\"a b\"@c.d", "a@b@c.d", "x@[127.0.0.1]", "\u2126@k.com", "ß@straße.de", "İ@x.com"} {
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
