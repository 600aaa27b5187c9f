package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

type fixture struct {
	*accounttest.Env
	h    http.Handler
	srv  *httptest.Server
	reg  *prometheus.Registry
	logs *testenv.Buffer
}

func setup(t testing.TB, cfg api.Config, opts ...func(*accounttest.Options)) *fixture {
	t.Helper()
	logs := &testenv.Buffer{}
	log := logging.New(logs, "debug")
	reg := prometheus.NewRegistry()
	m := api.NewMetrics(reg)
	o := accounttest.Options{Log: log, ObserveOp: m.ObserveHash,
		Account: []account.Option{account.WithCommitHook(m.EventCommitted)}}
	for _, f := range opts {
		f(&o)
	}
	env := accounttest.New(t, o)
	h, err := api.New(env.Service, cfg, log, m)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{Env: env, h: h, srv: srv, reg: reg, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (f *fixture) do(t *testing.T, method, path string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "authevents-test/1.0")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

type apiError struct {
	Error api.Error `json:"error"`
}

// wantError checks status, code and the exact set of named fields.
func wantError(t *testing.T, r response, status int, code string, fields ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	var e apiError
	r.json(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %+v, want code %q with a message", e.Error, code)
	}
	if e.Error.Fields == nil {
		t.Errorf("error.fields missing from %s", r.body)
	}
	var got []string
	for k := range e.Error.Fields {
		got = append(got, k)
	}
	if !cmp.Equal(got, fields, cmp.Transformer("sort", sortStrings)) && !(len(got) == 0 && len(fields) == 0) {
		t.Errorf("error fields = %v, want %v (%s)", e.Error.Fields, fields, r.body)
	}
}

func sortStrings(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

const goodPassword = "correct horse battery staple"

func (f *fixture) register(t *testing.T, email string) api.TokenResponse {
	t.Helper()
	r := f.do(t, "POST", "/auth/register", map[string]string{"email": email, "password": goodPassword, "name": "Ada Lovelace"})
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	var tr api.TokenResponse
	r.json(t, &tr)
	return tr
}

// outboxRow is one stored event.
type outboxRow struct {
	ID      uuid.UUID
	Subject string
	Payload string
	Key     string
}

func (f *fixture) events(t *testing.T, eventType string) []outboxRow {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(),
		`SELECT id, subject, payload, ordering_key FROM outbox WHERE subject = $1 ORDER BY seq`, authevents.Subject(eventType))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.ID, &r.Subject, &r.Payload, &r.Key); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// envelope decodes a stored payload and checks every CloudEvents attribute;
// it returns the data object.
func envelope(t *testing.T, row outboxRow, eventType, subject string) map[string]any {
	t.Helper()
	var ce map[string]any
	if err := json.Unmarshal([]byte(row.Payload), &ce); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	want := map[string]any{
		"specversion": "1.0", "id": row.ID.String(), "source": "auth-service", "type": eventType,
		"datacontenttype": "application/json", "serviceversion": "test", "environment": "test",
	}
	if subject != "" {
		want["subject"] = subject
	}
	for k, v := range want {
		if ce[k] != v {
			t.Errorf("envelope %s = %v, want %v", k, ce[k], v)
		}
	}
	if subject == "" {
		if _, ok := ce["subject"]; ok {
			t.Errorf("envelope has subject %v, want none", ce["subject"])
		}
	}
	ts, _ := ce["time"].(string)
	if tt, err := time.Parse(authevents.TimestampLayout, ts); err != nil || time.Since(tt) > time.Minute {
		t.Errorf("envelope time = %q, want RFC 3339 UTC with milliseconds, recent", ts)
	}
	allowed := []string{"time", "data"}
	for k := range want {
		allowed = append(allowed, k)
	}
	if got := keys(ce); !cmp.Equal(got, sortStrings(allowed)) {
		t.Errorf("envelope attributes = %v, want exactly %v", got, sortStrings(allowed))
	}
	if row.Subject != authevents.Subject(eventType) {
		t.Errorf("outbox subject = %q, want %q", row.Subject, authevents.Subject(eventType))
	}
	if id, err := uuid.Parse(row.ID.String()); err != nil || id.Version() != 7 {
		t.Errorf("event id %s is not a UUIDv7", row.ID)
	}
	data, ok := ce["data"].(map[string]any)
	if !ok {
		t.Fatalf("envelope data = %v", ce["data"])
	}
	if ts, _ := data["timestamp"].(string); ts != ce["time"] {
		t.Errorf("data.timestamp = %v, want the envelope time %v", data["timestamp"], ce["time"])
	}
	return data
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sortStrings(out)
}

// noSecrets fails if any secret appears in the logs or the outbox.
func (f *fixture) noSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	var payloads []string
	rows, _ := f.Pool.Query(context.Background(), `SELECT payload FROM outbox`)
	for rows.Next() {
		var p string
		rows.Scan(&p)
		payloads = append(payloads, p)
	}
	rows.Close()
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

func TestRegister(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	r := f.do(t, "POST", "/auth/register", map[string]string{"email": "  Ada@Example.COM ", "password": goodPassword, "name": " Ada Lovelace "})
	if r.status != http.StatusCreated {
		t.Fatalf("status = %d, body %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	var raw map[string]any
	r.json(t, &raw)
	if got := keys(raw); !cmp.Equal(got, []string{"accessToken", "expiresIn", "refreshToken", "tokenType", "user"}) {
		t.Errorf("response keys = %v", got)
	}
	var tr api.TokenResponse
	r.json(t, &tr)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.User.Email != "ada@example.com" || tr.User.Name != "Ada Lovelace" {
		t.Fatalf("response = %+v", tr)
	}
	user := raw["user"].(map[string]any)
	if got := keys(user); !cmp.Equal(got, []string{"createdAt", "email", "id", "name"}) {
		t.Errorf("user keys = %v", got)
	}
	access, err := f.Tokens.Verify(tr.AccessToken, token.TypeAccess)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	refresh, err := token.ParseRefresh(tr.RefreshToken)
	if err != nil {
		t.Fatalf("refresh token: %v", err)
	}
	if access.UserID.String() != tr.User.ID || access.SessionID != refresh.SessionID || refresh.UserID != access.UserID {
		t.Errorf("tokens do not belong to the user's one session: %+v %+v", access, refresh)
	}
	var jti uuid.UUID
	var userID uuid.UUID
	if err := f.Pool.QueryRow(context.Background(), `SELECT user_id, refresh_jti FROM sessions WHERE id = $1`, access.SessionID).Scan(&userID, &jti); err != nil {
		t.Fatalf("session row: %v", err)
	}
	if jti != refresh.ID() || userID.String() != tr.User.ID {
		t.Errorf("session row refresh_jti = %s user = %s, want %s %s", jti, userID, refresh.ID(), tr.User.ID)
	}

	evs := f.events(t, authevents.EventUserRegistered)
	if len(evs) != 1 {
		t.Fatalf("%d user.registered events, want 1", len(evs))
	}
	data := envelope(t, evs[0], authevents.EventUserRegistered, tr.User.ID)
	delete(data, "timestamp")
	if want := map[string]any{"userId": tr.User.ID, "email": "ada@example.com", "name": "Ada Lovelace"}; !cmp.Equal(data, want) {
		t.Errorf("user.registered data = %v, want %v", data, want)
	}
	if evs[0].Key != tr.User.ID {
		t.Errorf("ordering key = %q, want the user id", evs[0].Key)
	}
	if got := testutil.ToFloat64(metric(t, f.reg, "authevents_outbox_appended_total", "user.registered")); got != 1 {
		t.Errorf("appended metric = %v, want 1", got)
	}
	f.noSecrets(t, goodPassword, tr.AccessToken, tr.RefreshToken)
}

func TestRegisterDuplicateEmail(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	f.register(t, "dup@example.com")
	for _, email := range []string{"dup@example.com", " DUP@example.com", "d\u200bup@ｅｘａｍｐｌｅ.com"} {
		r := f.do(t, "POST", "/auth/register", map[string]string{"email": email, "password": goodPassword, "name": "Other"})
		wantError(t, r, http.StatusConflict, api.CodeEmailTaken)
	}
	if n := len(f.events(t, authevents.EventUserRegistered)); n != 1 {
		t.Errorf("%d user.registered events, want 1", n)
	}
}

func TestConcurrentDuplicateRegistration(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	const n = 12
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := f.do(t, "POST", "/auth/register", map[string]string{"email": "race@example.com", "password": goodPassword, "name": fmt.Sprint("racer ", i)})
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
		t.Fatalf("statuses = %v, want exactly one 201 and %d 409", count, n-1)
	}
	var users, sessions int
	f.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions)`).Scan(&users, &sessions)
	if users != 1 || sessions != 1 || len(f.events(t, authevents.EventUserRegistered)) != 1 {
		t.Fatalf("users=%d sessions=%d events=%d, want 1 each", users, sessions, len(f.events(t, authevents.EventUserRegistered)))
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	for _, tc := range []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"all missing", map[string]any{}, []string{"email", "name", "password"}},
		{"bad email", map[string]any{"email": "nope", "password": goodPassword, "name": "A"}, []string{"email"}},
		{"crlf email", map[string]any{"email": "a@b.com\r\nBcc: c@d.com", "password": goodPassword, "name": "A"}, []string{"email"}},
		{"short password", map[string]any{"email": "a@b.com", "password": "short", "name": "A"}, []string{"password"}},
		{"common password", map[string]any{"email": "a@b.com", "password": "password123", "name": "A"}, []string{"password"}},
		{"password is email", map[string]any{"email": "longaddress@b.com", "password": "LongAddress@b.com", "name": "A"}, []string{"password"}},
		{"long password", map[string]any{"email": "a@b.com", "password": strings.Repeat("x", 257), "name": "A"}, []string{"password"}},
		{"control in name", map[string]any{"email": "a@b.com", "password": goodPassword, "name": "A\x07"}, []string{"name"}},
		{"long name", map[string]any{"email": "a@b.com", "password": goodPassword, "name": strings.Repeat("n", 101)}, []string{"name"}},
		{"null fields", map[string]any{"email": nil, "password": nil, "name": nil}, []string{"email", "name", "password"}},
		{"email not a string", map[string]any{"email": 42, "password": goodPassword, "name": "A"}, []string{"email"}},
		{"name is an object", map[string]any{"email": "a@b.com", "password": goodPassword, "name": map[string]any{}}, []string{"name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.do(t, "POST", "/auth/register", tc.body), http.StatusBadRequest, api.CodeValidation, tc.fields...)
		})
	}
	var n int
	f.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM outbox)`).Scan(&n)
	if n != 0 {
		t.Fatalf("rejected requests wrote %d rows", n)
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	big := `{"email":"a@b.com","password":"` + strings.Repeat("x", 70<<10) + `","name":"A"}`
	for _, path := range []string{"/auth/register", "/auth/login"} {
		for _, tc := range []struct {
			name        string
			body        string
			contentType string
			status      int
			code        string
		}{
			{"not json", "{email:", "application/json", 400, api.CodeInvalidJSON},
			{"truncated", `{"email":"a@b.com"`, "application/json", 400, api.CodeInvalidJSON},
			{"empty body", "", "application/json", 400, api.CodeInvalidJSON},
			{"array", `[1,2]`, "application/json", 400, api.CodeInvalidJSON},
			{"string", `"hello"`, "application/json", 400, api.CodeInvalidJSON},
			{"two objects", `{"email":"a@b.com"} {"x":1}`, "application/json", 400, api.CodeInvalidJSON},
			{"form encoded", "email=a@b.com", "application/x-www-form-urlencoded", 415, api.CodeUnsupportedMedia},
			{"no content type", `{"email":"a@b.com"}`, "", 415, api.CodeUnsupportedMedia},
			{"text/plain", `{"email":"a@b.com"}`, "text/plain", 415, api.CodeUnsupportedMedia},
			{"over 64 KiB", big, "application/json", 413, api.CodeTooLarge},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				r := f.do(t, "POST", path, tc.body, "Content-Type", tc.contentType)
				wantError(t, r, tc.status, tc.code)
			})
		}
	}
	// charset parameter is fine.
	r := f.do(t, "POST", "/auth/register", `{"email":"cs@b.com","password":"`+goodPassword+`","name":"A"}`, "Content-Type", "application/json; charset=utf-8")
	if r.status != http.StatusCreated {
		t.Fatalf("application/json; charset=utf-8 -> %d %s", r.status, r.body)
	}
	wantError(t, f.do(t, "GET", "/nope", nil), http.StatusNotFound, api.CodeNotFound)
	wantError(t, f.do(t, "GET", "/auth/register", nil), http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "login@example.com")
	r := f.do(t, "POST", "/auth/login", map[string]string{"email": "LOGIN@example.com ", "password": goodPassword})
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var tr api.TokenResponse
	r.json(t, &tr)
	if tr.User.ID != reg.User.ID || tr.TokenType != "Bearer" || tr.ExpiresIn != 900 {
		t.Fatalf("login response = %+v", tr)
	}
	a, err := f.Tokens.Verify(tr.AccessToken, token.TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := f.Tokens.Verify(reg.AccessToken, token.TypeAccess)
	if a.SessionID == ra.SessionID {
		t.Error("login reused the registration session; want a new one")
	}
	var last *time.Time
	f.Pool.QueryRow(context.Background(), `SELECT last_login_at FROM users WHERE id = $1`, reg.User.ID).Scan(&last)
	if last == nil || time.Since(*last) > time.Minute {
		t.Errorf("last_login_at = %v, want now", last)
	}
	evs := f.events(t, authevents.EventUserLoggedIn)
	if len(evs) != 1 {
		t.Fatalf("%d logged_in events", len(evs))
	}
	data := envelope(t, evs[0], authevents.EventUserLoggedIn, reg.User.ID)
	delete(data, "timestamp")
	want := map[string]any{"userId": reg.User.ID, "email": "login@example.com", "ip": "127.0.0.1", "userAgent": "authevents-test/1.0"}
	if !cmp.Equal(data, want) {
		t.Errorf("logged_in data = %v, want %v", data, want)
	}
	f.noSecrets(t, goodPassword, tr.AccessToken, tr.RefreshToken, reg.AccessToken, reg.RefreshToken)
}

func hashOps(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "authevents_password_hash_duration_seconds" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "op" && l.GetValue() == "verify" {
						return float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
	}
	return 0
}

// TestLoginFailuresAreIndistinguishable: unknown email and wrong password
// give byte-identical responses, and both cost exactly one argon2id
// verification (the unknown one against a dummy hash of the same cost), so
// neither body nor timing tells which emails exist.
func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "known@example.com")

	before := hashOps(t, f.reg)
	wrong := f.do(t, "POST", "/auth/login", map[string]string{"email": "known@example.com", "password": "not the password"})
	afterWrong := hashOps(t, f.reg)
	unknown := f.do(t, "POST", "/auth/login", map[string]string{"email": "nobody@example.com", "password": "not the password"})
	afterUnknown := hashOps(t, f.reg)
	malformed := f.do(t, "POST", "/auth/login", map[string]string{"email": "not-an-email", "password": "not the password"})
	afterMalformed := hashOps(t, f.reg)

	wantError(t, wrong, http.StatusUnauthorized, api.CodeInvalidCreds)
	if !bytes.Equal(wrong.body, unknown.body) || !bytes.Equal(wrong.body, malformed.body) {
		t.Errorf("bodies differ:\n%s\n%s\n%s", wrong.body, unknown.body, malformed.body)
	}
	if afterWrong-before != 1 || afterUnknown-afterWrong != 1 || afterMalformed-afterUnknown != 1 {
		t.Errorf("verifications: wrong password %v, unknown email %v, malformed %v; want 1 each",
			afterWrong-before, afterUnknown-afterWrong, afterMalformed-afterUnknown)
	}
	if wrong.header.Get("WWW-Authenticate") != unknown.header.Get("WWW-Authenticate") {
		t.Error("headers differ between unknown email and wrong password")
	}

	evs := f.events(t, authevents.EventUserLoginFailed)
	if len(evs) != 3 {
		t.Fatalf("%d login_failed events, want 3", len(evs))
	}
	d0 := envelope(t, evs[0], authevents.EventUserLoginFailed, reg.User.ID)
	delete(d0, "timestamp")
	if want := map[string]any{"email": "known@example.com", "userId": reg.User.ID, "ip": "127.0.0.1", "userAgent": "authevents-test/1.0", "reason": "invalid_password"}; !cmp.Equal(d0, want) {
		t.Errorf("login_failed (wrong password) = %v, want %v", d0, want)
	}
	d1 := envelope(t, evs[1], authevents.EventUserLoginFailed, "")
	delete(d1, "timestamp")
	if want := map[string]any{"email": "nobody@example.com", "ip": "127.0.0.1", "userAgent": "authevents-test/1.0", "reason": "unknown_email"}; !cmp.Equal(d1, want) {
		t.Errorf("login_failed (unknown email) = %v, want %v", d1, want)
	}
	f.noSecrets(t, "not the password", goodPassword)

	// Missing fields are a validation error, not a credentials check.
	wantError(t, f.do(t, "POST", "/auth/login", map[string]string{}), http.StatusBadRequest, api.CodeValidation, "email", "password")
	// A huge password is refused before hashing.
	b := hashOps(t, f.reg)
	wantError(t, f.do(t, "POST", "/auth/login", map[string]string{"email": "known@example.com", "password": strings.Repeat("p", 300)}), http.StatusBadRequest, api.CodeValidation, "password")
	if hashOps(t, f.reg) != b {
		t.Error("an over-long password was hashed")
	}
}

