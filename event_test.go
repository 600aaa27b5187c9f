package authevents_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/authevents/authevents"
)

// TestEventsCarryTheirDataSchema: every event names the versioned JSON
// Schema of its data in the CloudEvents dataschema attribute.
func TestEventsCarryTheirDataSchema(t *testing.T) {
	t.Parallel()
	for _, typ := range authevents.EventTypes() {
		ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service"}, "id-1", typ, "u1", time.Unix(0, 0), struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		want := authevents.DataSchemaBase + typ + "/v1.json"
		if ce.DataSchema != want || authevents.DataSchema(typ) != want {
			t.Errorf("%s: dataschema %q, DataSchema %q, want %q", typ, ce.DataSchema, authevents.DataSchema(typ), want)
		}
		b, _ := json.Marshal(ce)
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["dataschema"] != want {
			t.Errorf("%s: JSON dataschema = %v", typ, m["dataschema"])
		}
	}
	if got := authevents.DataSchema("user.unknown"); got != "" {
		t.Errorf("DataSchema of an unknown type = %q, want empty", got)
	}
}

func TestTypeOfSubjectInvertsSubject(t *testing.T) {
	for _, typ := range authevents.EventTypes() {
		if got := authevents.TypeOfSubject(authevents.Subject(typ)); got != typ {
			t.Errorf("TypeOfSubject(Subject(%q)) = %q", typ, got)
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
