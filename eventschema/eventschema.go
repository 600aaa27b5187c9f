// Package eventschema is the contract of the auth events: the JSON Schema
// of the CloudEvents envelope and of each event type's data, one
// versioned file per type (<type>/v<N>.json, embedded), and a Validator
// that checks a published event against them (santhosh-tekuri/jsonschema,
// a maintained validator of every JSON Schema draft). asyncapi.yaml, the
// AsyncAPI document of the stream, refers to the same files.
package eventschema

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"

	"github.com/authevents/authevents"
)

//go:embed envelope/*.json user.*/*.json
var files embed.FS

// Envelope is the $id of the envelope schema.
const Envelope = authevents.DataSchemaBase + "envelope/v1.json"

// LegacyBase is the former prefix of the schemas' URIs, a folder of the
// repository. Events stored before the move (in the stream, the
// dead-letter stream, audit_log.envelope) name their dataschema under it;
// Validate accepts it as an alias of authevents.DataSchemaBase.
const LegacyBase = "https://raw.githubusercontent.com/authevents/authevents/main/api/eventschema/"

// File returns the schema at name, a path relative to
// authevents.DataSchemaBase ("user.registered/v1.json",
// "envelope/v1.json"), as embedded; ok is false if there is none.
func File(name string) (b []byte, ok bool) {
	if !fs.ValidPath(name) || path.Ext(name) != ".json" || strings.Count(name, "/") != 1 {
		return nil, false
	}
	b, err := files.ReadFile(name)
	return b, err == nil
}

// canonical maps a dataschema under LegacyBase to the same schema's URI
// under authevents.DataSchemaBase.
func canonical(uri string) string {
	if rest, ok := strings.CutPrefix(uri, LegacyBase); ok {
		return authevents.DataSchemaBase + rest
	}
	return uri
}

// Validator checks events against the embedded schemas. It is safe for
// concurrent use.
type Validator struct {
	envelope *jsonschema.Schema
	data     map[string]*jsonschema.Schema // by $id, the dataschema URI
}

// Load compiles the embedded schemas once per process.
var Load = sync.OnceValues(New)

// New compiles every embedded schema. Formats (uuid, date-time, uri) are
// asserted, not only annotated.
func New() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	var ids []string
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		id := authevents.DataSchemaBase + path
		if got, _ := doc.(map[string]any)["$id"].(string); got != id {
			return fmt.Errorf("%s: $id %q, want %q (its published URI)", path, got, id)
		}
		ids = append(ids, id)
		return c.AddResource(id, doc)
	})
	if err != nil {
		return nil, fmt.Errorf("event schemas: %w", err)
	}
	v := &Validator{data: map[string]*jsonschema.Schema{}}
	for _, id := range ids {
		sch, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("event schema %s: %w", id, err)
		}
		if id == Envelope {
			v.envelope = sch
		} else {
			v.data[id] = sch
		}
	}
	if v.envelope == nil {
		return nil, errors.New("event schemas: no envelope schema")
	}
	return v, nil
}

