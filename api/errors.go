package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/authevents/authevents"
)

// Error is the body of every error response:
// {"error":{"code":"...","message":"...","fields":{...}}}.
type Error struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

type errorBody struct {
	Error Error `json:"error"`
}

// Stable machine codes. Clients switch on these, never on messages.
const (
	CodeValidation       = "validation_failed"
	CodeInvalidJSON      = "invalid_json"
	CodeTooLarge         = "request_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeEmailTaken       = "email_taken"
	CodeInvalidCreds     = "invalid_credentials"
	CodeUnauthorized     = "unauthorized"
	CodeInvalidRefresh   = "invalid_refresh_token"
	CodeInvalidLink      = "invalid_link_token"
	CodeEmailNotVerified = "email_not_verified"
	CodeAccountDisabled  = "account_disabled"
	CodeRateLimited      = "rate_limited"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "service_unavailable"
	CodeInternal         = "internal_error"
	// CodeClientClosed is logged, never seen: the client had gone.
	CodeClientClosed = "client_closed_request"
)

// httpError is an error the transport itself raises (bad body, bad route).
type httpError struct {
	status int
	body   Error
}

func (e *httpError) Error() string { return e.body.Message }

func newHTTPError(status int, code, msg string, fields map[string]string) *httpError {
	return &httpError{status: status, body: Error{Code: code, Message: msg, Fields: fields}}
}

// table maps domain sentinel errors to status, code and a safe message.
var table = []struct {
	err    error
	status int
	code   string
	msg    string
}{
	{authevents.ErrEmailTaken, http.StatusConflict, CodeEmailTaken, "an account with this email already exists"},
	{authevents.ErrInvalidCredentials, http.StatusUnauthorized, CodeInvalidCreds, "invalid email or password"},
	{authevents.ErrUnauthorized, http.StatusUnauthorized, CodeUnauthorized, "missing or invalid access token"},
	{authevents.ErrInvalidRefreshToken, http.StatusUnauthorized, CodeInvalidRefresh, "invalid, expired or revoked refresh token"},
	{authevents.ErrInvalidLinkToken, http.StatusBadRequest, CodeInvalidLink, "the link is not valid: used, expired, superseded or unknown"},
	{authevents.ErrEmailNotVerified, http.StatusForbidden, CodeEmailNotVerified, "the address is not verified yet: open the link we sent, or ask for a new one"},
	{authevents.ErrAccountDisabled, http.StatusForbidden, CodeAccountDisabled, "the account is disabled"},
	{authevents.ErrNotFound, http.StatusNotFound, CodeNotFound, "not found"},
	{authevents.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "a required service is unavailable, try again shortly"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, CodeUnavailable, "the service is busy, try again"},
	// nginx's 499: the client cancelled; nothing reaches it, the access log
	// records why the request stopped.
	{context.Canceled, 499, CodeClientClosed, "client closed the request"},
}

// classify returns the status and body for err. Anything unknown is a 500
// whose cause is logged and never shown.
func classify(err error) (int, Error) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.body
	}
	var rl *authevents.RateLimitedError
	if errors.As(err, &rl) {
		return http.StatusTooManyRequests, Error{Code: CodeRateLimited, Message: "too many requests, retry later"}
	}
	var ve *authevents.ValidationError
	if errors.As(err, &ve) {
		return http.StatusBadRequest, Error{Code: CodeValidation, Message: "request validation failed", Fields: ve.Fields}
	}
	for _, e := range table {
		if errors.Is(err, e.err) {
			return e.status, Error{Code: e.code, Message: e.msg}
		}
	}
	return http.StatusInternalServerError, Error{Code: CodeInternal, Message: "internal server error"}
}

// fail writes the error response for err and records err for the request
// log; it is the one place handlers report errors.
func fail(c *gin.Context, err error) {
	status, body := classify(err)
	if body.Fields == nil {
		body.Fields = map[string]string{}
	}
	if status == http.StatusUnauthorized && body.Code == CodeUnauthorized {
		if errors.Is(err, errNoCredentials) {
			c.Header("WWW-Authenticate", "Bearer")
		} else {
			c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
	}
	var rl *authevents.RateLimitedError
	if errors.As(err, &rl) {
		// At least 1: "Retry-After: 0" invites an immediate retry that the
		// limiter refuses again.
		c.Header("Retry-After", strconv.Itoa(max(1, int(math.Ceil(rl.RetryAfter.Seconds())))))
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	if status >= 500 || status == 499 {
		_ = c.Error(err) // the request logger logs the cause
	}
	c.AbortWithStatusJSON(status, errorBody{Error: body})
}
