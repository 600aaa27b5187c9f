package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authevents/authevents"
)

// Unreachable reports whether err means PostgreSQL could not be reached
// or the connection was lost: a refused or failed connect, a connection
// closed under the statement, or the server shutting down or still in
// recovery (SQLSTATE class 57P). None of these is a bug, and a retry a
// moment later may succeed.
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
		// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
		return pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return false
}

// MarkUnavailable wraps an Unreachable error with authevents.ErrUnavailable
// (503 with Retry-After at the API) and returns any other error as it is.
func MarkUnavailable(err error) error {
	if Unreachable(err) && !errors.Is(err, authevents.ErrUnavailable) {
		return fmt.Errorf("%w: postgres: %w", authevents.ErrUnavailable, err)
	}
	return err
}
