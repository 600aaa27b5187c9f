package token

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// bound is the binding of a test link: its event, type, recipient, expiry.
var bound = Binding{EventID: "event-1", EventType: "user.password_reset_requested", To: "ada@example.com",
	ExpiresAt: time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)}

func with(edit func(*Binding)) Binding {
	b := bound
	edit(&b)
	return b
}

func TestSealedTokenOpensOnlyForTheEmailServiceAndItsEvent(t *testing.T) {
	pub, priv := GenerateSealKey()
	s, err := NewSealer(pub)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOpener(priv)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := NewOneTime()
	sealed, err := s.Seal(bound, raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, strings.TrimPrefix(raw, OneTimePrefix)) {
		t.Fatalf("the sealed text %q contains the token", sealed)
	}
	if got, err := o.Open(bound, sealed); err != nil || got != raw {
		t.Fatalf("Open = %q, %v; want the token", got, err)
	}
	// The recipient compares as an address does, the expiry to the second
	// (the event's JSON may carry it to the millisecond).
	if got, err := o.Open(with(func(b *Binding) { b.To = "Ada@Example.com"; b.ExpiresAt = b.ExpiresAt.Add(300 * time.Millisecond) }), sealed); err != nil || got != raw {
		t.Fatalf("Open with the same binding spelt otherwise = %q, %v; want the token", got, err)
	}
	again, _ := s.Seal(bound, raw)
	if again == sealed {
		t.Fatal("sealing twice gave the same text: the box is not randomized")
	}

	_, otherPriv := GenerateSealKey()
	other, _ := NewOpener(otherPriv)
	flipped := []byte(sealed)
	flipped[len(flipped)-5] ^= 1
	for name, open := range map[string]func() (string, error){
		"another service's key": func() (string, error) { return other.Open(bound, sealed) },
		"another event":         func() (string, error) { return o.Open(with(func(b *Binding) { b.EventID = "event-2" }), sealed) },
		// Found in review: bound to its event id only, a sealed token copied
		// into an event naming another recipient opened, and was mailed there.
		"another recipient": func() (string, error) { return o.Open(with(func(b *Binding) { b.To = "eve@example.com" }), sealed) },
		"another event type": func() (string, error) {
			return o.Open(with(func(b *Binding) { b.EventType = "user.email_change_requested" }), sealed)
		},
		"a later expiry": func() (string, error) {
			return o.Open(with(func(b *Binding) { b.ExpiresAt = b.ExpiresAt.Add(time.Hour) }), sealed)
		},
		"a changed byte":  func() (string, error) { return o.Open(bound, string(flipped)) },
		"not sealed":      func() (string, error) { return o.Open(bound, raw) },
		"another version": func() (string, error) { return o.Open(bound, "s2"+sealed[2:]) },
	} {
		if got, err := open(); !errors.Is(err, ErrSealed) || got != "" {
			t.Errorf("%s: Open = %q, %v; want ErrSealed", name, got, err)
		}
	}
}

func TestOpenerHoldsThePreviousKeyDuringARotation(t *testing.T) {
	oldPub, oldPriv := GenerateSealKey()
	newPub, newPriv := GenerateSealKey()
	o, err := NewOpener(newPriv, oldPriv)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []string{oldPub, newPub} {
		s, _ := NewSealer(pub)
		sealed, _ := s.Seal(bound, "ot_x")
		if got, err := o.Open(bound, sealed); err != nil || got != "ot_x" {
			t.Errorf("sealed to %s: Open = %q, %v", pub, got, err)
		}
	}
}

func TestSealKeysAreChecked(t *testing.T) {
	for _, bad := range []string{"", "short", strings.Repeat("A", 44), strings.Repeat("A", 42) + "=="} {
		if _, err := NewSealer(bad); err == nil {
			t.Errorf("NewSealer(%q) accepted", bad)
		}
		if _, err := NewOpener(bad); err == nil {
			t.Errorf("NewOpener(%q) accepted", bad)
		}
	}
	if _, err := NewOpener(); err == nil {
		t.Error("NewOpener() with no key accepted")
	}
}

func TestReadSealKeyFile(t *testing.T) {
	pub, priv := GenerateSealKey()
	dir := t.TempDir()
	env := dir + "/mail-seal.env"
	bare := dir + "/public.key"
	os.WriteFile(env, []byte("MAIL_SEAL_PUBLIC_KEY="+pub+"\nMAIL_SEAL_PRIVATE_KEY="+priv+"\n"), 0o600)
	os.WriteFile(bare, []byte(pub+"\n"), 0o600)
	for _, tc := range []struct{ path, name, want string }{
		{env, "MAIL_SEAL_PUBLIC_KEY", pub}, {env, "MAIL_SEAL_PRIVATE_KEY", priv}, {bare, "MAIL_SEAL_PUBLIC_KEY", pub},
	} {
		if got, err := ReadSealKeyFile(tc.path, tc.name); err != nil || got != tc.want {
			t.Errorf("ReadSealKeyFile(%s, %s) = %q, %v; want %q", tc.path, tc.name, got, err, tc.want)
		}
	}
	os.WriteFile(env, []byte("OTHER=x\nMORE=y\n"), 0o600)
	if _, err := ReadSealKeyFile(env, "MAIL_SEAL_PUBLIC_KEY"); err == nil {
		t.Error("a file without the key's line was accepted")
	}
}
