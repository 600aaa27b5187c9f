package account_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/crypto/nacl/box"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/token"
)

// TestSealedLinkHoldsNoAddress (review finding, fixed): with
// EVENTS_V1=false, a user registers and deletes the account. The sealed
// link user.email_verification_requested_v2 carries outlives the erasure
// (stream, DLQ, audit log) and opens with the email service's key, which
// is never erased: its plaintext held the recipient's address
// (token.Binding in clear). It now holds a digest of the binding.
func TestSealedLinkHoldsNoAddress(t *testing.T) {
	ctx := context.Background()
	pub, priv := token.GenerateSealKey()
	sealer, err := token.NewSealer(pub)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := personal.NewKeyring(personal.GenerateKEK())
	l := setupLifecycle(t, true, func(o *accounttest.Options) {
		cfg := *o.Config
		cfg.V2Only = true
		o.Config = &cfg
		o.Account = append(o.Account, account.WithSealer(sealer), account.WithPersonalKeys(ring))
	})
	const addr = "erase-me@example.com"
	if _, err := l.Service.Register(ctx, account.RegisterInput{Email: addr, Password: goodPassword, Name: "Erase Me", Client: client}); err != nil {
		t.Fatal(err)
	}
	var userID string
	if err := l.Pool.QueryRow(ctx, `SELECT id::text FROM users WHERE email = $1`, addr).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	// The operator deletes the account (the user never verified).
	if _, err := l.Service.DeleteUser(ctx, mustUUID(t, userID), authevents.ByOperator); err != nil {
		t.Fatal(err)
	}
	privKey, _ := base64.RawURLEncoding.DecodeString(priv)
	pubKey, _ := base64.RawURLEncoding.DecodeString(pub)
	var pk, sk [32]byte
	copy(pk[:], pubKey)
	copy(sk[:], privKey)
	rows := outboxtest.Events(t, l.Pool, authevents.ProtectedType(authevents.EventEmailVerificationRequested))
	if len(rows) == 0 {
		t.Fatal("no v2 verification event")
	}
	var d struct {
		Link struct {
			SealedToken string `json:"sealedToken"`
		} `json:"link"`
	}
	rows[0].Data(t, &d)
	parts := strings.Split(d.Link.SealedToken, ".")
	boxed, _ := base64.RawURLEncoding.DecodeString(parts[2])
	msg, ok := box.OpenAnonymous(nil, boxed, &pk, &sk)
	if !ok {
		t.Fatalf("does not open: %q", d.Link.SealedToken)
	}
	if strings.Contains(string(msg), addr) {
		b, _ := json.Marshal(string(msg))
		t.Fatalf("after the erasure, the v2 event's sealed link still reads the address with the mail key: %s", b)
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	u, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
