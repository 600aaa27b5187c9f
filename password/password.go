// Package password hashes and verifies passwords with argon2id, stored in
// the PHC string format, with the number of concurrent hashes bounded so a
// login flood queues for CPU instead of piling up goroutines, memory and
// database connections.
package password

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters. Memory is in KiB.
type Params struct {
	Memory      uint32
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// OWASP returns the OWASP Password Storage Cheat Sheet's argon2id
// baseline: m=19 MiB, t=2, p=1. A function, not a variable, so that no
// importer can weaken the baseline for the whole process.
func OWASP() Params {
	return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Bounds a stored hash's parameters must stay within before Verify spends
// anything on it: a tampered or corrupted row must not make the service
// allocate a gigabyte or spin for minutes.
const (
	MaxMemory      = 256 * 1024 // KiB
	MaxIterations  = 16
	MaxParallelism = 16
	minSalt        = 8
	maxSalt        = 64
	minKey         = 16
	maxKey         = 128
)

// Errors returned by Verify for hashes it refuses to evaluate.
var (
	ErrMalformedHash = errors.New("password: malformed hash")
	ErrUnsafeParams  = errors.New("password: hash parameters out of bounds")
)

// Validate reports whether p is usable and within the verification bounds.
func (p Params) Validate() error {
	switch {
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB", ErrUnsafeParams, p.Memory)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("%w: iterations %d", ErrUnsafeParams, p.Iterations)
	case p.Parallelism < 1 || p.Parallelism > MaxParallelism:
		return fmt.Errorf("%w: parallelism %d", ErrUnsafeParams, p.Parallelism)
	case p.SaltLength < minSalt || p.SaltLength > maxSalt:
		return fmt.Errorf("%w: salt length %d", ErrUnsafeParams, p.SaltLength)
	case p.KeyLength < minKey || p.KeyLength > maxKey:
		return fmt.Errorf("%w: key length %d", ErrUnsafeParams, p.KeyLength)
	}
	return nil
}

// Observer receives the duration of every hash computation; op is "hash"
// or "verify". It lets the caller feed a metric without this package
// knowing about Prometheus.
type Observer func(op string, d time.Duration)

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params  Params
	slots   chan struct{}
	dummy   string
	observe Observer
	// depth bounds how many callers may wait for a slot; waiting counts
	// them.
	depth   int64
	waiting atomic.Int64
	// workers, when set, compute the keys; else this process does.
	workers *Workers
}

// HasherOption configures a Hasher.
type HasherOption func(*Hasher)

// WithQueueDepth bounds how many hashes may wait for a slot; past it Hash
// and Verify fail at once with ErrBusy. n <= 0 keeps the default,
// DefaultQueueFactor × concurrency.
func WithQueueDepth(n int) HasherOption {
	return func(h *Hasher) {
		if n > 0 {
			h.depth = int64(n)
		}
	}
}

// WithWorkers computes every hash in the worker processes ws instead of in
// this process. Give the Hasher as many slots as ws has workers.
func WithWorkers(ws *Workers) HasherOption {
	return func(h *Hasher) { h.workers = ws }
}

// DefaultQueueFactor sets the default queue depth per hashing slot: at
// OWASP cost (about 28 ms a hash) a full queue is about 8 × 28 ms ≈ 0.25 s
// of waiting, enough to absorb a burst, far below any request deadline.
const DefaultQueueFactor = 8

// ErrBusy is returned when a hash cannot be computed now: the hashing
// queue is full, or the worker process computing it died or hung. The
// caller should answer "try again shortly" rather than queue without
// limit.
var ErrBusy = errors.New("password: hashing unavailable")

var errQueueFull = fmt.Errorf("%w: queue full", ErrBusy)

// NewHasher returns a Hasher with the given parameters that runs at most
// concurrency hashes at once (GOMAXPROCS when concurrency <= 0).
func NewHasher(p Params, concurrency int, observe Observer, opts ...HasherOption) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	if observe == nil {
		observe = func(string, time.Duration) {}
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency), observe: observe, depth: int64(DefaultQueueFactor * concurrency)}
	for _, o := range opts {
		o(h)
	}
	// The dummy hash has the same cost as a real one, so checking a
	// password for an unknown email takes as long as for a known one.
	salt := make([]byte, p.SaltLength)
	rand.Read(salt)
	h.dummy = encode(p, salt, argon2.IDKey([]byte("dummy-password"), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength))
	return h, nil
}

