package testenv

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// ErrorBody is the error object of every error answer of the API:
// {"error": {"code": …, "message": …, "fields": {…}}}.
type ErrorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// WantError fails t unless an HTTP answer (its status, header and body) is
// the API's error shape with status and code: a JSON Content-Type, a
// message, fields an object (never null). When fields is not nil, the
// answer names exactly those fields, each with the given reason (or any
// reason, for ""). It returns the error object for further checks.
func WantError(t testing.TB, gotStatus int, header http.Header, body []byte, status int, code string, fields map[string]string) ErrorBody {
	t.Helper()
	var e struct {
		Error ErrorBody `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d, body %q is not an error object: %v", gotStatus, body, err)
	}
	if gotStatus != status || e.Error.Code != code {
		t.Fatalf("got %d %q, want %d %q (body %s)", gotStatus, e.Error.Code, status, code, body)
	}
	if e.Error.Message == "" {
		t.Errorf("error without a message: %s", body)
	}
	if e.Error.Fields == nil {
		t.Errorf("fields must be an object, never null: %s", body)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q, want JSON", ct)
	}
	if fields != nil {
		got := slices.Sorted(maps.Keys(e.Error.Fields))
		want := slices.Sorted(maps.Keys(fields))
		if !slices.Equal(got, want) {
			t.Errorf("error fields = %v, want %v (%s)", e.Error.Fields, want, body)
		}
		for name, reason := range fields {
			if got, ok := e.Error.Fields[name]; ok && reason != "" && got != reason {
				t.Errorf("error field %s = %q, want %q", name, got, reason)
			}
		}
	}
	return e.Error
}
