// Package postgres is the PostgreSQL adapter: the connection pool, the one
// transaction helper, schema migrations, and the queries of the auth
// service, returning domain types and translating driver errors at the
// boundary.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Querier is what both a pool and a transaction offer; read queries take
// one so they run inside or outside a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Session is what every connection of one binary is set up with, so that
// nothing a client does (or fails to do) holds locks or a backend for
// long: a relay cut off mid-batch by a partition must not keep its rows
// locked until the kernel's TCP timeout, hours later.
type Session struct {
	// AppName is the connection's application_name (authevents-api,
	// authevents-relay, …): pg_stat_activity and logs tell binaries apart.
	AppName string
	// StatementTimeout bounds each statement on the server.
	StatementTimeout time.Duration
	// IdleInTxTimeout ends, on the server, a session that sits in an open
	// transaction without sending anything for this long (its transaction
	// rolls back, its locks are released). Fit it to the longest
	// legitimate pause of the binary's transactions.
	IdleInTxTimeout time.Duration
}

// TCP keepalives on both ends: a peer that vanished is detected within
// about keepaliveIdle + keepaliveCount*keepaliveInterval (30 s) on an idle
// connection, instead of the kernel default of over two hours.
const (
	keepaliveIdle     = 15 * time.Second
	keepaliveInterval = 5 * time.Second
	keepaliveCount    = 3
)

// Open connects a pool to url with the session settings s and checks the
// connection. Settings given in url (e.g. ?application_name=x) win.
func Open(ctx context.Context, url string, maxConns int32, s Session) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	params := cfg.ConnConfig.RuntimeParams
	setDefault := func(k, v string) {
		if _, ok := params[k]; !ok && v != "" {
			params[k] = v
		}
	}
	ms := func(d time.Duration) string {
		if d <= 0 {
			return ""
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	setDefault("application_name", s.AppName)
	setDefault("statement_timeout", ms(s.StatementTimeout))
	setDefault("idle_in_transaction_session_timeout", ms(s.IdleInTxTimeout))
	setDefault("tcp_keepalives_idle", strconv.Itoa(int(keepaliveIdle.Seconds())))
	setDefault("tcp_keepalives_interval", strconv.Itoa(int(keepaliveInterval.Seconds())))
	setDefault("tcp_keepalives_count", strconv.Itoa(keepaliveCount))
	connectTimeout := 5 * time.Second
	if cfg.ConnConfig.ConnectTimeout > 0 {
		connectTimeout = cfg.ConnConfig.ConnectTimeout
	}
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: keepaliveIdle, Interval: keepaliveInterval, Count: keepaliveCount}}
	cfg.ConnConfig.DialFunc = dialer.DialContext
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return pool, nil
}

// CloseWithin closes pool, waiting at most d. pgxpool waits up to 15 s
// for the server to close each connection, which a silent server
// (partition) never does; at process exit the kernel closes the sockets
// anyway.
func CloseWithin(pool *pgxpool.Pool, d time.Duration) {
	done := make(chan struct{})
	go func() { pool.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// WithTx runs fn in a transaction: it commits when fn returns nil and rolls
// back when fn returns an error or panics. Rollback uses a context that is
// not cancelled with ctx, so a cancelled request still releases its locks.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return finish(ctx, tx, fn)
}

// WithBatchTx is WithTx for a transaction whose statements are known
// before it begins: queue puts them into a batch that begins the
// transaction, which goes to the server in one round trip with its BEGIN
// (pgx Batch.BeginTx); once their results are read (and the queued
// callbacks have run), fn runs in the transaction, which commits when fn
// returns nil. A failed statement, a callback's error or fn's error roll
// it back. So a change that needs no answer from the database before its
// last write costs two round trips (the batch, the commit) instead of one
// per statement plus the BEGIN and the COMMIT.
func WithBatchTx(ctx context.Context, pool *pgxpool.Pool, queue func(*pgx.Batch) error, fn func(pgx.Tx) error) error {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	if err := queue(b); err != nil {
		return err
	}
	br := pool.SendBatch(ctx, b)
	return finish(ctx, br.Tx(), func(tx pgx.Tx) error {
		if err := br.Close(); err != nil {
			return err
		}
		return fn(tx)
	})
}

// finish runs fn in the begun tx and commits, or rolls back on error or panic.
func finish(ctx context.Context, tx pgx.Tx, fn func(pgx.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is SQLSTATE 23505 on constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}
