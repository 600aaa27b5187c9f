package personal

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestUserPseudonymsMatchWithinOneUserOnly(t *testing.T) {
	t.Parallel()
	a, b := newTestKey(t, uuid.New()), newTestKey(t, uuid.New())
	p := a.Pseudonym(FieldIP, "198.51.100.7")
	if !strings.HasPrefix(p, "pu1.") || strings.Contains(p, "198.51") {
		t.Fatalf("Pseudonym = %q", p)
	}
	for name, tc := range map[string]struct {
		got  string
		same bool
	}{
		"same user, same value":       {a.Pseudonym(FieldIP, "198.51.100.7"), true},
		"same user, IPv4-mapped form": {a.Pseudonym(FieldIP, "::ffff:198.51.100.7"), true},
		"same user, other value":      {a.Pseudonym(FieldIP, "198.51.100.8"), false},
		"same user, other field":      {a.Pseudonym(FieldUserAgent, "198.51.100.7"), false},
		"other user, same value":      {b.Pseudonym(FieldIP, "198.51.100.7"), false},
	} {
		if (tc.got == p) != tc.same {
			t.Errorf("%s: %q vs %q, want equal=%v", name, tc.got, p, tc.same)
		}
	}
}

func TestGlobalPseudonymsDependOnTheKey(t *testing.T) {
	t.Parallel()
	key := GenerateKEK()
	p1, err := NewPseudonymizer(key)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := NewPseudonymizer(key)
	eph := NewEphemeralPseudonymizer()
	const ip = "2001:db8::1"
	got := p1.Pseudonym(FieldIP, ip)
	if !strings.HasPrefix(got, "pg1.") || len(got) != len("pg1.")+22 {
		t.Fatalf("Pseudonym = %q, want pg1. and 22 base64url characters", got)
	}
	if p2.Pseudonym(FieldIP, "2001:0db8:0:0::1") != got {
		t.Error("two pseudonymizers with one key disagree on one address written two ways")
	}
	if eph.Pseudonym(FieldIP, ip) == got || NewEphemeralPseudonymizer().Pseudonym(FieldIP, ip) == eph.Pseudonym(FieldIP, ip) {
		t.Error("an ephemeral pseudonymizer matches another key's pseudonyms")
	}
	if _, err := NewPseudonymizer("short"); err == nil {
		t.Error("NewPseudonymizer accepted a short key")
	}
}

func TestDayOwnerIsOnePerUTCDay(t *testing.T) {
	t.Parallel()
	d := time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC)
	if DayOwner(d) != DayOwner(d.Add(-23*time.Hour)) {
		t.Error("two times of one UTC day have different owners")
	}
	if DayOwner(d) == DayOwner(d.Add(time.Hour)) {
		t.Error("two days share an owner")
	}
	if DayOwner(d.In(time.FixedZone("UTC+2", 7200))) != DayOwner(d) {
		t.Error("the owner depends on the time zone")
	}
}
