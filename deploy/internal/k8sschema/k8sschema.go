// Package k8sschema turns pinned Kubernetes API descriptions (the
// Kubernetes OpenAPI v2 document, CustomResourceDefinitions) into the strict
// standalone JSON schemas under deploy/k8s/schemas that kubeconform
// validates the manifests against offline. cmd genschemas writes them;
// the deploy tests read them.
package k8sschema

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kind is a Kubernetes kind of a group and version ("" is the core group).
type Kind struct{ Group, Version, Kind string }

// Kinds are the built-in Kubernetes kinds the manifests use; the kinds of
// CustomResourceDefinitions come from the CRD files given to genschemas.
var Kinds = []Kind{
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

// FileName is where kubeconform looks for kind in apiVersion (its
// {{ .ResourceKind }}{{ .KindSuffix }} naming).
func FileName(apiVersion, kind string) string {
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

// KindSchema turns one kind of a Kubernetes OpenAPI v2 document into a
// standalone strict JSON schema: the kind's definition plus every
// definition it reaches, under "definitions".
func KindSchema(defs map[string]any, group, version, kind string) (map[string]any, error) {
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
			definitions[name] = Strict(d)
		}
	}
	out = Strict(out).(map[string]any)
	out["definitions"] = definitions
	return out, nil
}

// CRDSchemas returns the schema of each served version of a CRD, keyed
// by kubeconform's file name.
func CRDSchemas(crdYAML []byte) (map[string]map[string]any, error) {
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
		out[FileName(crd.Spec.Group+"/"+v.Name, crd.Spec.Names.Kind)] = Strict(v.Schema.OpenAPIV3Schema).(map[string]any)
	}
	return out, nil
}

// Strict drops descriptions (size) and forbids properties a schema does not
// declare (what kubectl's validation does), except where the API server
// keeps unknown fields. Kubernetes' own int-or-string fields get both types.
func Strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range v {
			if k == "description" {
				if _, isString := c.(string); isString {
					continue
				}
			}
			out[k] = Strict(c)
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
			out[i] = Strict(c)
		}
		return out
	}
	return v
}

// Encode is a schema as it is stored: indented JSON, one space per level,
// keys sorted, a final newline.
func Encode(s any) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
