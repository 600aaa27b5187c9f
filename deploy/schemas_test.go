package deploy_test

// The JSON schemas under k8s/schemas are generated here, from pinned inputs
// (k8s/schemas/README.md lists them with their sha256), so validation never
// downloads anything. Regenerate after changing a pin:
//
//	go test ./deploy -run TestRegenerateSchemas \
//	  -k8s-openapi=PATH/swagger.json -crds=DIR_OF_CRD_YAMLS

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var (
	k8sOpenAPI = flag.String("k8s-openapi", "", "Kubernetes OpenAPI v2 (swagger.json) to generate k8s/schemas from")
	crdDir     = flag.String("crds", "", "folder of CustomResourceDefinition YAML files to generate k8s/schemas from")
)

const schemaDir = "k8s/schemas"

// schemaLocation is kubeconform's template for the files written here.
const schemaLocation = schemaDir + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"

// builtinKinds are the Kubernetes kinds the manifests use.
var builtinKinds = []struct{ group, version, kind string }{
	{"apps", "v1", "Deployment"},
	{"apps", "v1", "StatefulSet"},
	{"", "v1", "Service"},
	{"", "v1", "ConfigMap"},
	{"", "v1", "Secret"},
	{"", "v1", "ServiceAccount"},
	{"policy", "v1", "PodDisruptionBudget"},
	{"autoscaling", "v2", "HorizontalPodAutoscaler"},
	{"", "v1", "Namespace"},
}

// schemaFile is where kubeconform looks for kind in apiVersion (its
// {{ .ResourceKind }}{{ .KindSuffix }} naming).
func schemaFile(apiVersion, kind string) string {
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		group, version = "", apiVersion
	}
	suffix := ""
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return strings.ToLower(kind) + suffix + "-" + strings.ToLower(version) + ".json"
}

func TestRegenerateSchemas(t *testing.T) {
	if *k8sOpenAPI == "" && *crdDir == "" {
		t.Skip("regeneration only: pass -k8s-openapi and/or -crds")
	}
	if *k8sOpenAPI != "" {
		b, err := os.ReadFile(*k8sOpenAPI)
		if err != nil {
			t.Fatal(err)
		}
		var spec struct {
			Definitions map[string]any `json:"definitions"`
		}
		if err := json.Unmarshal(b, &spec); err != nil {
			t.Fatal(err)
		}
		for _, k := range builtinKinds {
			s, err := kindSchema(spec.Definitions, k.group, k.version, k.kind)
			if err != nil {
				t.Fatal(err)
			}
			apiVersion := k.version
			if k.group != "" {
				apiVersion = k.group + "/" + k.version
			}
			writeSchema(t, schemaFile(apiVersion, k.kind), s)
		}
	}
	if *crdDir != "" {
		files, err := filepath.Glob(filepath.Join(*crdDir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no CRDs in %s: %v", *crdDir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			schemas, err := crdSchemas(b)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for name, s := range schemas {
				writeSchema(t, name, s)
			}
		}
	}
}

func writeSchema(t *testing.T, name string, s map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(schemaDir, name), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", name, len(b))
}

