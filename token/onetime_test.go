package token

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestOneTimeTokensHashToWhatIsStored(t *testing.T) {
	raw, hash := NewOneTime()
	if !strings.HasPrefix(raw, OneTimePrefix) || len(raw) != len(OneTimePrefix)+43 {
		t.Fatalf("NewOneTime() = %q: want %s + 43 base64url characters (256 bits)", raw, OneTimePrefix)
	}
	got, err := HashOneTime(raw)
	if err != nil || !bytes.Equal(got, hash) {
		t.Fatalf("HashOneTime(issued) = %x, %v; want %x", got, err, hash)
	}
	if bytes.Contains([]byte(raw), hash) || len(hash) != 32 {
		t.Fatalf("the stored hash %x is not a 32-byte digest", hash)
	}
	other, otherHash := NewOneTime()
	if other == raw || bytes.Equal(otherHash, hash) {
		t.Fatal("two one-time tokens are the same")
	}
}

func TestHashOneTimeRefusesEverythingElse(t *testing.T) {
	raw, _ := NewOneTime()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	for name, in := range map[string]string{
		"empty":                "",
		"no prefix":            strings.TrimPrefix(raw, OneTimePrefix),
		"refresh prefix":       RefreshPrefix + strings.TrimPrefix(raw, OneTimePrefix),
		"one character short":  raw[:len(raw)-1],
		"one character more":   raw + "A",
		"padding":              raw + "=",
		"standard alphabet":    strings.NewReplacer("-", "+", "_", "/").Replace(raw) + "+",
		"re-spelt last bits":   raw[:len(raw)-1] + string(alphabet[last^1]),
		"white space":          raw + " ",
		"line break inside":    raw[:10] + "\n" + raw[10:],
		"a bearer of 64 bytes": OneTimePrefix + strings.Repeat("A", 86),
	} {
		if _, err := HashOneTime(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: HashOneTime(%q) = %v, want ErrInvalid", name, in, err)
		}
	}
}
