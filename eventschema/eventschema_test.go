package eventschema_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

func load(t *testing.T) *eventschema.Validator {
	t.Helper()
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// payloads are the Go data of each event type as the use cases fill them.
func payloads() map[string]any {
	at := authevents.Timestamp(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC))
	u, s := uuid.NewString(), uuid.NewString()
	return map[string]any{
		authevents.EventUserRegistered:     authevents.UserRegistered{UserID: u, Email: "ada@example.com", Name: "Ada", Timestamp: at},
		authevents.EventUserLoggedIn:       authevents.UserLoggedIn{UserID: u, Email: "ada@example.com", Timestamp: at, IP: "192.0.2.1", UserAgent: "ua"},
		authevents.EventUserLoginFailed:    authevents.UserLoginFailed{Email: "nobody", IP: "192.0.2.1", UserAgent: "", Reason: authevents.ReasonUnknownEmail, Timestamp: at},
		authevents.EventUserTokenRefreshed: authevents.UserTokenRefreshed{UserID: u, SessionID: s, Timestamp: at},
		authevents.EventUserLoggedOut:      authevents.UserLoggedOut{UserID: u, SessionID: s, Timestamp: at},
		authevents.EventTokenReuseDetected: authevents.TokenReuseDetected{UserID: u, SessionID: s, IP: "2001:db8::1", UserAgent: "ua", Timestamp: at},
	}
}

func event(t *testing.T, typ string, data any) []byte {
	t.Helper()
	ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service", ServiceVersion: "test", Environment: "test"},
		uuid.NewString(), typ, uuid.NewString(), time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ce)
	return b
}

// TestEveryEventTypeHasItsSchema: each type the service emits names a
// schema that exists, and each schema belongs to such a type or to its
// version 2 (a type with personal fields).
func TestEveryEventTypeHasItsSchema(t *testing.T) {
	t.Parallel()
	v := load(t)
	var want []string
	for _, typ := range authevents.EventTypes() {
		want = append(want, authevents.DataSchema(typ))
		if authevents.ProtectedType(typ) != "" {
			want = append(want, authevents.DataSchemaBase+typ+"/v2.json")
		}
	}
	slices.Sort(want)
	if got := v.Schemas(); !slices.Equal(got, want) {
		t.Errorf("schemas %v, want one per event type %v", got, want)
	}
}

// TestWhatTheServiceEmitsValidates: the Go payloads, in the envelope
// NewCloudEvent builds, keep the strict contract; a field added to a Go
// payload without its schema fails here.
func TestWhatTheServiceEmitsValidates(t *testing.T) {
	t.Parallel()
	v := load(t)
	for typ, data := range payloads() {
		if err := v.Strict(event(t, typ, data)); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	type extended struct {
		authevents.UserLoggedOut
		Secret string `json:"secret"`
	}
	body := event(t, authevents.EventUserLoggedOut, extended{payloads()[authevents.EventUserLoggedOut].(authevents.UserLoggedOut), "x"})
	if err := v.Strict(body); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("an undeclared data property passed the strict check: %v", err)
	}
	if err := v.Validate(body); err != nil {
		t.Errorf("consumers must ignore an added property, got %v", err)
	}
}

// TestSchemaExamplesValidate: the examples in the schema files (shown
// to readers, and in the AsyncAPI document) are true.
func TestSchemaExamplesValidate(t *testing.T) {
	t.Parallel()
	v := load(t)
	var env map[string]any
	b, _ := os.ReadFile("envelope/v1.json")
	json.Unmarshal(b, &env)
	for _, typ := range authevents.EventTypes() {
		b, _ := os.ReadFile(filepath.Join(typ, "v1.json"))
		var sch struct{ Examples []map[string]any }
		if err := json.Unmarshal(b, &sch); err != nil || len(sch.Examples) == 0 {
			t.Fatalf("%s: no examples (%v)", typ, err)
		}
		for _, ex := range sch.Examples {
			e := env["examples"].([]any)[0].(map[string]any)
			e["type"], e["dataschema"], e["data"] = typ, authevents.DataSchema(typ), ex
			body, _ := json.Marshal(e)
			if err := v.Strict(body); err != nil {
				t.Errorf("%s example: %v", typ, err)
			}
		}
	}
}

// TestBrokenEventsAreNamed: each way an event can break the contract is
// refused, with a one-line reason.
func TestBrokenEventsAreNamed(t *testing.T) {
	t.Parallel()
	v := load(t)
	good := event(t, authevents.EventUserRegistered, payloads()[authevents.EventUserRegistered])
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	data := func(m map[string]any) map[string]any { return m["data"].(map[string]any) }
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"not JSON", []byte(`{"specversion":`), "not JSON"},
		{"no id", edit(func(m map[string]any) { delete(m, "id") }), "id"},
		{"id not a uuid", edit(func(m map[string]any) { m["id"] = "42" }), "uuid"},
		{"wrong spec version", edit(func(m map[string]any) { m["specversion"] = "0.3" }), "specversion"},
		{"time not a time", edit(func(m map[string]any) { m["time"] = "yesterday" }), "date-time"},
		{"data missing a property", edit(func(m map[string]any) { delete(data(m), "email") }), "email"},
		{"data property of the wrong type", edit(func(m map[string]any) { data(m)["name"] = 7 }), "name"},
		{"user id not a uuid", edit(func(m map[string]any) { data(m)["userId"] = "ada" }), "userId"},
		{"unknown version of a known type", edit(func(m map[string]any) {
			m["dataschema"] = authevents.DataSchemaBase + "user.registered/v9.json"
		}), "unknown dataschema"},
		{"another type's schema", edit(func(m map[string]any) {
			m["dataschema"] = authevents.DataSchema(authevents.EventUserLoggedOut)
		}), "not a schema of this type"},
	} {
		err := v.Validate(tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("%s: Validate = %v, want a one-line error naming %q", tc.name, err, tc.want)
		}
	}
	// Events written before dataschema existed follow version 1.
	old := edit(func(m map[string]any) { delete(m, "dataschema") })
	if err := v.Validate(old); err != nil {
		t.Errorf("an event without dataschema: %v", err)
	}
	if err := v.Validate(edit(func(m map[string]any) { delete(m, "dataschema"); delete(data(m), "name") })); err == nil {
		t.Error("an event without dataschema is not checked against version 1 of its type")
	}
	// A type from a newer producer passes on its envelope.
	newer := edit(func(m map[string]any) { m["type"] = "user.mfa_enrolled"; delete(m, "dataschema") })
	if err := v.Validate(newer); err != nil {
		t.Errorf("an unknown type: %v", err)
	}
	if err := v.Strict(newer); err == nil {
		t.Error("Strict passed a type the service does not emit")
	}
}

// BenchmarkValidate is the cost a consumer pays per event before its
// handler runs.
func BenchmarkValidate(b *testing.B) {
	v, err := eventschema.Load()
	if err != nil {
		b.Fatal(err)
	}
	at := authevents.Timestamp(time.Now())
	ce, _ := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service"}, uuid.NewString(), authevents.EventUserLoggedIn, "u", time.Now(),
		authevents.UserLoggedIn{UserID: uuid.NewString(), Email: "ada@example.com", Timestamp: at, IP: "192.0.2.1", UserAgent: "Mozilla/5.0"})
	body, _ := json.Marshal(ce)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
}
