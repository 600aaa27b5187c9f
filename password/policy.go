package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"
)

// Length limits, in characters (runes). The upper bound caps the work an
// attacker can make one hash cost; nothing is ever truncated.
const (
	MinLength = 8
	MaxLength = 256
)

// commonList is common_passwords.txt: the 17,950 passwords of at least
// MinLength characters from the zxcvbn-ts common-password list (MIT; top
// passwords from public breach corpora), one per line, lower case.
//
//go:embed common_passwords.txt
var commonList string

var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 18000)
	for _, line := range strings.Split(commonList, "\n") {
		if line != "" {
			m[strings.ToLower(line)] = struct{}{}
		}
	}
	return m
})

// CommonCount returns how many passwords the embedded list holds.
func CommonCount() int { return len(common()) }

// IsCommon reports whether pw (compared case-insensitively) is on the
// embedded list of most common passwords.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}

// Check returns "" when pw is acceptable, or the reason it is not.
func Check(pw string) string {
	if !utf8.ValidString(pw) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		return "must be at least 8 characters"
	case n > MaxLength:
		return "must be at most 256 characters"
	case IsCommon(pw):
		return "is too common; choose a less guessable password"
	}
	return ""
}
