package eventschema

// Version 2 of the types with personal fields (docs/privacy.md, "Events
// v2"): its schema is derived from version 1 by one rule, so that the two
// cannot drift: each personal property becomes a protected field, and
// keyOwner and the per-user pseudonyms are added. `go generate` writes
// the files (<type>/v2.json); TestProtectedSchemasAreGenerated keeps them
// equal to the derivation.

//go:generate go run ./internal/genv2

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/authevents/authevents"
)

// ProtectedPattern is the JSON Schema pattern of a protected field
// (personal.Pattern; the package personal is not imported here so that
// the contract stays free of the crypto code).
const ProtectedPattern = `^pd1\.[A-Za-z0-9_-]{54,}$`

// PseudonymPattern is the pattern of a per-user pseudonym ("pu1.", 128
// bits base64url).
const PseudonymPattern = `^pu1\.[A-Za-z0-9_-]{22}$`

// ProtectedSchema returns the version 2 schema of eventType (a version 1
// type with personal fields), derived from its version 1 file.
func ProtectedSchema(eventType string) ([]byte, error) {
	fields := authevents.PersonalFields(eventType)
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s has no personal fields, so no version 2", eventType)
	}
	v1, ok := File(eventType + "/v1.json")
	if !ok {
		return nil, fmt.Errorf("no schema of %s", eventType)
	}
	var doc struct {
		Schema      string   `json:"$schema"`
		ID          string   `json:"$id"`
		Title       string   `json:"title"`
		Description string   `json:"description"`
		Type        string   `json:"type"`
		Required    []string `json:"required"`
		Properties  object   `json:"properties"`
		Examples    []object `json:"examples"`
	}
	if err := json.Unmarshal(v1, &doc); err != nil {
		return nil, fmt.Errorf("%s v1: %w", eventType, err)
	}
	v2 := authevents.ProtectedType(eventType)
	doc.ID = authevents.DataSchemaBase + eventType + "/v2.json"
	doc.Title = v2 + " data, version 2"
	doc.Description += " Version 2: the personal properties (" + strings.Join(fields, ", ") + ") are protected fields, encrypted under the data key of keyOwner and unreadable once that key is erased (docs/privacy.md)."
	for _, f := range fields {
		var prop struct {
			Description string `json:"description"`
		}
		raw, ok := doc.Properties.get(f)
		if !ok {
			return nil, fmt.Errorf("%s v1 has no property %q", eventType, f)
		}
		if err := json.Unmarshal(raw, &prop); err != nil {
			return nil, err
		}
		doc.Properties.set(f, mustJSON(object{
			{"type", mustJSON("string")},
			{"pattern", mustJSON(ProtectedPattern)},
			{"x-personal", mustJSON(true)},
			{"description", mustJSON(prop.Description + " Protected: \"pd1.\" and base64url of a 24-byte nonce, the XChaCha20-Poly1305 ciphertext and its tag, under keyOwner's data key, bound to keyOwner, this event's id and the property's name. Read it through the key-access endpoint or package personal; once the key is erased it reads as erased.")},
		}))
		if p := authevents.PseudonymField(f); p != "" {
			doc.Properties = append(doc.Properties, member{p, mustJSON(object{
				{"type", mustJSON("string")},
				{"pattern", mustJSON(PseudonymPattern)},
				{"description", mustJSON("A pseudonym of " + f + " for this user only (HMAC-SHA256 under a key derived from keyOwner's data key, 128 bits): equal values of one user compare equal without decrypting; unlinkable once the key is erased.")},
			})})
			if slices.Contains(doc.Required, f) {
				doc.Required = append(doc.Required, p)
			}
		}
	}
	doc.Properties = append(doc.Properties, member{"keyOwner", mustJSON(object{
		{"type", mustJSON("string")},
		{"format", mustJSON("uuid")},
		{"description", mustJSON("Whose data key protects the personal properties: the user's id; for a user.login_failed_v2 with no account, the key of its UTC day; for user.deleted_v2, the user's one-off farewell key, which the email service erases once the confirmation is sent.")},
	})})
	doc.Required = append(doc.Required, "keyOwner")
	for i, ex := range doc.Examples {
		owner, _ := ex.get("userId")
		if owner == nil {
			owner = mustJSON("0190a4c8-0000-7000-8000-0000000000d1")
		}
		for _, f := range fields {
			raw, ok := ex.get(f)
			if !ok {
				continue
			}
			var v string
			json.Unmarshal(raw, &v)
			ex.set(f, mustJSON(exampleProtected(eventType, f, v)))
			if p := authevents.PseudonymField(f); p != "" {
				ex = append(ex, member{p, mustJSON(examplePseudonym(eventType, f, v))})
			}
		}
		doc.Examples[i] = append(ex, member{"keyOwner", owner})
	}
	out := object{
		{"$schema", mustJSON(doc.Schema)}, {"$id", mustJSON(doc.ID)}, {"title", mustJSON(doc.Title)},
		{"description", mustJSON(doc.Description)}, {"type", mustJSON(doc.Type)}, {"required", mustJSON(doc.Required)},
		{"properties", mustJSON(doc.Properties)}, {"examples", mustJSON(doc.Examples)},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// exampleProtected is a made-up protected field of the right form for
// the schema's examples: deterministic, so the files do not change from
// one generation to the next, and opening with no key.
func exampleProtected(eventType, field, value string) string {
	return "pd1." + base64.RawURLEncoding.EncodeToString(expand(eventType+"\x00"+field+"\x00"+value, 40+len(value)))
}

func examplePseudonym(eventType, field, value string) string {
	return "pu1." + base64.RawURLEncoding.EncodeToString(expand("pseudonym\x00"+eventType+"\x00"+field+"\x00"+value, 16))
}

func expand(seed string, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		h := sha256.Sum256([]byte(fmt.Sprint(i, seed)))
		out = append(out, h[:]...)
	}
	return out[:n]
}

func mustJSON(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSpace(b.Bytes())
}

// object is a JSON object that keeps the order of its members, so that a
// derived schema reads like the file it was derived from.
type object []member

type member struct {
	key string
	val json.RawMessage
}

func (o object) get(k string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == k {
			return m.val, true
		}
	}
	return nil, false
}

func (o object) set(k string, v json.RawMessage) {
	for i := range o {
		if o[i].key == k {
			o[i].val = v
		}
	}
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(m.key))
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the members in order.
func (o *object) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want a JSON object")
	}
	*o = nil
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*o = append(*o, member{t.(string), v})
	}
	return nil
}