// Schemas returns the $id of every data schema, sorted.
func (v *Validator) Schemas() []string {
	ids := make([]string, 0, len(v.data))
	for id := range v.data {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Error says why an event breaks its contract, on one line (it travels in
// a NATS header of the dead-lettered message).
type Error struct {
	Type   string // the event type, when the envelope had one
	Reason string
}

func (e *Error) Error() string {
	if e.Type == "" {
		return "invalid event: " + e.Reason
	}
	return "invalid " + e.Type + " event: " + e.Reason
}

// envelope is what the validator reads of an event besides its schemas.
type envelope struct {
	Type       string
	DataSchema string
}

// Validate checks body, an event as published (a structured CloudEvent),
// the way a consumer must: the envelope, then data against the schema
// dataschema names (under authevents.DataSchemaBase or its alias
// LegacyBase). An event without dataschema (written before events
// carried one) is checked against version 1 of its type. An event of a
// type this build does not know passes on its envelope alone: producers
// add types before every consumer knows them. A dataschema this build
// does not know for a type it knows is an error: the type changed
// incompatibly without becoming a new type.
func (v *Validator) Validate(body []byte) error {
	_, err := v.validate(body)
	return err
}

func (v *Validator) validate(body []byte) (*envelope, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Reason: "not JSON: " + oneLine(err)}
	}
	// The type and dataschema come from the document just parsed: a
	// second parse of body into a struct was a third of Validate's time
	// (issue 20: consumers validate every event).
	top, _ := doc.(map[string]any)
	var env envelope
	env.Type, _ = top["type"].(string)
	env.DataSchema, _ = top["dataschema"].(string)
	if err := v.envelope.Validate(doc); err != nil {
		return nil, &Error{Type: env.Type, Reason: "envelope: " + oneLine(err)}
	}
	schema := canonical(env.DataSchema)
	if schema == "" {
		schema = authevents.DataSchema(env.Type)
		if schema == "" {
			return &env, nil // a type of a newer producer
		}
	}
	sch, ok := v.data[schema]
	if !ok {
		if authevents.DataSchema(env.Type) == "" {
			return &env, nil
		}
		return nil, &Error{Type: env.Type, Reason: fmt.Sprintf("unknown dataschema %q", schema)}
	}
	if !ofType(schema, env.Type) {
		return nil, &Error{Type: env.Type, Reason: fmt.Sprintf("dataschema %q is not a schema of this type", schema)}
	}
	if err := sch.Validate(top["data"]); err != nil {
		return nil, &Error{Type: env.Type, Reason: "data: " + oneLine(err)}
	}
	return &env, nil
}

// Strict checks body the way a producer's tests must: Validate, and the
// event names the current schema of a type this build emits, and neither
// envelope nor data holds a property their schemas do not declare (a
// consumer would ignore it; a producer must document it first).
func (v *Validator) Strict(body []byte) error {
	env, err := v.validate(body)
	if err != nil {
		return err
	}
	want := authevents.DataSchema(env.Type)
	if want == "" {
		return &Error{Type: env.Type, Reason: "not a type this service emits"}
	}
	if env.DataSchema != want {
		return &Error{Type: env.Type, Reason: fmt.Sprintf("dataschema %q, want %q", env.DataSchema, want)}
	}
	var top, data map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	_ = json.Unmarshal(top["data"], &data)
	if extra := undeclared(top, v.envelope); len(extra) > 0 {
		return &Error{Type: env.Type, Reason: fmt.Sprintf("envelope properties %v are not in %s", extra, Envelope)}
	}
	if extra := undeclared(data, v.data[want]); len(extra) > 0 {
		return &Error{Type: env.Type, Reason: fmt.Sprintf("data properties %v are not in %s", extra, want)}
	}
	return nil
}

// ofType reports whether schema is a version of env.Type's data schema:
// <type>/vN.json, where a type that replaced an incompatible one carries
// its version in its name (user.registered_v2 has user.registered/v2.json).
func ofType(schema, eventType string) bool {
	dir, _, _ := strings.Cut(strings.TrimPrefix(schema, authevents.DataSchemaBase), "/")
	return eventType == dir || versioned.MatchString(eventType) && strings.HasPrefix(eventType, dir+"_v")
}

var versioned = regexp.MustCompile(`_v[0-9]+$`)

func undeclared(obj map[string]json.RawMessage, sch *jsonschema.Schema) []string {
	var extra []string
	for k := range obj {
		if _, ok := sch.Properties[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return extra
}

// oneLine flattens a validator's multi-line report: "at '/email': missing
// property ...; at ...".
func oneLine(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	withoutValues(ve)
	var parts []string
	for _, line := range strings.Split(ve.Error(), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "jsonschema validation failed") || line == "" {
			continue
		}
		parts = append(parts, strings.TrimPrefix(line, "- "))
	}
	return strings.Join(parts, "; ")
}

// withoutValues rewrites the failures that would quote the value they
// found (a format, a pattern) to name only the rule: a reason travels in
// a dead letter's header for 30 days, and a malformed address, IP or
// user agent is personal data all the same.
func withoutValues(ve *jsonschema.ValidationError) {
	switch k := ve.ErrorKind.(type) {
	case *kind.Format:
		ve.ErrorKind = valueless{k.KeywordPath(), "value is not valid " + k.Want}
	case *kind.Pattern:
		ve.ErrorKind = valueless{k.KeywordPath(), "value does not match pattern '" + k.Want + "'"}
	}
	for _, c := range ve.Causes {
		withoutValues(c)
	}
}

// valueless is a failure told without the value that failed.
type valueless struct {
	path []string
	msg  string
}

func (v valueless) KeywordPath() []string                   { return v.path }
func (v valueless) LocalizedString(*message.Printer) string { return v.msg }
