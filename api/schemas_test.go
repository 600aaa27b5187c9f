package api_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/eventschema"
	"github.com/authevents/authevents/internal/openapitest"
)

// TestServesTheEventSchemas: what an event's dataschema names can be
// fetched from the API at the path of the URI, with /openapi.json's
// cache and CORS rules; anything else is the JSON 404.
func TestServesTheEventSchemas(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.com"
	tr := newTransport(t, api.Config{CORSAllowedOrigins: []string{app}})
	uris := []string{eventschema.Envelope}
	for _, typ := range authevents.EventTypes() {
		uris = append(uris, authevents.DataSchema(typ))
		if authevents.ProtectedType(typ) != "" {
			uris = append(uris, authevents.DataSchemaBase+typ+"/v2.json")
		}
	}
	for _, uri := range uris {
		path := uri[len("https://authevents.dev"):]
		r := tr.call(t, "GET", path, "", "Origin", app)
		var doc struct {
			ID string `json:"$id"`
		}
		if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 || doc.ID != uri {
			t.Errorf("GET %s: %d, $id %q (%v), want the schema of %s", path, r.status, doc.ID, err, uri)
		}
		want, _ := eventschema.File(path[len(authevents.DataSchemaPath):])
		if string(r.body) != string(want) {
			t.Errorf("GET %s is not the embedded schema", path)
		}
		openapiJSON := tr.call(t, "GET", "/openapi.json", "", "Origin", app)
		for _, h := range []string{"Cache-Control", "Access-Control-Allow-Origin", "Vary"} {
			if got, want := r.header.Values(h), openapiJSON.header.Values(h); !slices.Equal(got, want) {
				t.Errorf("GET %s: %s %q, /openapi.json has %q", path, h, got, want)
			}
		}
	}
	for _, path := range []string{"/schemas/events/user.mfa_enrolled/v1.json", "/schemas/events/user.token_refreshed/v2.json", "/schemas/events/user.registered/v3.json",
		"/schemas/events/asyncapi.yaml/v1.json", "/schemas/events/..%2Fenvelope/v1.json", "/schemas/events/"} {
		wantErr(t, tr.call(t, "GET", path, ""), 404, api.CodeNotFound, nil)
	}
}

// TestSpecListsEveryEventSchema: the document's enum of schema names is
// the envelope and every event type, so a new type is documented.
func TestSpecListsEveryEventSchema(t *testing.T) {
	t.Parallel()
	spec, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	op := spec.Doc.Paths.Find(authevents.DataSchemaPath + "{type}/v1.json").Get
	var got []string
	for _, v := range op.Parameters.GetByInAndName("path", "type").Schema.Value.Enum {
		got = append(got, v.(string))
	}
	want := append([]string{"envelope"}, authevents.EventTypes()...)
	if !slices.Equal(got, want) {
		t.Errorf("openapi.yaml lists schemas %v, want %v", got, want)
	}
	got = nil
	for _, v := range spec.Doc.Paths.Find(authevents.DataSchemaPath+"{type}/v2.json").Get.Parameters.GetByInAndName("path", "type").Schema.Value.Enum {
		got = append(got, v.(string))
	}
	want = nil
	for _, typ := range authevents.EventTypes() {
		if authevents.ProtectedType(typ) != "" {
			want = append(want, typ)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("openapi.yaml lists version 2 schemas of %v, want those of every type with personal fields: %v", got, want)
	}
}
