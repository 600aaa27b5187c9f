package api_test

// The spec lint (make lint/spec, part of make test): api/openapi.yaml and
// api/asyncapi.yaml are checked against the official JSON Schemas of
// their formats (committed under testdata/ by
// scripts/update-contract-assets.sh, so this runs offline), by
// kin-openapi's own validation, and by the house rules below.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/api/eventschema"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/testenv"
)

// yamlAsJSON reads a YAML file as the JSON value a validator sees.
func yamlAsJSON(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s is not representable as JSON: %v", path, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// compile loads the JSON Schema files under dir (by their $id) and
// compiles the one at main.
func compile(t *testing.T, dir, main string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	var mainID string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if filepath.Base(path) == main {
			mainID = id
		}
		return c.AddResource(id, doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(mainID)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestSpecOpenAPIIsValid(t *testing.T) {
	t.Parallel()
	// kin-openapi: loads and validates the document (refs, schemas,
	// examples against their schemas).
	spec, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The OpenAPI 3.1 JSON Schema with the OAS dialect: schema objects too.
	sch := compile(t, "testdata/openapi-3.1", "schema-base.json")
	if err := sch.Validate(yamlAsJSON(t, "openapi.yaml")); err != nil {
		t.Errorf("openapi.yaml against the OpenAPI 3.1 schema:\n%v", err)
	}
	// House rules. Schema examples (OpenAPI 3.1 "examples") are true:
	// kin-openapi checks media-type examples only.
	for name, sch := range spec.Doc.Components.Schemas {
		for i, ex := range sch.Value.Examples {
			if err := sch.Value.VisitJSON(jsonValue(t, ex), openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("schema %s example %d: %v", name, i, err)
			}
		}
	}
	for path, item := range spec.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("%s: needs operationId, summary and a tag", where)
			}
			ok2xx := false
			for status, resp := range op.Responses.Map() {
				if strings.HasPrefix(status, "2") {
					ok2xx = true
				}
				if resp.Value.Headers["X-Request-ID"] == nil {
					t.Errorf("%s %s: X-Request-ID is not documented", where, status)
				}
				if status[0] == '4' || status[0] == '5' {
					js := resp.Value.Content.Get("application/json")
					if js == nil || js.Schema == nil || !strings.Contains(fmt.Sprint(schemaRefs(js.Schema)), "#/components/schemas/Error") {
						t.Errorf("%s %s: an error response must use the Error schema", where, status)
					}
				}
			}
			if !ok2xx {
				t.Errorf("%s: no success response", where)
			}
			if op.Security != nil && op.Responses.Status(401) == nil {
				t.Errorf("%s: a bearer route must document 401", where)
			}
		}
	}
}

// jsonValue turns a YAML-decoded example into the value JSON decoding
// gives (numbers as float64, objects as map[string]any).
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func schemaRefs(s *openapi3.SchemaRef) []string {
	refs := []string{s.Ref}
	if s.Value != nil {
		for _, sub := range s.Value.AllOf {
			refs = append(refs, sub.Ref)
		}
	}
	return refs
}

// TestSpecDocumentsEveryRoute: the router and the document list the same
// operations: no endpoint is served undocumented, none documented unserved.
func TestSpecDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	spec, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(newFake(), api.Config{}, logging.New(&testenv.Buffer{}, "error"), api.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	var served, documented []string
	for _, r := range h.(*gin.Engine).Routes() {
		p := r.Path
		if i := strings.Index(p, "/:"); i >= 0 {
			name, rest, _ := strings.Cut(p[i+2:], "/")
			p = p[:i] + "/{" + name + "}" + strings.TrimSuffix("/"+rest, "/")
		}
		served = append(served, r.Method+" "+p)
	}
	for path, item := range spec.Doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	if !slices.Equal(served, documented) {
		t.Errorf("served routes:\n  %s\ndocumented operations:\n  %s", strings.Join(served, "\n  "), strings.Join(documented, "\n  "))
	}
}

func TestSpecAsyncAPIIsValid(t *testing.T) {
	t.Parallel()
	doc := yamlAsJSON(t, "asyncapi.yaml")
	sch := compile(t, "testdata/asyncapi", "3.0.0.json")
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("asyncapi.yaml against the AsyncAPI 3.0.0 schema:\n%v", err)
	}
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	// House rules: each event type is a message of the stream's channel,
	// with its versioned schema files, and its examples are true.
	var d struct {
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
		if len(m.Payload.AllOf) != 2 || m.Payload.AllOf[0].Ref != "./eventschema/envelope/v1.json" {
			t.Errorf("%s: payload must be the envelope and the type's data", typ)
			continue
		}
		p := m.Payload.AllOf[1].Properties
		if p.Type.Const != typ || p.DataSchema.Const != authevents.DataSchema(typ) || p.Data.Ref != "./eventschema/"+typ+"/v1.json" {
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
			eventschemaCheck(t, v, typ, ex.Payload)
		}
	}
	if got := d.Channels["authUserEvents"].Address; got != "auth.user.{event}" {
		t.Errorf("stream channel address %q", got)
	}
}

func eventschemaCheck(t *testing.T, v *eventschema.Validator, typ string, payload []byte) {
	t.Helper()
	if err := v.Strict(payload); err != nil {
		t.Errorf("%s example: %v", typ, err)
	}
}