func TestMeAndTokenAttacks(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	reg := f.register(t, "me@example.com")
	r := f.do(t, "GET", "/auth/me", nil, "Authorization", "Bearer "+reg.AccessToken)
	if r.status != http.StatusOK {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	var u api.UserResponse
	r.json(t, &u)
	if u.ID != reg.User.ID || u.Email != "me@example.com" || u.Name != "Ada Lovelace" {
		t.Fatalf("me = %+v", u)
	}
	if r2 := f.do(t, "GET", "/auth/me", nil, "Authorization", "bearer "+reg.AccessToken); r2.status != 200 {
		t.Errorf("lower-case scheme rejected: %d", r2.status)
	}

	a, _ := f.Tokens.Verify(reg.AccessToken, token.TypeAccess)
	sign := func(s token.Spec) string {
		raw, err := f.Tokens.Sign(s)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	base := token.Spec{Type: token.TypeAccess, UserID: a.UserID, SessionID: a.SessionID, ID: uuid.New(), IssuedAt: time.Now(), TTL: time.Minute}
	expired := base
	expired.IssuedAt = time.Now().Add(-time.Hour)
	ghost := base
	ghost.UserID = uuid.New()
	parts := strings.Split(reg.AccessToken, ".")
	for name, hdr := range map[string]string{
		"no header":         "",
		"basic auth":        "Basic dXNlcjpwYXNz",
		"bearer only":       "Bearer ",
		"garbage":           "Bearer garbage",
		"refresh as access": "Bearer " + reg.RefreshToken,
		"expired":           "Bearer " + sign(expired),
		"tampered":          "Bearer " + parts[0] + "." + parts[1] + "x." + parts[2],
		"alg none":          "Bearer " + parts[0][:0] + "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",
		"unknown user":      "Bearer " + sign(ghost),
	} {
		t.Run(name, func(t *testing.T) {
			r := f.do(t, "GET", "/auth/me", nil, "Authorization", hdr)
			wantError(t, r, http.StatusUnauthorized, api.CodeUnauthorized)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	r := f.do(t, "GET", "/.well-known/jwks.json", nil)
	if r.status != 200 {
		t.Fatalf("jwks: %d", r.status)
	}
	var doc struct{ Keys []map[string]any }
	r.json(t, &doc)
	if len(doc.Keys) != 1 || doc.Keys[0]["kid"] != f.Tokens.KeyID() || doc.Keys[0]["kty"] != "OKP" {
		t.Fatalf("jwks = %s", r.body)
	}
	if _, ok := doc.Keys[0]["d"]; ok {
		t.Fatal("JWKS exposes the private key")
	}
}

func TestRequestIDAndClientIP(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	r := f.do(t, "GET", "/.well-known/jwks.json", nil, "X-Request-ID", "abc-123")
	if r.header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("X-Request-ID echoed as %q", r.header.Get("X-Request-ID"))
	}
	r = f.do(t, "GET", "/.well-known/jwks.json", nil, "X-Request-ID", strings.Repeat("a", 200))
	if id := r.header.Get("X-Request-ID"); len(id) != 36 {
		t.Errorf("over-long request id not replaced: %q", id)
	}
	r = f.do(t, "GET", "/.well-known/jwks.json", nil)
	if _, err := uuid.Parse(r.header.Get("X-Request-ID")); err != nil {
		t.Errorf("generated request id %q is not a UUID", r.header.Get("X-Request-ID"))
	}
	if !strings.Contains(f.logs.String(), `"request_id":"abc-123"`) || !strings.Contains(f.logs.String(), `"route":"/.well-known/jwks.json"`) {
		t.Errorf("access log missing: %s", f.logs.String())
	}

	// Untrusted peer: X-Forwarded-For is ignored.
	f.register(t, "ip@example.com")
	f.do(t, "POST", "/auth/login", map[string]string{"email": "ip@example.com", "password": goodPassword}, "X-Forwarded-For", "203.0.113.9")
	evs := f.events(t, authevents.EventUserLoggedIn)
	if d := envelope(t, evs[len(evs)-1], authevents.EventUserLoggedIn, mustUserID(t, f, "ip@example.com")); d["ip"] != "127.0.0.1" {
		t.Errorf("ip with untrusted X-Forwarded-For = %v, want the peer 127.0.0.1", d["ip"])
	}

	// Trusted proxy: the address before it in X-Forwarded-For is the client.
	g := setup(t, api.Config{TrustedProxies: []string{"127.0.0.1/32"}})
	g.register(t, "ip@example.com")
	g.do(t, "POST", "/auth/login", map[string]string{"email": "ip@example.com", "password": goodPassword}, "X-Forwarded-For", "198.51.100.1, 203.0.113.9")
	evs = g.events(t, authevents.EventUserLoggedIn)
	if d := envelope(t, evs[len(evs)-1], authevents.EventUserLoggedIn, mustUserID(t, g, "ip@example.com")); d["ip"] != "203.0.113.9" {
		t.Errorf("ip behind a trusted proxy = %v, want 203.0.113.9 (the rightmost untrusted hop)", d["ip"])
	}
}

func mustUserID(t *testing.T, f *fixture, email string) string {
	t.Helper()
	var id uuid.UUID
	if err := f.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	f.register(t, "m@example.com")
	f.do(t, "POST", "/auth/login", map[string]string{"email": "m@example.com", "password": "wrong password!"})
	f.do(t, "GET", "/no/such/route/"+uuid.NewString(), nil)
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"/auth/register", "POST", "201"}, 1},
		{[]string{"/auth/login", "POST", "401"}, 1},
		{[]string{"unmatched", "GET", "404"}, 1},
	} {
		if got := testutil.ToFloat64(metric(t, f.reg, "authevents_http_requests_total", tc.labels...)); got != tc.want {
			t.Errorf("requests%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(metric(t, f.reg, "authevents_outbox_appended_total", "user.login_failed")); got != 1 {
		t.Errorf("appended{user.login_failed} = %v, want 1", got)
	}
}

// metric finds one series by name and label values, via the registry.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			if cmp.Equal(sortStrings(vals), sortStrings(labels)) {
				v := m.GetCounter().GetValue()
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return v })
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return 0 })
}