// kindSchema turns one kind of a Kubernetes OpenAPI v2 document into a
// standalone strict JSON schema: the kind's definition plus every
// definition it reaches, under "definitions".
func kindSchema(defs map[string]any, group, version, kind string) (map[string]any, error) {
	var root string
	for name, d := range defs {
		gvks, _ := d.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			g := g.(map[string]any)
			if g["group"] == group && g["version"] == version && g["kind"] == kind {
				root = name
			}
		}
	}
	if root == "" {
		return nil, fmt.Errorf("no definition for %s/%s %s", group, version, kind)
	}
	reached := map[string]any{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/definitions/")
				if _, seen := reached[name]; !seen {
					reached[name] = defs[name]
					walk(defs[name])
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(defs[root])
	out := map[string]any{}
	for k, v := range defs[root].(map[string]any) {
		out[k] = v
	}
	definitions := map[string]any{}
	for name, d := range reached {
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			definitions[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			definitions[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		default:
			definitions[name] = strict(d)
		}
	}
	out = strict(out).(map[string]any)
	out["definitions"] = definitions
	return out, nil
}

// crdSchemas returns the schema of each served version of a CRD, keyed
// by kubeconform's file name.
func crdSchemas(crdYAML []byte) (map[string]map[string]any, error) {
	var crd struct {
		Kind string `json:"kind"`
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(crdYAML, &crd); err != nil {
		return nil, err
	}
	if crd.Kind != "CustomResourceDefinition" {
		return nil, fmt.Errorf("kind %q, want CustomResourceDefinition", crd.Kind)
	}
	out := map[string]map[string]any{}
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		out[schemaFile(crd.Spec.Group+"/"+v.Name, crd.Spec.Names.Kind)] = strict(v.Schema.OpenAPIV3Schema).(map[string]any)
	}
	return out, nil
}

// strict drops descriptions (size) and forbids properties a schema does not
// declare (what kubectl's validation does), except where the API server
// keeps unknown fields. Kubernetes' own int-or-string fields get both types.
func strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range v {
			if k == "description" {
				if _, isString := c.(string); isString {
					continue
				}
			}
			out[k] = strict(c)
		}
		if v["format"] == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		_, hasProps := v["properties"]
		_, hasAdditional := v["additionalProperties"]
		if hasProps && !hasAdditional && v["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, c := range v {
			out[i] = strict(c)
		}
		return out
	}
	return v
}

func TestStrictSchemaConversion(t *testing.T) {
	in := map[string]any{
		"description": "dropped",
		"properties": map[string]any{
			"description": map[string]any{"type": "string", "description": "a field called description is kept"},
			"port":        map[string]any{"type": "string", "format": "int-or-string"},
			"free":        map[string]any{"type": "object", "properties": map[string]any{}, "x-kubernetes-preserve-unknown-fields": true},
		},
	}
	want := map[string]any{
		"additionalProperties": false,
		"properties": map[string]any{
			"description": map[string]any{"type": "string"},
			"port":        map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}},
			"free":        map[string]any{"type": "object", "properties": map[string]any{}, "x-kubernetes-preserve-unknown-fields": true},
		},
	}
	if diff := cmp.Diff(want, strict(in)); diff != "" {
		t.Errorf("strict() mismatch (-want +got):\n%s", diff)
	}
	for _, c := range []struct{ apiVersion, kind, want string }{
		{"apps/v1", "Deployment", "deployment-apps-v1.json"},
		{"v1", "Service", "service-v1.json"},
		{"keda.sh/v1alpha1", "ScaledObject", "scaledobject-keda-v1alpha1.json"},
		{"postgresql.cnpg.io/v1", "Cluster", "cluster-postgresql-v1.json"},
	} {
		if got := schemaFile(c.apiVersion, c.kind); got != c.want {
			t.Errorf("schemaFile(%s, %s) = %s, want %s", c.apiVersion, c.kind, got, c.want)
		}
	}
}

// TestEveryShippedSchemaIsUsed keeps k8s/schemas to the kinds the
// manifests use (and tells which one is missing, before kubeconform does).
func TestEveryShippedSchemaIsUsed(t *testing.T) {
	used := map[string]bool{}
	for _, overlay := range overlays {
		for _, r := range build(t, overlay) {
			used[schemaFile(r.GetApiVersion(), r.GetKind())] = true
		}
	}
	shipped, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range shipped {
		names = append(names, filepath.Base(f))
		if !used[filepath.Base(f)] {
			t.Errorf("%s is shipped but no manifest uses it", f)
		}
	}
	for f := range used {
		if !slices.Contains(names, f) {
			t.Errorf("no schema %s/%s: add the kind to builtinKinds or its CRD, then regenerate", schemaDir, f)
		}
	}
}
