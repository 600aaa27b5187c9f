package api_test

// The spec lint (make lint/spec, part of make test): api/openapi.yaml is
// checked against the official JSON Schema of its format (committed under testdata/ by
// scripts/update-contract-assets.sh, so this runs offline), by
// kin-openapi's own validation, and by the house rules below.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/schematest"
	"github.com/authevents/authevents/internal/testenv"
)

func TestSpecOpenAPIIsValid(t *testing.T) {
	t.Parallel()
	// kin-openapi: loads and validates the document (refs, schemas,
	// examples against their schemas).
	spec, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The OpenAPI 3.1 JSON Schema with the OAS dialect: schema objects too.
	sch := schematest.Compile(t, "testdata/openapi-3.1", "schema-base.json")
	if err := sch.Validate(schematest.YAMLAsJSON(t, "openapi.yaml")); err != nil {
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
				if resp.Ref == "#/components/responses/MalformedHeader" {
					continue // net/http's answer, before any route: text/plain
				}
				if (status[0] == '4' || status[0] == '5') && slices.Contains(op.Tags, "pages") &&
					resp.Value.Content.Get("text/html") != nil {
					continue // a page answers a person, in HTML
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
			// Go's HTTP server refuses a malformed header before any
			// route runs, in text/plain (TestMalformedHeaderIsDocumented).
			if r := op.Responses.Status(400); r == nil || r.Value.Content.Get("text/plain") == nil {
				t.Errorf("%s: the text/plain 400 of a malformed header is not documented", where)
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
