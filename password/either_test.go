package password

import (
	"context"
	"testing"
)

// TestVerifyEither: one key derivation answers for the stored hash and
// for a HashAlike of it; an alike of another hash (another salt), an
// empty or a malformed one never matches, and a match of one is no match
// of the other.
func TestVerifyEither(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(t, cheap, 0, nil)
	stored, err := h.Hash(ctx, "the owner's password")
	if err != nil {
		t.Fatal(err)
	}
	alike, err := h.HashAlike(ctx, "someone else's password", stored)
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.Hash(ctx, "someone else's password")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, pw, alike string
		want, wantAlike bool
	}{
		{"owner's, with alike", "the owner's password", alike, true, false},
		{"other's, with alike", "someone else's password", alike, false, true},
		{"wrong, with alike", "a third password", alike, false, false},
		{"other's, alike under another salt", "someone else's password", other, false, false},
		{"other's, no alike", "someone else's password", "", false, false},
		{"other's, malformed alike", "someone else's password", "$argon2id$", false, false},
	} {
		got, gotAlike, err := h.VerifyEither(ctx, c.pw, stored, c.alike)
		if err != nil || got != c.want || gotAlike != c.wantAlike {
			t.Errorf("%s: VerifyEither = %v, %v, %v; want %v, %v, nil", c.name, got, gotAlike, err, c.want, c.wantAlike)
		}
	}
}
