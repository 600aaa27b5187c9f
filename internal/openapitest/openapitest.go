// Package openapitest holds the API to its contract in tests: Wrap puts a
// validator in front of the router that checks every request and response
// against the embedded OpenAPI document (api/openapi.yaml) with
// kin-openapi's openapi3filter, and fails the test on an undocumented
// status, response field or response header.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/authevents/authevents/api"
)

// Spec is the loaded and validated OpenAPI document with its router.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
	errSch *openapi3.Schema
}

// Load parses api/openapi.yaml, validates it as an OpenAPI 3.1 document
// and builds its router. It is loaded once per test binary.
var Load = sync.OnceValues(func() (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	// Route by path only: tests reach the handler on any host.
	routed := *doc
	routed.Servers = nil
	router, err := gorillamux.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	errSch := doc.Components.Schemas["Error"]
	if errSch == nil {
		return nil, errors.New("openapi.yaml has no Error schema")
	}
	return &Spec{Doc: doc, router: router, errSch: errSch.Value}, nil
})

// protocolHeaders may appear on any response without being documented:
// they describe the message, not the API.
// Allow is required on a 405 (RFC 9110 §15.5.6).
var protocolHeaders = []string{"Content-Type", "Content-Length", "Date", "Vary", "Allow"}

// Wrap returns h behind the contract check. Any request or response that
// breaks the OpenAPI document fails t:
//   - the status of a response is not documented for its operation;
//   - a response body does not match its schema (an undocumented field
//     included: response schemas are closed) or content type;
//   - a documented response header is missing or malformed, or a header
//     that is neither documented nor a protocol header (Content-Type,
//     Content-Length, Date, Vary, Allow, Access-Control-*) is sent;
//   - a request the document refuses is answered with success;
//   - an unknown path or method is not a 404 or 405 in the Error shape.
//
// CORS preflights (OPTIONS with Access-Control-Request-Method) belong to
// the Fetch protocol, not to an operation: they must be a 204 that sets
// only CORS headers, or the 405 of an API without CORS.
func Wrap(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	spec, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("openapitest: read request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for _, problem := range spec.Check(r, body, rec.Result()) {
			t.Errorf("contract: %s %s -> %d: %s", r.Method, r.URL.Path, rec.Code, problem)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// Check returns every way the exchange (r with body, and res) breaks the
// document; none when it keeps it.
func (s *Spec) Check(r *http.Request, body []byte, res *http.Response) []string {
	resBody, _ := io.ReadAll(res.Body)
	ctx := context.Background()
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))

	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		return s.checkPreflight(res, resBody)
	}
	route, params, err := s.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return s.checkUnrouted(res, resBody, http.StatusNotFound, "not_found")
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return s.checkUnrouted(res, resBody, http.StatusMethodNotAllowed, "method_not_allowed")
	case err != nil:
		return []string{"route: " + err.Error()}
	}
	var problems []string
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && res.StatusCode < 400 {
		problems = append(problems, fmt.Sprintf("the document refuses the request (%v), yet it succeeded", reqErr))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(resBody)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		problems = append(problems, err.Error())
	}
	if resp := route.Operation.Responses.Status(res.StatusCode); resp != nil && resp.Value != nil {
		problems = append(problems, undocumentedHeaders(res.Header, resp.Value.Headers)...)
	}
	return problems
}

// bearerPresent is the document's security as a request check: a bearer
// route needs "Authorization: Bearer <token>". Whether the token is good
// is the server's to say; a request without one must not succeed.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if in.SecurityScheme.Type != "http" || !strings.EqualFold(in.SecurityScheme.Scheme, "bearer") {
		return fmt.Errorf("security scheme %s %s is not known to openapitest", in.SecurityScheme.Type, in.SecurityScheme.Scheme)
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// checkUnrouted: an exchange the document has no operation for must be
// the router's own 404 or 405, in the Error shape.
func (s *Spec) checkUnrouted(res *http.Response, body []byte, status int, code string) []string {
	if res.StatusCode != status {
		return []string{fmt.Sprintf("no operation in the document, yet answered %d (want %d %s)", res.StatusCode, status, code)}
	}
	var problems []string
	if err := s.errorBody(body, code); err != nil {
		problems = append(problems, err.Error())
	}
	return append(problems, undocumentedHeaders(res.Header, openapi3.Headers{"X-Request-ID": nil})...)
}

func (s *Spec) checkPreflight(res *http.Response, body []byte) []string {
	if res.StatusCode == http.StatusMethodNotAllowed {
		if err := s.errorBody(body, "method_not_allowed"); err != nil {
			return []string{err.Error()}
		}
		return undocumentedHeaders(res.Header, openapi3.Headers{"X-Request-ID": nil})
	}
	if res.StatusCode != http.StatusNoContent || len(body) != 0 {
		return []string{fmt.Sprintf("a preflight answered %d with %d bytes, want 204 and no body", res.StatusCode, len(body))}
	}
	return undocumentedHeaders(res.Header, openapi3.Headers{"X-Request-ID": nil})
}

// errorBody checks body against the Error schema and its code.
func (s *Spec) errorBody(body []byte, code string) error {
	v, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := s.errSch.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("error body does not match the Error schema: %w", err)
	}
	if got := v.(map[string]any)["error"].(map[string]any)["code"]; got != code {
		return fmt.Errorf("error code %v, want %s", got, code)
	}
	return nil
}

// undocumentedHeaders names the response headers that are neither
// documented for the response nor protocol headers.
func undocumentedHeaders(h http.Header, documented openapi3.Headers) []string {
	var problems []string
	for name := range h {
		if slices.Contains(protocolHeaders, name) || strings.HasPrefix(name, "Access-Control-") {
			continue
		}
		if !slices.ContainsFunc(keys(documented), func(d string) bool { return strings.EqualFold(d, name) }) {
			problems = append(problems, fmt.Sprintf("undocumented response header %s: %q", name, h.Get(name)))
		}
	}
	slices.Sort(problems)
	return problems
}

func keys(h openapi3.Headers) []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	return out
}

func decodeJSON(b []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("not an object")
	}
	return v, nil
}

// Transport returns an http.RoundTripper that checks every exchange it
// carries against the document, like Wrap, for tests that talk to a
// running API over the network (base nil: http.DefaultTransport).
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	spec, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		res, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		resBody, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(resBody))
		check := *res
		check.Body = io.NopCloser(bytes.NewReader(resBody))
		for _, problem := range spec.Check(r, body, &check) {
			t.Errorf("contract: %s %s -> %d: %s", r.Method, r.URL.Path, res.StatusCode, problem)
		}
		return res, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