// key computes an argon2id key in a hashing slot, waiting for one first,
// and reports its duration to the observer as op.
func (h *Hasher) key(ctx context.Context, op string, password, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	if h.workers == nil {
		defer h.release()
		start := time.Now()
		key := argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
		h.observe(op, time.Since(start))
		return key, nil
	}
	// The caller may leave when ctx ends; the slot stays taken until the
	// worker has answered, as the worker stays busy until then.
	type reply struct {
		key []byte
		err error
	}
	done := make(chan reply, 1)
	go func() {
		defer h.release()
		key, took, err := h.workers.key(password, salt, p, keyLen)
		if err == nil {
			h.observe(op, took)
		}
		done <- reply{key, err}
	}()
	select {
	case r := <-done:
		return r.key, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Queued returns how many hashes are waiting for a slot.
func (h *Hasher) Queued() int { return int(h.waiting.Load()) }

// acquire waits for a hashing slot or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	// No free slot: queue, unless the queue is full.
	if h.waiting.Add(1) > h.depth {
		h.waiting.Add(-1)
		return errQueueFull
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password under a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	rand.Read(salt)
	key, err := h.key(ctx, "hash", []byte(password), salt, h.params, h.params.KeyLength)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded. It
// compares in constant time and refuses, before allocating anything,
// parameters outside the package bounds.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	ok, _, err := h.VerifyEither(ctx, password, encoded, "")
	return ok, err
}

// HashAlike returns the PHC string of password under the salt and the
// parameters of encoded, for VerifyEither: one key derivation then checks
// a password against both. It costs what Verify against encoded costs.
func (h *Hasher) HashAlike(ctx context.Context, password, encoded string) (string, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return "", err
	}
	key, err := h.key(ctx, "hash", []byte(password), salt, p, uint32(len(want)))
	if err != nil {
		return "", err
	}
	return encode(p, salt, key), nil
}

// VerifyEither is Verify against encoded that also reports whether
// password matches alike, a HashAlike of encoded, with the same single key
// derivation: its cost does not depend on alike. An alike made under
// another salt or other parameters (encoded changed since) never matches;
// an empty one neither.
func (h *Hasher) VerifyEither(ctx context.Context, password, encoded, alike string) (matches, matchesAlike bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.key(ctx, "verify", []byte(password), salt, p, uint32(len(want)))
	if err != nil {
		return false, false, err
	}
	matches = subtle.ConstantTimeCompare(got, want) == 1
	if ap, asalt, akey, aerr := decode(alike); aerr == nil && ap == p && bytes.Equal(asalt, salt) {
		matchesAlike = subtle.ConstantTimeCompare(got, akey) == 1
	}
	return matches, matchesAlike, nil
}

// VerifyDummy spends the same work as Verify against a real hash and always
// reports false. Call it when the account does not exist, so response time
// does not reveal which emails are registered.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, err := h.Verify(ctx, password, h.dummy)
	return err
}

// Unusable returns a hash that no password matches: a PHC string of the
// current parameters with a random salt and a random key, of which nobody
// knows a preimage. Verifying against it costs what verifying against any
// hash costs, and fails; a reset replaces it. It takes no hashing.
func (h *Hasher) Unusable() string {
	salt, key := make([]byte, h.params.SaltLength), make([]byte, h.params.KeyLength)
	rand.Read(salt)
	rand.Read(key)
	return encode(h.params, salt, key)
}

// NeedsRehash reports whether encoded was made with parameters other than
// the hasher's current ones, so a login can upgrade it.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return true
	}
	cur := h.params
	return p.Memory != cur.Memory || p.Iterations != cur.Iterations || p.Parallelism != cur.Parallelism ||
		uint32(len(salt)) != cur.SaltLength || uint32(len(key)) != cur.KeyLength
}
