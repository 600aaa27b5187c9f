package eventschema_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

// TestProtectedSchemasAreGenerated: every type with personal fields has a
// version 2 file, equal to its derivation from version 1 (`go generate
// ./eventschema` after changing a version 1 schema), and no other type
// has one.
func TestProtectedSchemasAreGenerated(t *testing.T) {
	t.Parallel()
	for _, typ := range authevents.EventTypes() {
		file, ok := eventschema.File(typ + "/v2.json")
		if authevents.ProtectedType(typ) == "" {
			if ok {
				t.Errorf("%s has no personal fields but a v2.json", typ)
			}
			continue
		}
		want, err := eventschema.ProtectedSchema(typ)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || !bytes.Equal(file, want) {
			t.Errorf("%s/v2.json is not its derivation from v1.json: run go generate ./eventschema", typ)
		}
	}
}

// TestProtectedEvents: version 2 events validate with their examples, and
// one carrying a personal value in clear, or lacking keyOwner or a
// pseudonym, does not.
func TestProtectedEvents(t *testing.T) {
	t.Parallel()
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range authevents.EventTypes() {
		v2 := authevents.ProtectedType(typ)
		if v2 == "" {
			continue
		}
		file, _ := eventschema.File(typ + "/v2.json")
		var doc struct {
			Required []string         `json:"required"`
			Examples []map[string]any `json:"examples"`
		}
		if err := json.Unmarshal(file, &doc); err != nil || len(doc.Examples) == 0 {
			t.Fatalf("%s v2: %v, %d examples", typ, err, len(doc.Examples))
		}
		event := func(data map[string]any) []byte {
			b, _ := json.Marshal(map[string]any{
				"specversion": "1.0", "id": "0190a4c8-0000-7000-8000-0000000000e1", "source": "auth-service", "type": v2,
				"time": "2026-01-02T03:04:05.678Z", "datacontenttype": "application/json",
				"dataschema": authevents.DataSchemaBase + typ + "/v2.json", "serviceversion": "test", "environment": "test", "data": data,
			})
			return b
		}
		ex := doc.Examples[0]
		if err := v.Validate(event(ex)); err != nil {
			t.Errorf("%s: its example does not validate: %v", v2, err)
		}
		for _, f := range authevents.PersonalFields(typ) {
			clear := clone(ex)
			clear[f] = "ada@example.com"
			if err := v.Validate(event(clear)); err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("%s with %s in clear: %v, want refused naming %s", v2, f, err, f)
			}
		}
		for _, req := range []string{"keyOwner", "ipPseudonym"} {
			if _, ok := ex[req]; !ok {
				continue
			}
			missing := clone(ex)
			delete(missing, req)
			if err := v.Validate(event(missing)); err == nil {
				t.Errorf("%s without %s validates", v2, req)
			}
		}
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
