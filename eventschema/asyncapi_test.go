package eventschema_test

// The AsyncAPI lint (make lint/spec, part of make test): asyncapi.yaml is
// checked against the official AsyncAPI 3.0.0 JSON Schema (committed under
// testdata/ by scripts/update-contract-assets.sh, so this runs offline),
// and by the house rules below.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/internal/schematest"
	"github.com/authevents/authevents/relay"
)

// asyncAPI is what the house rules read of asyncapi.yaml.
type asyncAPI struct {
	Info struct {
		Description string
	}
	Channels map[string]struct {
		Address  string
		Messages map[string]struct {
			Ref string `json:"$ref"`
		}
	}
	Components struct {
		Messages map[string]struct {
			Name    string
			Payload struct {
				AllOf []struct {
					Ref        string `json:"$ref"`
					Properties struct {
						Type       struct{ Const string }
						DataSchema struct{ Const string }
						Data       struct {
							Ref string `json:"$ref"`
						}
					}
				}
			}
			Examples []struct {
				Headers map[string]string
				Payload json.RawMessage
			}
		}
	}
}

func TestSpecAsyncAPIIsValid(t *testing.T) {
	t.Parallel()
	doc := schematest.YAMLAsJSON(t, "asyncapi.yaml")
	sch := schematest.Compile(t, "testdata/asyncapi", "3.0.0.json")
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("asyncapi.yaml against the AsyncAPI 3.0.0 schema:\n%v", err)
	}
	v := load(t)
	// House rules: each event type is a message of the stream's channel,
	// with its versioned schema files, and its examples are true.
	var d asyncAPI
	b, _ := json.Marshal(doc)
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for key, m := range d.Components.Messages {
		names[m.Name] = key
	}
	for _, typ := range authevents.EventTypes() {
		key, ok := names[typ]
		if !ok {
			t.Errorf("%s: no message", typ)
			continue
		}
		m := d.Components.Messages[key]
		if len(m.Payload.AllOf) != 2 || m.Payload.AllOf[0].Ref != "./envelope/v1.json" {
			t.Errorf("%s: payload must be the envelope and the type's data", typ)
			continue
		}
		p := m.Payload.AllOf[1].Properties
		if p.Type.Const != typ || p.DataSchema.Const != authevents.DataSchema(typ) || p.Data.Ref != "./"+typ+"/v1.json" {
			t.Errorf("%s: payload pins type %q, dataschema %q, data %q", typ, p.Type.Const, p.DataSchema.Const, p.Data.Ref)
		}
		if _, err := os.Stat(p.Data.Ref); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
		if ref := d.Channels["authUserEvents"].Messages[key].Ref; ref != "#/components/messages/"+key {
			t.Errorf("%s: not a message of the stream's channel (%q)", typ, ref)
		}
		if len(m.Examples) == 0 {
			t.Errorf("%s: no example", typ)
		}
		for _, ex := range m.Examples {
			if err := v.Strict(ex.Payload); err != nil {
				t.Errorf("%s example: %v", typ, err)
			}
		}
	}
	// Version 2 of each type with personal fields: a message of the
	// channel with its schema, and a true example.
	for _, base := range authevents.EventTypes() {
		typ := authevents.ProtectedType(base)
		if typ == "" {
			continue
		}
		key, ok := names[typ]
		if !ok {
			t.Errorf("%s: no message", typ)
			continue
		}
		m := d.Components.Messages[key]
		p := m.Payload.AllOf[1].Properties
		if p.Type.Const != typ || p.DataSchema.Const != authevents.DataSchemaBase+base+"/v2.json" || p.Data.Ref != "./"+base+"/v2.json" {
			t.Errorf("%s: payload pins type %q, dataschema %q, data %q", typ, p.Type.Const, p.DataSchema.Const, p.Data.Ref)
		}
		if ref := d.Channels["authUserEvents"].Messages[key].Ref; ref != "#/components/messages/"+key {
			t.Errorf("%s: not a message of the stream's channel (%q)", typ, ref)
		}
		if len(m.Examples) == 0 {
			t.Errorf("%s: no example", typ)
		}
		for _, ex := range m.Examples {
			if err := v.Validate(ex.Payload); err != nil {
				t.Errorf("%s example: %v", typ, err)
			}
		}
	}
	if got := d.Channels["authUserEvents"].Address; got != "auth.user.{event}" {
		t.Errorf("stream channel address %q", got)
	}
}

// TestSpecAsyncAPIStatesTheDuplicateWindow: the document tells consumers
// the stream's duplicate window, the relay's default (it once said 2
// minutes of a 10-minute window).
func TestSpecAsyncAPIStatesTheDuplicateWindow(t *testing.T) {
	t.Parallel()
	var d asyncAPI
	b, _ := json.Marshal(schematest.YAMLAsJSON(t, "asyncapi.yaml"))
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("duplicate window (%d minutes)", int(relay.DefaultDuplicateWindow.Minutes()))
	if got := strings.Join(strings.Fields(d.Info.Description), " "); !strings.Contains(got, want) {
		t.Errorf("asyncapi.yaml info.description does not say %q", want)
	}
}
