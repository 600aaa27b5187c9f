package eventschema_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

// TestSchemaURIsNameNoFolder: the URIs events carry are the contract's,
// not a path of the repository, and their path is the API route that
// serves them.
func TestSchemaURIsNameNoFolder(t *testing.T) {
	t.Parallel()
	if got, want := authevents.DataSchema(authevents.EventUserRegistered), "https://authevents.dev/schemas/events/user.registered/v1.json"; got != want {
		t.Errorf("DataSchema(user.registered) = %q, want %q", got, want)
	}
	if got, want := eventschema.Envelope, "https://authevents.dev/schemas/events/envelope/v1.json"; got != want {
		t.Errorf("Envelope = %q, want %q", got, want)
	}
	for _, id := range append(load(t).Schemas(), eventschema.Envelope) {
		if strings.Contains(id, "github") || strings.Contains(id, "/api/") {
			t.Errorf("schema URI %q names a repository folder", id)
		}
	}
}

// TestStoredEventsWithTheFormerURIValidate: events written before the
// schemas moved (still in the stream, the dead-letter stream and
// audit_log.envelope) name their dataschema under the repository folder;
// they validate as before, and against the same schema.
func TestStoredEventsWithTheFormerURIValidate(t *testing.T) {
	t.Parallel()
	v := load(t)
	for typ, data := range payloads() {
		var m map[string]any
		json.Unmarshal(event(t, typ, data), &m)
		m["dataschema"] = "https://raw.githubusercontent.com/authevents/authevents/main/api/eventschema/" + typ + "/v1.json"
		old, _ := json.Marshal(m)
		if err := v.Validate(old); err != nil {
			t.Errorf("%s with the former dataschema: %v", typ, err)
		}
		if err := v.Strict(old); err == nil {
			t.Errorf("%s: Strict passed the former dataschema; producers must write the current one", typ)
		}
		m["data"].(map[string]any)["timestamp"] = "yesterday"
		broken, _ := json.Marshal(m)
		if err := v.Validate(broken); err == nil || !strings.Contains(err.Error(), "timestamp") {
			t.Errorf("%s with the former dataschema and a bad timestamp: Validate = %v, want the data checked", typ, err)
		}
	}
	var m map[string]any
	json.Unmarshal(event(t, authevents.EventUserLoggedOut, payloads()[authevents.EventUserLoggedOut]), &m)
	m["dataschema"] = eventschema.LegacyBase + "user.registered/v1.json"
	wrong, _ := json.Marshal(m)
	if err := v.Validate(wrong); err == nil || !strings.Contains(err.Error(), "not a schema of this type") {
		t.Errorf("another type's schema under the former URI: Validate = %v", err)
	}
}

// TestFileServesEachSchema: File returns each schema by the path of its
// URI, and nothing else.
func TestFileServesEachSchema(t *testing.T) {
	t.Parallel()
	for _, id := range append(load(t).Schemas(), eventschema.Envelope) {
		name := strings.TrimPrefix(id, authevents.DataSchemaBase)
		b, ok := eventschema.File(name)
		var doc struct {
			ID string `json:"$id"`
		}
		if !ok || json.Unmarshal(b, &doc) != nil || doc.ID != id {
			t.Errorf("File(%q) = %.40q, %v; want the schema with $id %s", name, b, ok, id)
		}
	}
	for _, name := range []string{"", "asyncapi.yaml", "eventschema.go", "user.registered", "user.registered/v9.json",
		"../event.go", "user.registered/../envelope/v1.json", "/envelope/v1.json", "testdata/asyncapi/3.0.0.json"} {
		if b, ok := eventschema.File(name); ok {
			t.Errorf("File(%q) = %.40q, want none", name, b)
		}
	}
}
