package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cheap keeps unit tests fast; the OWASP parameters are exercised by the
// benchmark and by TestOWASPRoundTrip.
var cheap = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func newHasher(t *testing.T, p Params, n int, obs Observer) *Hasher {
	t.Helper()
	h, err := NewHasher(p, n, obs)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 0, nil)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("Hash() = %q, want PHC argon2id prefix", enc)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"correct horse battery staple ", false},
		{"", false},
	} {
		got, err := h.Verify(ctx, tc.pw, enc)
		if err != nil || got != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v, nil", tc.pw, got, err, tc.want)
		}
	}
	enc2, _ := h.Hash(ctx, "correct horse battery staple")
	if enc == enc2 {
		t.Error("two hashes of one password are equal: salt is not random")
	}
}

func TestOWASPRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHasher(t, OWASP(), 0, nil)
	enc, err := h.Hash(context.Background(), "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash() = %q, want OWASP parameters", enc)
	}
	if ok, err := h.Verify(context.Background(), "a long enough password", enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

func TestNoTruncation(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 0, nil)
	// 100 three-byte characters: bcrypt would compare only the first 72 bytes.
	base := strings.Repeat("€", 100)
	enc, _ := h.Hash(context.Background(), base+"a")
	if ok, _ := h.Verify(context.Background(), base+"b", enc); ok {
		t.Fatal("passwords differing after byte 300 verified equal")
	}
}

func TestVerifyRejectsUnsafeOrMalformed(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 0, nil)
	salt := "c2FsdHNhbHRzYWx0c2FsdA"
	key := "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	for _, tc := range []struct {
		name, enc string
		want      error
	}{
		{"4 GiB memory", "$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + key, ErrUnsafeParams},
		{"1 GiB+1 memory", "$argon2id$v=19$m=1048577,t=2,p=1$" + salt + "$" + key, ErrUnsafeParams},
		{"many iterations", "$argon2id$v=19$m=64,t=100000,p=1$" + salt + "$" + key, ErrUnsafeParams},
		{"parallelism 255", "$argon2id$v=19$m=64,t=1,p=255$" + salt + "$" + key, ErrUnsafeParams},
		{"parallelism overflow", "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key, ErrUnsafeParams},
		{"huge key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 1<<20), ErrUnsafeParams},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"negative", "$argon2id$v=19$m=-1,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$!!$" + key, ErrMalformedHash},
		{"empty", "", ErrMalformedHash},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", ErrMalformedHash},
	} {
		var calls atomic.Int32
		h.observe = func(string, time.Duration) { calls.Add(1) }
		ok, err := h.Verify(context.Background(), "whatever", tc.enc)
		if ok || !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, %v; want false, %v", tc.name, ok, err, tc.want)
		}
		if calls.Load() != 0 {
			t.Errorf("%s: a hash was computed for a refused hash", tc.name)
		}
	}
}

func TestVerifyDummyCostsOneVerify(t *testing.T) {
	t.Parallel()
	var ops []string
	var mu sync.Mutex
	h := newHasher(t, cheap, 0, func(op string, _ time.Duration) { mu.Lock(); ops = append(ops, op); mu.Unlock() })
	if err := h.VerifyDummy(context.Background(), "anything at all"); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0] != "verify" {
		t.Fatalf("VerifyDummy ran %v, want exactly one verify", ops)
	}
	if !strings.Contains(h.dummy, "m=64,t=1,p=1") {
		t.Fatalf("dummy hash %q does not use the hasher's parameters", h.dummy)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 2, nil)
	// Hold both slots: a third hash must wait, not run.
	for range 2 {
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { _, err := h.Hash(context.Background(), "waiting password"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Hash ran while every slot was taken (err=%v)", err)
	case <-time.After(50 * time.Millisecond):
		// Still blocked, as it should be. (Absence can only be observed
		// over some interval; 50 ms is the bound, not a sleep for order.)
	}
	h.release()
	if err := <-done; err != nil {
		t.Fatalf("Hash after a slot was freed: %v", err)
	}
	h.release()
}

func TestAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 1, nil)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password123456"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with all slots taken and a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 0, nil)
	enc, _ := h.Hash(context.Background(), "some password here")
	if h.NeedsRehash(enc) {
		t.Error("NeedsRehash(current) = true")
	}
	h2 := newHasher(t, OWASP(), 0, nil)
	if !h2.NeedsRehash(enc) {
		t.Error("NeedsRehash(cheaper params) = false")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	if n := CommonCount(); n < 10000 {
		t.Fatalf("CommonCount() = %d, want >= 10000", n)
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"1234567", false},
		{"password", false},
		{"PassWord", false}, // case-insensitive
		{"12345678", false},
		{"iloveyou", false},
		{"qwertyuiop", false},
		{"correct horse battery staple", true},
		{strings.Repeat("é", 8), true},
		{strings.Repeat("é", 7), false},
		{strings.Repeat("a", 256) + "", true},
		{strings.Repeat("a", 257), false},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", false},
	} {
		if got := Check(tc.pw) == ""; got != tc.ok {
			t.Errorf("Check(%q) ok = %v, want %v (%s)", tc.pw, got, tc.ok, Check(tc.pw))
		}
	}
}

func TestQueueIsBounded(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(cheap, 1, nil, WithQueueDepth(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := h.Hash(context.Background(), "queued password"); done <- err }()
	}
	for deadline := time.Now().Add(5 * time.Second); h.Queued() != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("Queued() = %d, want 2", h.Queued())
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Hash(context.Background(), "one too many"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash past the queue depth = %v, want ErrBusy", err)
	}
	if _, err := h.Verify(context.Background(), "one too many", h.dummy); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify past the queue depth = %v, want ErrBusy", err)
	}
	h.release()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("queued Hash: %v", err)
		}
	}
	if h.Queued() != 0 {
		t.Fatalf("Queued() = %d after the queue drained", h.Queued())
	}
	if d := newHasher(t, cheap, 3, nil).depth; d != 3*DefaultQueueFactor {
		t.Errorf("default depth = %d, want %d", d, 3*DefaultQueueFactor)
	}
}

// TestUnusableMatchesNoPassword: the hash that takes an account's password
// away is a well-formed one of the current parameters (verifying against
// it costs as much as against any, and asks for no rehash), random each
// time, and no password matches it, the empty one included.
func TestUnusableMatchesNoPassword(t *testing.T) {
	t.Parallel()
	h := newHasher(t, cheap, 0, nil)
	a, b := h.Unusable(), h.Unusable()
	if a == b {
		t.Fatal("two unusable hashes are equal: not random")
	}
	if h.NeedsRehash(a) {
		t.Errorf("an unusable hash %q asks for a rehash", a)
	}
	for _, pw := range []string{"", "correct horse battery staple", a} {
		if ok, err := h.Verify(context.Background(), pw, a); ok || err != nil {
			t.Errorf("Verify(%q, unusable) = %v, %v; want false, nil", pw, ok, err)
		}
	}
}
