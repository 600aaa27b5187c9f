package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authevents/authevents"
)

const sessionColumns = `id, user_id, created_at, last_used_at, expires_at, ip, user_agent,
	refresh_jti, refresh_generation, refresh_issued_at, refresh_expires_at,
	COALESCE(prev_refresh_jti, '00000000-0000-0000-0000-000000000000'), rotated_at, revoked_at, COALESCE(revoke_reason, ''),
	refresh_child_box`

func scanSession(row pgx.Row) (*authevents.Session, error) {
	var s authevents.Session
	err := row.Scan(&s.ID, &s.UserID, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt, &s.IP, &s.UserAgent,
		&s.RefreshJTI, &s.RefreshGeneration, &s.RefreshIssuedAt, &s.RefreshExpiresAt,
		&s.PrevRefreshJTI, &s.RotatedAt, &s.RevokedAt, &s.RevokeReason, &s.RefreshChildBox)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, authevents.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// CreateSession inserts s; created_at and last_used_at come from the
// database clock.
func CreateSession(ctx context.Context, tx pgx.Tx, s *authevents.Session) error {
	return scanCreated(tx.QueryRow(ctx, createSessionSQL, createSessionArgs(s)...), s)
}

// QueueCreateSession queues CreateSession's insert of s into b, for a
// transaction sent as one pipelined batch (WithBatchTx); s is filled in
// when the batch's results are read.
func QueueCreateSession(b *pgx.Batch, s *authevents.Session) {
	b.Queue(createSessionSQL, createSessionArgs(s)...).QueryRow(func(row pgx.Row) error { return scanCreated(row, s) })
}

const createSessionSQL = `
	INSERT INTO sessions (id, user_id, expires_at, ip, user_agent, refresh_jti, refresh_issued_at, refresh_expires_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	RETURNING created_at, last_used_at`

func createSessionArgs(s *authevents.Session) []any {
	return []any{s.ID, s.UserID, s.ExpiresAt, s.IP, s.UserAgent, s.RefreshJTI, s.RefreshIssuedAt, s.RefreshExpiresAt}
}

func scanCreated(row pgx.Row, s *authevents.Session) error {
	if err := row.Scan(&s.CreatedAt, &s.LastUsedAt); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	s.RefreshGeneration = 1
	return nil
}

// lockUserSQL takes a transaction-scoped advisory lock keyed on the user
// id. Unlike a row lock it writes nothing (no tuple update, no WAL), so it
// is cheap enough to take on every refresh.
const lockUserSQL = `SELECT pg_advisory_xact_lock($1)`

// userLockKey folds a user id into the advisory lock's bigint key. Two
// users that collide only serialize with each other; nothing else happens.
func userLockKey(id uuid.UUID) int64 {
	return int64(binary.BigEndian.Uint64(id[:8]) ^ binary.BigEndian.Uint64(id[8:]))
}

// LockUser serializes, until tx ends, every transaction that appends an
// event about the user: each takes this lock before its outbox insert, so
// one user's outbox rows get seq in commit order, which the relay's
// per-user ordering relies on.
func LockUser(ctx context.Context, tx pgx.Tx, userID uuid.UUID) error {
	if _, err := tx.Exec(ctx, lockUserSQL, userLockKey(userID)); err != nil {
		return fmt.Errorf("lock user: %w", err)
	}
	return nil
}

// Rotation is the new state a refresh moves a session to.
type Rotation struct {
	SessionID   uuid.UUID
	PresentedID uuid.UUID // jti of the refresh token presented
	NewID       uuid.UUID // jti of its child
	IssuedAt    time.Time
	ExpiresAt   time.Time
	IdleTimeout time.Duration
	// ChildBox is the new refresh token sealed under the presented one,
	// for the grace window (nil: the child is re-signed instead).
	ChildBox []byte
}

// rotateSQL is the compare-and-set at the heart of refresh: it moves the
// session to the new jti only if the presented jti is still its current
// refresh token and the session is live (not revoked, within its absolute
// lifetime and idle timeout), the presented token has not expired and
// belongs to the user (an opaque token's ids are not signed). A concurrent rotation makes it wait for the
// row lock and then re-check the condition against the committed row, so
// exactly one caller wins. rotated_at is clock_timestamp(): microseconds,
// never second-granular. The new refresh token never outlives the session.
const rotateSQL = `
	UPDATE sessions
	   SET prev_refresh_jti = refresh_jti, refresh_jti = $3,
	       refresh_generation = refresh_generation + 1,
	       refresh_issued_at = $4, refresh_expires_at = LEAST($5, expires_at),
	       rotated_at = clock_timestamp(), last_used_at = clock_timestamp(),
	       refresh_child_box = $7
	 WHERE id = $1 AND refresh_jti = $2 AND user_id = $8 AND revoked_at IS NULL
	   AND refresh_expires_at > now()
	   AND expires_at > now() AND last_used_at > now() - $6::interval
	RETURNING ` + sessionColumns

// QueueLockUser queues LockUser's lock into b, for a change sent as one
// pipelined batch (which PostgreSQL runs as one implicit transaction).
func QueueLockUser(b *pgx.Batch, userID uuid.UUID) {
	b.Queue(lockUserSQL, userLockKey(userID)).Exec(func(pgconn.CommandTag) error { return nil })
}

// QueueRotate queues into b the rotation compare-and-set of r for the
// session of userID. When the batch has run, *rotated is the rotated
// session, or nil when the compare-and-set did not match (nothing
// changed).
func QueueRotate(b *pgx.Batch, userID uuid.UUID, r Rotation, rotated **authevents.Session) {
	b.Queue(rotateSQL, r.SessionID, r.PresentedID, r.NewID, r.IssuedAt, r.ExpiresAt, r.IdleTimeout, r.ChildBox, userID).
		QueryRow(func(row pgx.Row) error {
			sess, err := scanSession(row)
			if errors.Is(err, authevents.ErrNotFound) {
				*rotated = nil
				return nil
			}
			if err != nil {
				return fmt.Errorf("rotate session: %w", err)
			}
			*rotated = sess
			return nil
		})
}

// RotatedSQL is a query that returns a row, later in the same batch, only
// if QueueRotate's compare-and-set matched: its parameters $5 and $6 are
// Rotation.SessionID and Rotation.NewID (the shape outbox.QueueAppendIf
// takes, so the rotation's event is written exactly when the rotation is).
const RotatedSQL = `SELECT 1 FROM sessions WHERE id = $5 AND refresh_jti = $6`

// SessionForUpdate reads a session and locks it for the rest of tx.
func SessionForUpdate(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*authevents.Session, error) {
	return scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 FOR UPDATE`, id))
}

// RevokeSession marks a live session revoked and reports whether it was
// live. It leaves rotated_at alone: a revocation must never look like a
// fresh rotation.
func RevokeSession(ctx context.Context, tx pgx.Tx, id, userID uuid.UUID, reason string) (bool, error) {
	tag, err := tx.Exec(ctx, `
		UPDATE sessions SET revoked_at = clock_timestamp(), revoke_reason = $3
		 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID, reason)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SessionCandidate is an unrevoked session of a user that a logout may
// end: Live ones are ended (and get an event); the others are past their
// end but may still have access tokens to deny.
type SessionCandidate struct {
	ID   uuid.UUID
	Live bool
}

// SessionsToEnd lists, without locking, the user's unrevoked sessions that
// ended less than tokenLife ago or not at all (only those can still have
// valid access tokens), restricted to ids unless ids is empty. A session
// is live when it is within its absolute lifetime and idle timeout.
func SessionsToEnd(ctx context.Context, q Querier, userID uuid.UUID, ids []uuid.UUID, idle, tokenLife time.Duration) ([]SessionCandidate, error) {
	rows, err := q.Query(ctx, `
		SELECT id, expires_at > now() AND last_used_at > now() - $3::interval
		  FROM sessions
		 WHERE user_id = $1 AND revoked_at IS NULL AND (coalesce(cardinality($2::uuid[]), 0) = 0 OR id = ANY($2))
		   AND expires_at > now() - $4::interval
		 ORDER BY id`, userID, ids, idle, tokenLife)
	if err != nil {
		return nil, fmt.Errorf("sessions to end: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SessionCandidate, error) {
		var c SessionCandidate
		err := r.Scan(&c.ID, &c.Live)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("sessions to end: %w", err)
	}
	return out, nil
}

// RevokeLiveSessions revokes those of the given sessions of the user that
// are still live (not revoked, within their absolute lifetime and idle
// timeout) and returns their ids. Sessions that already ended are left
// alone: ending them again would be a lie in the event stream.
func RevokeLiveSessions(ctx context.Context, tx pgx.Tx, userID uuid.UUID, ids []uuid.UUID, reason string, idle time.Duration) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `
		UPDATE sessions SET revoked_at = clock_timestamp(), revoke_reason = $3
		 WHERE user_id = $1 AND id = ANY($2) AND revoked_at IS NULL
		   AND expires_at > now() AND last_used_at > now() - $4::interval
		RETURNING id`, userID, ids, reason, idle)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	ended, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	return ended, nil
}

