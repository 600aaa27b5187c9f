package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authevents/authevents"
)

// Unreachable reports whether err means PostgreSQL could not serve the
// statement for now: a refused or failed connect, a connection closed
// under the statement, the server shutting down or still in recovery
// (57P01-03), a primary demoted to read-only during a failover (25006),
// or a statement cancelled by statement_timeout (57014, e.g. waiting on a
// lock; the transaction rolled back). None of these is a bug, and a retry
// a moment later may succeed.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &pe):
		switch pe.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case "25006": // read_only_sql_transaction: a demoted primary
			return true
		case "57014": // query_canceled: statement_timeout
			return true
		}
	}
	return false
}

// MarkUnavailable wraps an Unreachable error with authevents.ErrUnavailable
// (503 with Retry-After at the API) and returns any other error as it is.
func MarkUnavailable(err error) error {
	// A request's own cancellation or deadline (pgx then cancels the
	// statement, 57014) is classified by the caller from the context
	// error it carries: 499 for a client gone, 503 for a deadline.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if Unreachable(err) && !errors.Is(err, authevents.ErrUnavailable) {
		return fmt.Errorf("%w: postgres: %w", authevents.ErrUnavailable, err)
	}
	return err
}
