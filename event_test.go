package authevents_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/authevents/authevents"
)

// wireNames are each event type's NATS subject and dataschema URI, written
// out: they are the wire format, and a change to them must show here.
var wireNames = map[string]struct{ subject, dataschema string }{
	"user.registered":                   {"auth.user.registered", "https://authevents.dev/schemas/events/user.registered/v1.json"},
	"user.logged_in":                    {"auth.user.logged_in", "https://authevents.dev/schemas/events/user.logged_in/v1.json"},
	"user.login_failed":                 {"auth.user.login_failed", "https://authevents.dev/schemas/events/user.login_failed/v1.json"},
	"user.token_refreshed":              {"auth.user.token_refreshed", "https://authevents.dev/schemas/events/user.token_refreshed/v1.json"},
	"user.logged_out":                   {"auth.user.logged_out", "https://authevents.dev/schemas/events/user.logged_out/v1.json"},
	"user.token_reuse_detected":         {"auth.user.token_reuse_detected", "https://authevents.dev/schemas/events/user.token_reuse_detected/v1.json"},
	"user.email_verification_requested": {"auth.user.email_verification_requested", "https://authevents.dev/schemas/events/user.email_verification_requested/v1.json"},
	"user.email_verified":               {"auth.user.email_verified", "https://authevents.dev/schemas/events/user.email_verified/v1.json"},
	"user.registration_attempted":       {"auth.user.registration_attempted", "https://authevents.dev/schemas/events/user.registration_attempted/v1.json"},
	"user.password_reset_requested":     {"auth.user.password_reset_requested", "https://authevents.dev/schemas/events/user.password_reset_requested/v1.json"},
	"user.password_changed":             {"auth.user.password_changed", "https://authevents.dev/schemas/events/user.password_changed/v1.json"},
	"user.email_change_requested":       {"auth.user.email_change_requested", "https://authevents.dev/schemas/events/user.email_change_requested/v1.json"},
	"user.email_changed":                {"auth.user.email_changed", "https://authevents.dev/schemas/events/user.email_changed/v1.json"},
	"user.disabled":                     {"auth.user.disabled", "https://authevents.dev/schemas/events/user.disabled/v1.json"},
	"user.enabled":                      {"auth.user.enabled", "https://authevents.dev/schemas/events/user.enabled/v1.json"},
	"user.deleted":                      {"auth.user.deleted", "https://authevents.dev/schemas/events/user.deleted/v1.json"},
}

// TestEventTypesAreTheWireNames: the domain's list of event types is the
// list above.
func TestEventTypesAreTheWireNames(t *testing.T) {
	t.Parallel()
	got := authevents.EventTypes()
	for _, typ := range got {
		if _, ok := wireNames[typ]; !ok {
			t.Errorf("EventTypes() has %q, which this test does not know", typ)
		}
	}
	if len(got) != len(wireNames) {
		t.Errorf("EventTypes() = %q, want the %d types of this test", got, len(wireNames))
	}
}

// TestEventsCarryTheirDataSchema: every event names the versioned JSON
// Schema of its data in the CloudEvents dataschema attribute.
func TestEventsCarryTheirDataSchema(t *testing.T) {
	t.Parallel()
	for _, typ := range authevents.EventTypes() {
		ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service"}, "id-1", typ, "u1", time.Unix(0, 0), struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		want := wireNames[typ].dataschema
		if ce.DataSchema != want || authevents.DataSchema(typ) != want {
			t.Errorf("%s: dataschema %q, DataSchema %q, want %q", typ, ce.DataSchema, authevents.DataSchema(typ), want)
		}
		b, _ := json.Marshal(ce)
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["dataschema"] != want {
			t.Errorf("%s: JSON dataschema = %v, want %q", typ, m["dataschema"], want)
		}
	}
	if got := authevents.DataSchema("user.unknown"); got != "" {
		t.Errorf("DataSchema of an unknown type = %q, want empty", got)
	}
}

