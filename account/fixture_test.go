package account_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
)

// The rule specifications of the use cases run against account.Service
// with real PostgreSQL and Redis (account/accounttest); the HTTP wiring is
// checked separately in api/httpe2e.

const goodPassword = "correct horse battery staple"

// client is the request facts every call passes unless a test needs others.
var client = authevents.Client{IP: "127.0.0.1", UserAgent: "authevents-test/1.0"}

type fixture struct {
	*accounttest.Env
	logs *testenv.Buffer
	// verifies counts argon2id verifications (the hash-duration
	// observer's "verify" op), the work a login costs.
	verifies atomic.Int64
}

func setup(t testing.TB, opts ...func(*accounttest.Options)) *fixture {
	t.Helper()
	f := &fixture{logs: &testenv.Buffer{}}
	o := accounttest.Options{Log: logging.New(f.logs, "debug"), ObserveOp: func(op string, _ time.Duration) {
		if op == "verify" {
			f.verifies.Add(1)
		}
	}}
	for _, fn := range opts {
		fn(&o)
	}
	f.Env = accounttest.New(t, o)
	return f
}

func withConfig(edit func(*account.Config)) func(*accounttest.Options) {
	return func(o *accounttest.Options) {
		cfg := accounttest.Config()
		edit(&cfg)
		o.Config = &cfg
	}
}

func (f *fixture) register(t testing.TB, email string) *account.Result {
	t.Helper()
	res, err := f.Service.Register(context.Background(), account.RegisterInput{Email: email, Password: goodPassword, Name: "Ada Lovelace", Client: client})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return res
}

func (f *fixture) login(t testing.TB, email string, c ...authevents.Client) *account.Result {
	t.Helper()
	cl := client
	if len(c) > 0 {
		cl = c[0]
	}
	res, err := f.Service.Login(context.Background(), account.LoginInput{Email: email, Password: goodPassword, Client: cl})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return res
}

func (f *fixture) refresh(raw string, c ...authevents.Client) (*account.Result, error) {
	cl := client
	if len(c) > 0 {
		cl = c[0]
	}
	return f.Service.Refresh(context.Background(), raw, cl)
}

func (f *fixture) mustRefresh(t testing.TB, raw string) *account.Result {
	t.Helper()
	res, err := f.refresh(raw)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return res
}

// authenticate is what every bearer request starts with.
func (f *fixture) authenticate(t testing.TB, access string) *token.Verified {
	t.Helper()
	v, err := f.Service.Authenticate(context.Background(), access)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return v
}

// works tells whether an access token still gets through Authenticate and
// Me, as /auth/me would.
func (f *fixture) works(t testing.TB, access string) bool {
	t.Helper()
	v, err := f.Service.Authenticate(context.Background(), access)
	if errors.Is(err, authevents.ErrUnauthorized) {
		return false
	}
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	_, err = f.Service.Me(context.Background(), v.UserID)
	if errors.Is(err, authevents.ErrUnauthorized) {
		return false
	}
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	return true
}

type sessionRow struct {
	generation int
	revoked    bool
	reason     string
}

func (f *fixture) sessionRow(t testing.TB, id uuid.UUID) sessionRow {
	t.Helper()
	var r sessionRow
	var reason *string
	if err := f.Pool.QueryRow(context.Background(),
		`SELECT refresh_generation, revoked_at IS NOT NULL, revoke_reason FROM sessions WHERE id = $1`, id).Scan(&r.generation, &r.revoked, &reason); err != nil {
		t.Fatal(err)
	}
	if reason != nil {
		r.reason = *reason
	}
	return r
}

func (f *fixture) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	return count(t, f.Env, sql, args...)
}

