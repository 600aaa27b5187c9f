package deploy_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/authevents/authevents/deploy/internal/k8sschema"
)

// schemaDir holds the JSON schemas kubeconform validates the manifests
// against, written by internal/genschemas (go generate ./deploy).
const schemaDir = "k8s/schemas"

// schemaLocation is kubeconform's template for the files in schemaDir.
const schemaLocation = schemaDir + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"

// TestEveryShippedSchemaIsUsed keeps k8s/schemas to the kinds the
// manifests use (and tells which one is missing, before kubeconform does).
func TestEveryShippedSchemaIsUsed(t *testing.T) {
	used := map[string]bool{}
	for _, overlay := range overlays {
		for _, r := range build(t, overlay) {
			used[k8sschema.FileName(r.GetApiVersion(), r.GetKind())] = true
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
			t.Errorf("no schema %s/%s: add the kind to k8sschema.Kinds or its CRD to the inputs, then regenerate (go generate ./deploy)", schemaDir, f)
		}
	}
}
