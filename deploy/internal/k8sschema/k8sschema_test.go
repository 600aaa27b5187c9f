package k8sschema

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
	if diff := cmp.Diff(want, Strict(in)); diff != "" {
		t.Errorf("Strict() mismatch (-want +got):\n%s", diff)
	}
	for _, c := range []struct{ apiVersion, kind, want string }{
		{"apps/v1", "Deployment", "deployment-apps-v1.json"},
		{"v1", "Service", "service-v1.json"},
		{"keda.sh/v1alpha1", "ScaledObject", "scaledobject-keda-v1alpha1.json"},
		{"postgresql.cnpg.io/v1", "Cluster", "cluster-postgresql-v1.json"},
	} {
		if got := FileName(c.apiVersion, c.kind); got != c.want {
			t.Errorf("FileName(%s, %s) = %s, want %s", c.apiVersion, c.kind, got, c.want)
		}
	}
}
