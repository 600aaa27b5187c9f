package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/personal"
)

// requestID accepts a sane X-Request-ID from the client or makes one,
// echoes it back and puts it in the request context for logs.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		c.Header("X-Request-ID", id)
		c.Request = c.Request.WithContext(logging.WithRequestID(c.Request.Context(), id))
		c.Next()
	}
}

// validRequestID allows 1..128 visible ASCII characters, so a client cannot
// inject line breaks or megabytes into our logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// accessLog writes one JSON line per request and feeds the HTTP metrics.
// It never logs bodies, query strings or headers that may hold secrets,
// nor, above debug level, the client's IP address: the client is named by
// a pseudonym (personal.ForLog), a keyed hash whose key lives only as long
// as the process, so one client's requests can be followed through the
// log, and no line outlives a user's erasure with their address in it.
func accessLog(log *slog.Logger, m *Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		m.inFlight.Inc()
		// Deferred: a panic that recovery passes on (http.ErrAbortHandler)
		// must not leave the gauge high, and is logged like any request.
		defer func() { m.inFlight.Dec(); logRequest(c, log, m, start) }()
		c.Next()
	}
}

// logRequest writes the access-log line of a finished (or aborted)
// request and records its metrics.
func logRequest(c *gin.Context, log *slog.Logger, m *Metrics, start time.Time) {
	d := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	m.observeRequest(route, c.Request.Method, status, d)
	attrs := []any{
		"method", c.Request.Method, "route", route, "path", c.Request.URL.Path,
		"status", status, "duration_ms", float64(d.Microseconds()) / 1000,
		"client", personal.ForLog(personal.FieldIP, c.ClientIP()), "bytes", c.Writer.Size(),
	}
	if log.Enabled(c.Request.Context(), slog.LevelDebug) {
		attrs = append(attrs, "client_ip", c.ClientIP()) // debugging on one's own machine
	}
	level := slog.LevelInfo
	if len(c.Errors) > 0 {
		attrs = append(attrs, "err", c.Errors.Last().Err.Error())
		switch {
		case status == http.StatusServiceUnavailable:
			// Overload shedding, a request deadline, Redis down: expected
			// conditions that metrics and alerts count; at error level a
			// login flood would also flood the error log.
			level = slog.LevelWarn
		case status >= 500:
			level = slog.LevelError
		}
	}
	log.Log(c.Request.Context(), level, "request", attrs...)
}

// timeout bounds the request: handlers pass c.Request.Context() down, so
// every database, Redis and hashing wait ends at the deadline, the open
// transaction rolls back, and the error (context.DeadlineExceeded) answers
// 503 service_unavailable with Retry-After.
func timeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// recovery turns a panic into a 500 JSON error and logs it; the server
// keeps running.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				fail(c, fmt.Errorf("panic: %v", p))
			}
		}()
		c.Next()
	}
}
