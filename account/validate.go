package account

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/password"
)

// MaxEmailBytes is the longest address SMTP can carry (RFC 5321 path limit).
const MaxEmailBytes = 254

// zeroWidth are invisible characters that would let two visually equal
// addresses differ; NFKC does not remove them.
var zeroWidth = strings.NewReplacer(
	"\u200b", "", "\u200c", "", "\u200d", "", "\u2060", "", "\ufeff", "", "\u00ad", "",
)

// NormalizeEmail returns the canonical form of an email address (trimmed,
// NFKC, zero-width characters removed, lower case) or, when it is not an
// acceptable address, "" and the reason.
func NormalizeEmail(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "must be valid UTF-8"
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", "must not contain line breaks"
	}
	if len(s) > 4*MaxEmailBytes {
		return "", "must be at most 254 bytes"
	}
	s = norm.NFKC.String(s)
	s = zeroWidth.Replace(s)
	s = strings.ToLower(strings.TrimSpace(s))
	// NFKC can produce line breaks from compatibility characters; check again.
	if strings.ContainsAny(s, "\r\n") {
		return "", "must not contain line breaks"
	}
	if s == "" {
		return "", "is required"
	}
	if len(s) > MaxEmailBytes {
		return "", "must be at most 254 bytes"
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", "must be a valid email address"
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 || strings.IndexFunc(s, isForbidden) >= 0 {
		return "", "must be a valid email address"
	}
	if !hostname(domain) {
		return "", "must be a valid email address"
	}
	return s, ""
}

// hostname reports whether domain is a dotted host name that mail can be
// delivered to (RFC 1123 labels, with Unicode letters for IDNs): at least
// two labels of 1 to 63 bytes, each of letters, digits and inner hyphens,
// and a top-level label that is not all digits. This refuses what
// mail.ParseAddress lets through but no mailbox we should write to has:
// IP literals ("[127.0.0.1]") and dotted quads, labels that start or end
// with a hyphen, and atext symbols in the domain.
func hostname(domain string) bool {
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		if strings.IndexFunc(l, func(r rune) bool {
			return r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.M, r)
		}) >= 0 {
			return false
		}
	}
	return strings.IndexFunc(labels[len(labels)-1], func(r rune) bool { return !unicode.IsDigit(r) }) >= 0
}

// MaxNameRunes bounds a display name.
const MaxNameRunes = 100

// NormalizeName returns the trimmed name or "" and the reason it is not
// acceptable: 1 to 100 characters of valid UTF-8 without control or
// bidirectional-override characters.
func NormalizeName(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "must be valid UTF-8"
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "is required"
	}
	if utf8.RuneCountInString(s) > MaxNameRunes {
		return "", "must be at most 100 characters"
	}
	if strings.IndexFunc(s, isForbidden) >= 0 {
		return "", "must not contain control characters"
	}
	return s, ""
}

// isForbidden reports control characters and the invisible formatting
// characters that can spoof how a name or address is displayed.
func isForbidden(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true // bidirectional embeddings, overrides, isolates and marks
	case r == 0x2028 || r == 0x2029:
		return true // line and paragraph separators
	case r == utf8.RuneError:
		return true
	}
	return false
}

// storable returns why s cannot be stored in a PostgreSQL text column or a
// JSON event (a NUL byte, invalid UTF-8), or "" when it can. Every field
// of a request that reaches the database goes through it, so such input is
// a 400 naming the field rather than a driver error.
func storable(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL bytes"
	}
	return ""
}

// MaxUserAgentBytes bounds the stored User-Agent.
const MaxUserAgentBytes = 512

// cleanClient makes the request facts safe to store: they come from
// headers, not fields, so they are cleaned rather than refused. Invalid
// UTF-8 becomes U+FFFD, control characters (NUL among them) are dropped.
func cleanClient(c authevents.Client) authevents.Client {
	clean := func(s string, n int) string {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		return truncate(s, n)
	}
	return authevents.Client{IP: clean(c.IP, 64), UserAgent: clean(c.UserAgent, MaxUserAgentBytes)}
}

// checkRegister validates a register request, naming every bad field, and
// returns the normalized email and name.
func checkRegister(in RegisterInput) (email, name string, _ *authevents.ValidationError) {
	var verr authevents.ValidationError
	email, why := NormalizeEmail(in.Email)
	if why != "" {
		verr.Add("email", why)
	}
	name, why = NormalizeName(in.Name)
	if why != "" {
		verr.Add("name", why)
	}
	if in.Password == "" {
		verr.Add("password", "is required")
	} else if why := password.Check(in.Password); why != "" {
		verr.Add("password", why)
	} else if email != "" && strings.EqualFold(in.Password, email) {
		verr.Add("password", "must not be your email address")
	}
	if verr.Err() != nil {
		return "", "", &verr
	}
	return email, name, nil
}

// checkLogin refuses a login that cannot even be looked up: a missing or
// unstorable email, a missing or overlong password. It returns the email
// to look up (normalized, or when it is not a valid address the input cut
// to MaxEmailBytes, which still names the failed attempt) and, in why,
// the reason it is not a valid address, or "".
func checkLogin(in LoginInput) (email, why string, _ error) {
	var verr authevents.ValidationError
	if strings.TrimSpace(in.Email) == "" {
		verr.Add("email", "is required")
	} else if why := storable(in.Email); why != "" {
		// The email reaches PostgreSQL (the login_failed event, its
		// ordering key) even when it is not a valid address.
		verr.Add("email", why)
	}
	if in.Password == "" {
		verr.Add("password", "is required")
	} else if utf8.RuneCountInString(in.Password) > password.MaxLength {
		// Refused before hashing: a megabyte "password" must not cost a hash.
		verr.Add("password", "must be at most 256 characters")
	}
	if err := verr.Err(); err != nil {
		return "", "", err
	}
	email, why = NormalizeEmail(in.Email)
	if why != "" {
		email = truncate(in.Email, MaxEmailBytes)
	}
	return email, why, nil
}
