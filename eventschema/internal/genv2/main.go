// Command genv2 writes eventschema/<type>/v2.json, the version 2 schema of
// every event type with personal fields, derived from its version 1
// (eventschema.ProtectedSchema). Run by `go generate ./eventschema`.
package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

func main() {
	for _, t := range authevents.EventTypes() {
		if authevents.ProtectedType(t) == "" {
			continue
		}
		b, err := eventschema.ProtectedSchema(t)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(t, "v2.json"), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
