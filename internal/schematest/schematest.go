// Package schematest reads contract documents the way the spec tests of
// api (OpenAPI) and eventschema (AsyncAPI) check them: YAML as the JSON
// value a validator sees, and JSON Schema files compiled by their $id.
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// YAMLAsJSON reads a YAML file as the JSON value a validator sees.
func YAMLAsJSON(t testing.TB, path string) any {
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

// Compile loads the JSON Schema files under dir (by their $id) and
// compiles the one whose file name is main.
func Compile(t testing.TB, dir, main string) *jsonschema.Schema {
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
