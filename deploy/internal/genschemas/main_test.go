package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authevents/authevents/deploy/internal/k8sschema"
)

const shipped = "../../k8s/schemas"

// TestShippedSchemasAreWhatItWrites: the pinned inputs are not in the
// repository, so the schemas are fed back instead, as the inputs they came
// from (a Kubernetes OpenAPI document of the built-in kinds, one CRD per
// custom kind, descriptions added back), and genschemas must write every
// file again byte for byte. A hand edit of a shipped schema that the
// generator would not write (a looser schema, another layout) fails here.
func TestShippedSchemasAreWhatItWrites(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(shipped, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", shipped, err)
	}
	builtin := map[string]k8sschema.Kind{}
	for _, k := range k8sschema.Kinds {
		apiVersion := k.Version
		if k.Group != "" {
			apiVersion = k.Group + "/" + k.Version
		}
		builtin[k8sschema.FileName(apiVersion, k.Kind)] = k
	}
	in := t.TempDir()
	crds := filepath.Join(in, "crds")
	if err := os.Mkdir(crds, 0o755); err != nil {
		t.Fatal(err)
	}
	defs := map[string]any{}
	for _, f := range files {
		var s map[string]any
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s["description"] = "dropped by the generator"
		name := filepath.Base(f)
		if k, ok := builtin[name]; ok {
			sub, _ := s["definitions"].(map[string]any)
			for n, d := range sub {
				defs[n] = d
			}
			delete(s, "definitions")
			s["x-kubernetes-group-version-kind"] = []any{map[string]any{"group": k.Group, "version": k.Version, "kind": k.Kind}}
			defs["root."+k.Kind] = s
			continue
		}
		// A custom kind: <kind>-<group's first label>-<version>.json.
		parts := strings.Split(strings.TrimSuffix(name, ".json"), "-")
		if len(parts) != 3 {
			t.Fatalf("%s: not a built-in kind, nor <kind>-<group>-<version>.json", name)
		}
		crd := map[string]any{"kind": "CustomResourceDefinition", "spec": map[string]any{
			"group": parts[1] + ".example", "names": map[string]any{"kind": parts[0]},
			"versions": []any{map[string]any{"name": parts[2], "served": true, "schema": map[string]any{"openAPIV3Schema": s}}},
		}}
		writeJSON(t, filepath.Join(crds, parts[0]+".yaml"), crd)
	}
	swagger := filepath.Join(in, "swagger.json")
	writeJSON(t, swagger, map[string]any{"definitions": defs})

	out := t.TempDir()
	if err := run(swagger, crds, out); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(out, filepath.Base(f)))
		if err != nil {
			t.Errorf("%s not written: %v", filepath.Base(f), err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: genschemas writes %d bytes that differ from the %d shipped: regenerate it (go generate ./deploy with the pinned inputs)", filepath.Base(f), len(got), len(want))
		}
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v) // JSON is YAML, for the CRDs
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
