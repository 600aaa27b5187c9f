package api

import (
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
// httpError that names the problem.
func decodeJSON(c *gin.Context, dst any) error {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return newHTTPError(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json", nil)
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return newHTTPError(http.StatusBadRequest, CodeInvalidJSON, "request body must hold a single JSON object", nil)
	}
	return nil
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
