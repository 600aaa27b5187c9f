package openapitest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// RefusedBody is a request body the API answers 400 validation_failed,
// naming Field.
type RefusedBody struct {
	Name, Path, Field string
	Body              map[string]any
}

// Refused lists request bodies the API refuses with 400 for a rule the
// document states in its request schemas. The API's tests send each and
// expect the 400 (api/httpe2e); the spec tests expect the document to
// refuse each (api): a request schema looser than the API (issue 17:
// an empty refresh token, a name with control characters, an email
// holding a NUL, …) fails one of them.
func Refused() []RefusedBody {
	register := func(field string, v any) map[string]any {
		b := map[string]any{"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"}
		b[field] = v
		return b
	}
	login := func(field string, v any) map[string]any {
		b := map[string]any{"email": "ada@example.com", "password": "correct horse battery staple"}
		b[field] = v
		return b
	}
	long := strings.Repeat("a", 243) + "@example.com" // 255 characters
	return []RefusedBody{
		{"empty refresh token", "/auth/refresh", "refreshToken", map[string]any{"refreshToken": ""}},
		{"login: empty email", "/auth/login", "email", login("email", "")},
		{"login: blank email", "/auth/login", "email", login("email", "  \t ")},
		{"login: email with NUL", "/auth/login", "email", login("email", "ada\x00@example.com")},
		{"login: empty password", "/auth/login", "password", login("password", "")},
		{"login: password of 257 characters", "/auth/login", "password", login("password", strings.Repeat("p", 257))},
		{"register: empty name", "/auth/register", "name", register("name", "")},
		{"register: blank name", "/auth/register", "name", register("name", "   ")},
		{"register: name with a control character", "/auth/register", "name", register("name", "Ada\x07Lovelace")},
		{"register: name with a NUL", "/auth/register", "name", register("name", "Ada\x00")},
		{"register: name with a line break inside", "/auth/register", "name", register("name", "Ada\nLovelace")},
		{"register: name with a bidi override", "/auth/register", "name", register("name", "Ada\u202eecalevoL")},
		{"register: name of 101 characters", "/auth/register", "name", register("name", strings.Repeat("n", 101))},
		{"register: empty email", "/auth/register", "email", register("email", "")},
		{"register: email of 255 characters", "/auth/register", "email", register("email", long)},
		{"register: email with NUL", "/auth/register", "email", register("email", "ada\x00@example.com")},
		{"register: email with a line break", "/auth/register", "email", register("email", "ada@example.com\r\n")},
		{"register: email without @", "/auth/register", "email", register("email", "ada.example.com")},
		{"register: email without a dotted domain", "/auth/register", "email", register("email", "ada@localhost")},
		{"register: email with a space", "/auth/register", "email", register("email", "ada lovelace@example.com")},
		{"register: email with two @", "/auth/register", "email", register("email", "ada@b@example.com")},
		{"register: email with an IP literal", "/auth/register", "email", register("email", "ada@[192.0.2.1]")},
		{"register: email with a hyphen-led label", "/auth/register", "email", register("email", "ada@-example.com")},
		{"register: email with a control character", "/auth/register", "email", register("email", "ada\x01@example.com")},
		{"register: short password", "/auth/register", "password", register("password", "short")},
		{"register: password of 257 characters", "/auth/register", "password", register("password", strings.Repeat("p", 257))},
	}
}

// ValidateBody returns the document's objection to a POST of body to
// path as JSON, or nil when the document accepts it.
func (s *Spec) ValidateBody(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true}})
}
