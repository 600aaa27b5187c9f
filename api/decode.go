package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// decodeJSON reads the request body into dst: application/json only, at
// most MaxBodyBytes, exactly one JSON value. Every failure is a 4xx
// httpError that names the problem; a body whose fields have the wrong
// JSON types names every such field, not only the first.
func decodeJSON(c *gin.Context, dst any) error {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return newHTTPError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		return jsonError(err)
	}
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		// encoding/json decodes null into a struct as nothing at all.
		return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body must be a JSON object", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			fields := mistyped(body, dst)
			if len(fields) == 0 { // a duplicate key whose last value fits
				fields[typeErr.Field] = "must be a " + typeName(typeErr.Type.Kind().String())
			}
			return newHTTPError(http.StatusBadRequest, CodeValidation, "request validation failed", fields)
		}
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body must hold a single JSON object", nil)
	}
	return nil
}

// mistyped names every field of body (a JSON object) whose value does not
// fit its field in dst. encoding/json reports only the first; each member
// is decoded on its own here to find them all.
func mistyped(body []byte, dst any) map[string]string {
	var members map[string]json.RawMessage
	_ = json.Unmarshal(body, &members)
	fields := map[string]string{}
	for name, value := range members {
		one, _ := json.Marshal(map[string]json.RawMessage{name: value})
		var typeErr *json.UnmarshalTypeError
		if err := json.Unmarshal(one, dst); errors.As(err, &typeErr) && typeErr.Field != "" {
			fields[typeErr.Field] = "must be a " + typeName(typeErr.Type.Kind().String())
		}
	}
	return fields
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return newHTTPError(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds 64 KiB", nil)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body must be a JSON object", nil)
		}
		return newHTTPError(http.StatusBadRequest, CodeValidation, "request validation failed",
			map[string]string{field: "must be a " + typeName(typeErr.Type.Kind().String())})
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body is not valid JSON", nil)
	case errors.Is(err, io.EOF):
		return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body is empty", nil)
	}
	return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body could not be read", nil)
}

func typeName(kind string) string {
	if strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "float") || strings.HasPrefix(kind, "uint") {
		return "number"
	}
	return kind
}