// RevokeAllLiveSessions revokes every live session of the user but keep
// (uuid.Nil keeps none) and returns their ids: a password reset or change
// ends sessions opened by a login that raced it too.
func RevokeAllLiveSessions(ctx context.Context, tx pgx.Tx, userID, keep uuid.UUID, reason string, idle time.Duration) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `
		UPDATE sessions SET revoked_at = clock_timestamp(), revoke_reason = $3
		 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL
		   AND expires_at > now() AND last_used_at > now() - $4::interval
		RETURNING id`, userID, keep, reason, idle)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	ended, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", err)
	}
	return ended, nil
}

// SessionByID reads a session without locking it.
func SessionByID(ctx context.Context, q Querier, id uuid.UUID) (*authevents.Session, error) {
	return scanSession(q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
}

// LiveSessions lists a user's sessions that are neither revoked, past
// their absolute lifetime, nor idle longer than idle, newest first.
func LiveSessions(ctx context.Context, q Querier, userID uuid.UUID, idle time.Duration) ([]authevents.Session, error) {
	rows, err := q.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
		   AND last_used_at > now() - $2::interval
		 ORDER BY created_at DESC, id`, userID, idle)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []authevents.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// ClockNow returns the database's clock_timestamp(), the clock rotation
// times are written with, so comparisons never mix clocks.
func ClockNow(ctx context.Context, q Querier) (time.Time, error) {
	var t time.Time
	err := q.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t)
	return t, err
}

// PruneSessions deletes at most limit sessions that ended (were revoked,
// or reached their absolute end) before cutoff, and returns how many it
// deleted. Rows are picked with SKIP LOCKED, so API replicas pruning at
// once neither block each other nor a logout.
func PruneSessions(ctx context.Context, q Querier, cutoff time.Time, limit int) (int, error) {
	tag, err := q.Exec(ctx, `
		DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions
			 WHERE expires_at < $1 OR revoked_at < $1
			 LIMIT $2
			   FOR UPDATE SKIP LOCKED)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
