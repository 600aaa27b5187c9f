// Command genschemas writes the JSON schemas under deploy/k8s/schemas from
// pinned inputs (deploy/k8s/schemas/README.md lists them with their
// sha256), so validating the manifests never downloads anything. Run it
// from deploy/ after changing a pin, with the inputs on disk:
//
//	K8S_OPENAPI=PATH/swagger.json K8S_CRDS=DIR_OF_CRD_YAMLS go generate ./deploy
//
// or go run ./internal/genschemas -k8s-openapi=… -crds=…. Without inputs it
// writes nothing.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/authevents/authevents/deploy/internal/k8sschema"
)

func main() {
	k8sOpenAPI := flag.String("k8s-openapi", "", "Kubernetes OpenAPI v2 (swagger.json) to generate the built-in kinds' schemas from")
	crdDir := flag.String("crds", "", "folder of CustomResourceDefinition YAML files to generate their schemas from")
	out := flag.String("out", "k8s/schemas", "folder the schemas are written to")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("genschemas: ")
	if *k8sOpenAPI == "" && *crdDir == "" {
		log.Print("no inputs (-k8s-openapi, -crds; K8S_OPENAPI, K8S_CRDS under go generate): schemas left as they are")
		return
	}
	if err := run(*k8sOpenAPI, *crdDir, *out); err != nil {
		log.Fatal(err)
	}
}

func run(k8sOpenAPI, crdDir, out string) error {
	if k8sOpenAPI != "" {
		b, err := os.ReadFile(k8sOpenAPI)
		if err != nil {
			return err
		}
		var spec struct {
			Definitions map[string]any `json:"definitions"`
		}
		if err := json.Unmarshal(b, &spec); err != nil {
			return fmt.Errorf("%s: %w", k8sOpenAPI, err)
		}
		for _, k := range k8sschema.Kinds {
			s, err := k8sschema.KindSchema(spec.Definitions, k.Group, k.Version, k.Kind)
			if err != nil {
				return err
			}
			apiVersion := k.Version
			if k.Group != "" {
				apiVersion = k.Group + "/" + k.Version
			}
			if err := write(out, k8sschema.FileName(apiVersion, k.Kind), s); err != nil {
				return err
			}
		}
	}
	if crdDir != "" {
		files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("no CRDs in %s: %v", crdDir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			schemas, err := k8sschema.CRDSchemas(b)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			for name, s := range schemas {
				if err := write(out, name, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func write(dir, name string, s map[string]any) error {
	b, err := k8sschema.Encode(s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s (%d bytes)", name, len(b)-1)
	return nil
}