// TestCloudEventJSON: the envelope of one event, byte for byte, as
// consumers read it from the stream.
func TestCloudEventJSON(t *testing.T) {
	t.Parallel()
	src := authevents.EventSource{Source: "auth-service", ServiceVersion: "v0.1.0", Environment: "production"}
	at := time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	data := authevents.UserRegistered{UserID: "u1", Email: "user@example.com", Name: "John Doe", Timestamp: authevents.Timestamp(at)}
	ce, err := authevents.NewCloudEvent(src, "0193e0a0-0000-7000-8000-000000000001", "user.registered", "u1", at, data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"specversion":"1.0","id":"0193e0a0-0000-7000-8000-000000000001","source":"auth-service",` +
		`"type":"user.registered","time":"2026-11-28T11:00:00.123Z","subject":"u1","datacontenttype":"application/json",` +
		`"dataschema":"https://authevents.dev/schemas/events/user.registered/v1.json",` +
		`"serviceversion":"v0.1.0","environment":"production",` +
		`"data":{"userId":"u1","email":"user@example.com","name":"John Doe","timestamp":"2026-11-28T11:00:00.123Z"}}`
	if string(got) != want {
		t.Errorf("CloudEvent JSON:\n got %s\nwant %s", got, want)
	}
	// An event without a subject (an unknown account's login failure)
	// leaves the attribute out.
	ce, err = authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service"}, "id-2", "user.login_failed", "", at, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = json.Marshal(ce)
	const wantNoSubject = `{"specversion":"1.0","id":"id-2","source":"auth-service","type":"user.login_failed",` +
		`"time":"2026-11-28T11:00:00.123Z","datacontenttype":"application/json",` +
		`"dataschema":"https://authevents.dev/schemas/events/user.login_failed/v1.json",` +
		`"serviceversion":"","environment":"","data":{}}`
	if string(got) != wantNoSubject {
		t.Errorf("CloudEvent JSON without subject:\n got %s\nwant %s", got, wantNoSubject)
	}
}

// TestTypeOfSubjectInvertsSubject: each event type's NATS subject, and the
// mapping back.
func TestTypeOfSubjectInvertsSubject(t *testing.T) {
	for _, typ := range authevents.EventTypes() {
		want := wireNames[typ].subject
		if got := authevents.Subject(typ); got != want {
			t.Errorf("Subject(%q) = %q, want %q", typ, got, want)
		}
		if got := authevents.TypeOfSubject(want); got != typ {
			t.Errorf("TypeOfSubject(%q) = %q, want %q", want, got, typ)
		}
		if !authevents.IsEventType(typ) {
			t.Errorf("IsEventType(%q) = false", typ)
		}
	}
	for in, want := range map[string]string{
		"auth.user.registered": "user.registered",
		"other.thing":          "other.thing",
		"auth.":                "",
	} {
		if got := authevents.TypeOfSubject(in); got != want {
			t.Errorf("TypeOfSubject(%q) = %q, want %q", in, got, want)
		}
	}
	if authevents.IsEventType("user.unknown") || authevents.IsEventType("") {
		t.Error("IsEventType accepts a type the domain does not emit")
	}
}

// TestProtectedTypes: every type with personal fields has a version 2
// named by the versioning rule, and BaseType undoes it; a type without
// personal fields has none.
func TestProtectedTypes(t *testing.T) {
	t.Parallel()
	for _, typ := range authevents.EventTypes() {
		p := authevents.ProtectedType(typ)
		if (p == "") != (len(authevents.PersonalFields(typ)) == 0) {
			t.Errorf("%s: ProtectedType %q with personal fields %v", typ, p, authevents.PersonalFields(typ))
		}
		if p == "" {
			continue
		}
		if p != typ+"_v2" {
			t.Errorf("ProtectedType(%s) = %q", typ, p)
		}
		if b, v := authevents.BaseType(p); b != typ || v != 2 {
			t.Errorf("BaseType(%s) = %q, %d", p, b, v)
		}
		if b, v := authevents.BaseType(typ); b != typ || v != 1 {
			t.Errorf("BaseType(%s) = %q, %d", typ, b, v)
		}
	}
	if got := authevents.ProtectedType(authevents.EventUserTokenRefreshed); got != "" {
		t.Errorf("user.token_refreshed has no personal field, but ProtectedType = %q", got)
	}
	if b, v := authevents.BaseType("user.token_refreshed_v2"); b != "user.token_refreshed_v2" || v != 1 {
		t.Errorf("BaseType of a version that does not exist = %q, %d", b, v)
	}
	if n := len(authevents.ProtectedEventTypes()); n != 12 {
		t.Errorf("%d protected types, want 12", n)
	}
}