// count runs a SELECT count(*) query.
func count(t testing.TB, env *accounttest.Env, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// events returns the data of every pending event of a type, in seq order,
// after checking each envelope (see envelope); subject is the expected
// CloudEvents subject ("" for none) and timestamps are removed.
func (f *fixture) events(t testing.TB, eventType, subject string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, row := range outboxtest.Events(t, f.Pool, eventType) {
		d := envelope(t, row, eventType, subject)
		delete(d, "timestamp")
		out = append(out, d)
	}
	return out
}

// envelope checks every CloudEvents attribute of a stored event, its
// outbox subject and ordering key, and returns its data.
func envelope(t testing.TB, row outboxtest.Row, eventType, subject string) map[string]any {
	t.Helper()
	ce := row.Event.Attributes
	want := map[string]any{
		"specversion": "1.0", "id": row.ID.String(), "source": "auth-service", "type": eventType,
		"datacontenttype": "application/json", "serviceversion": "test", "environment": "test",
		"dataschema": authevents.DataSchema(eventType),
	}
	if subject != "" {
		want["subject"] = subject
	}
	for k, v := range want {
		if ce[k] != v {
			t.Errorf("envelope %s = %v, want %v", k, ce[k], v)
		}
	}
	if _, ok := ce["subject"]; subject == "" && ok {
		t.Errorf("envelope has subject %v, want none", ce["subject"])
	}
	ts := row.Event.Time
	if tt, err := time.Parse(authevents.TimestampLayout, ts); err != nil || time.Since(tt) > time.Minute {
		t.Errorf("envelope time = %q, want RFC 3339 UTC with milliseconds, recent", ts)
	}
	allowed := append(slices.Collect(maps.Keys(want)), "time", "data")
	if got := slices.Sorted(maps.Keys(ce)); !cmp.Equal(got, slices.Sorted(slices.Values(allowed))) {
		t.Errorf("envelope attributes = %v, want exactly %v", got, slices.Sorted(slices.Values(allowed)))
	}
	if row.Subject != authevents.Subject(eventType) {
		t.Errorf("outbox subject = %q, want %q", row.Subject, authevents.Subject(eventType))
	}
	if row.ID.Version() != 7 {
		t.Errorf("event id %s is not a UUIDv7", row.ID)
	}
	if subject != "" && row.OrderingKey != subject {
		t.Errorf("ordering key = %q, want the user id %s", row.OrderingKey, subject)
	}
	data := row.DataMap(t)
	if ts, _ := data["timestamp"].(string); ts != row.Event.Time {
		t.Errorf("data.timestamp = %v, want the envelope time %v", data["timestamp"], row.Event.Time)
	}
	return data
}

// noSecrets fails if a secret appears in the logs or the outbox.
func (f *fixture) noSecrets(t testing.TB, secrets ...string) {
	t.Helper()
	var payloads []string
	for _, r := range outboxtest.Pending(t, f.Pool) {
		payloads = append(payloads, r.Payload)
	}
	all := f.logs.String() + strings.Join(payloads, "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("secret %.12q... appears in logs or events", s)
		}
	}
	if strings.Contains(all, "$argon2id$") {
		t.Error("a password hash appears in logs or events")
	}
}

// wantErr fails unless err is target (errors.Is).
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// wantFields fails unless err is a *ValidationError naming exactly these
// fields.
func wantFields(t testing.TB, err error, fields ...string) {
	t.Helper()
	var ve *authevents.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a validation error naming %v", err, fields)
	}
	if got := slices.Sorted(maps.Keys(ve.Fields)); !cmp.Equal(got, slices.Sorted(slices.Values(fields))) {
		t.Fatalf("validation error fields = %v, want %v", ve.Fields, fields)
	}
}

// wantLimited fails unless err is a *RateLimitedError with a positive
// Retry-After.
func wantLimited(t testing.TB, err error) *authevents.RateLimitedError {
	t.Helper()
	var rl *authevents.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("error = %v, want a rate limit with a retry delay", err)
	}
	return rl
}

func sessionOf(t testing.TB, f *fixture, access string) uuid.UUID {
	t.Helper()
	v, err := f.Tokens.Verify(access, token.TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	return v.SessionID
}
