package personal

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func newTestKey(t testing.TB, user uuid.UUID) *DataKey {
	t.Helper()
	k, err := newDataKey(user, randomKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptedFieldOpensOnlyForItsUserEventAndField(t *testing.T) {
	t.Parallel()
	user := uuid.New()
	k := newTestKey(t, user)
	const event, value = "0190a4c8-0000-7000-8000-000000000001", "ada@example.com"
	sealed := k.Encrypt(event, FieldEmail, value)

	if strings.Contains(sealed, value) || !IsProtected(sealed) {
		t.Fatalf("Encrypt = %q: not a protected field, or the value shows", sealed)
	}
	if !regexp.MustCompile(Pattern).MatchString(sealed) {
		t.Fatalf("Encrypt = %q does not match Pattern %s", sealed, Pattern)
	}
	if got, err := k.Decrypt(event, FieldEmail, sealed); err != nil || got != value {
		t.Fatalf("Decrypt = %q, %v; want %q", got, err, value)
	}
	if again := k.Encrypt(event, FieldEmail, value); again == sealed {
		t.Fatal("encrypting twice gave the same text: the nonce is not random")
	}

	// The same key bytes under another user id: only the associated data
	// differs, so this fails only if the user is bound.
	dek := make([]byte, keySize)
	sameKeyOtherUser, _ := newDataKey(uuid.New(), dek)
	sameKeySameUser, _ := newDataKey(user, dek)
	boundSealed := sameKeySameUser.Encrypt(event, FieldEmail, value)

	b, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, Prefix))
	flip := func(i int) string {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return Prefix + base64.RawURLEncoding.EncodeToString(c)
	}
	for name, open := range map[string]func() (string, error){
		"nonce byte flipped":      func() (string, error) { return k.Decrypt(event, FieldEmail, flip(0)) },
		"ciphertext byte flipped": func() (string, error) { return k.Decrypt(event, FieldEmail, flip(30)) },
		"tag byte flipped":        func() (string, error) { return k.Decrypt(event, FieldEmail, flip(len(b)-1)) },
		"other event":             func() (string, error) { return k.Decrypt("0190a4c8-0000-7000-8000-000000000002", FieldEmail, sealed) },
		"other field":             func() (string, error) { return k.Decrypt(event, FieldName, sealed) },
		"other user, same key":    func() (string, error) { return sameKeyOtherUser.Decrypt(event, FieldEmail, boundSealed) },
		"other user's key":        func() (string, error) { return newTestKey(t, user).Decrypt(event, FieldEmail, sealed) },
		"truncated":               func() (string, error) { return k.Decrypt(event, FieldEmail, sealed[:40]) },
		"clear value":             func() (string, error) { return k.Decrypt(event, FieldEmail, value) },
		"other format version":    func() (string, error) { return k.Decrypt(event, FieldEmail, "pd2"+sealed[3:]) },
		"padded base64":           func() (string, error) { return k.Decrypt(event, FieldEmail, sealed+"=") },
	} {
		if got, err := open(); !errors.Is(err, ErrUnreadable) {
			t.Errorf("%s: Decrypt = %q, %v; want ErrUnreadable", name, got, err)
		}
	}
	if got, err := sameKeySameUser.Decrypt(event, FieldEmail, boundSealed); err != nil || got != value {
		t.Fatalf("control: Decrypt = %q, %v; want %q", got, err, value)
	}
}

func TestEmptyAndLongValuesRoundTrip(t *testing.T) {
	t.Parallel()
	k := newTestKey(t, uuid.New())
	for _, v := range []string{"", "é", strings.Repeat("Mozilla/5.0 ", 43)} {
		s := k.Encrypt("e", FieldUserAgent, v)
		if got, err := k.Decrypt("e", FieldUserAgent, s); err != nil || got != v {
			t.Errorf("Decrypt(Encrypt(%q)) = %q, %v", v, got, err)
		}
	}
}

func TestDataKeyDoesNotPrintItsKey(t *testing.T) {
	t.Parallel()
	user := uuid.New()
	if got, want := newTestKey(t, user).String(), "personal.DataKey("+user.String()+")"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
