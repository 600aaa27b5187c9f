package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// FuzzDecodeJSON feeds arbitrary bodies and content types to the request
// decoder: it must never panic, and every failure must be a 4xx with a
// stable code, never something that would become a 500.
func FuzzDecodeJSON(f *testing.F) {
	gin.SetMode(gin.ReleaseMode)
	for _, s := range []string{
		`{"email":"a@b.com","password":"x","name":"n"}`, `{`, `[]`, `null`, `""`, `{"email":1}`,
		`{"email":"a"} {}`, `{"email":"\u0000"}`, `{"name":{"a":[1,2,{"b":null}]}}`, "\xff\xfe", strings.Repeat("[", 10000),
		`{"email":"a@b.com","email":"c@d.com"}`, `{"password":1e999}`, ``,
	} {
		f.Add(s, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Add(`{}`, "application/json; charset=utf-8")
	f.Add(`{}`, "application/json;;;")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		req := httptest.NewRequest(http.MethodPost, "/auth/register", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		c.Request = req
		var dst registerRequest
		err := decodeJSON(c, &dst)
		if err == nil {
			return
		}
		var he *httpError
		if !errors.As(err, &he) {
			t.Fatalf("decodeJSON(%q) = %T %v, want *httpError", body, err, err)
		}
		if he.status < 400 || he.status > 499 || he.body.Code == "" || he.body.Message == "" {
			t.Fatalf("decodeJSON(%q) = %d %+v, want a 4xx with code and message", body, he.status, he.body)
		}
	})
}

func TestClassifyCancelledIsNot500(t *testing.T) {
	status, body := classify(fmt.Errorf("begin: %w", context.Canceled))
	if status != 499 || body.Code != CodeClientClosed {
		t.Fatalf("classify(canceled) = %d %s, want 499 %s", status, body.Code, CodeClientClosed)
	}
	status, _ = classify(errors.New("boom"))
	if status != 500 {
		t.Fatalf("classify(unknown) = %d, want 500", status)
	}
}
