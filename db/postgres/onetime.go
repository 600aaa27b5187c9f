package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
)

// Purpose is what a one-time token is good for; a token of one purpose is
// unknown to every other.
type Purpose string

// The purposes of one_time_tokens.
const (
	PurposeVerifyEmail   Purpose = "verify_email"
	PurposeResetPassword Purpose = "reset_password"
	PurposeChangeEmail   Purpose = "change_email"
)

// OneTime is a stored one-time token: its owner and the address its link
// was sent to. The token itself is never stored, only its hash.
type OneTime struct {
	UserID    uuid.UUID
	Email     string
	ExpiresAt time.Time
}

// IssueOneTime stores the hash of a new token of purpose for the user,
// ending every older token of that user and purpose (a newer link
// supersedes the older ones).
func IssueOneTime(ctx context.Context, tx pgx.Tx, purpose Purpose, hash []byte, t OneTime) error {
	if _, err := tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2`, t.UserID, purpose); err != nil {
		return fmt.Errorf("end older %s tokens: %w", purpose, err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO one_time_tokens (token_hash, user_id, purpose, email, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hash, t.UserID, purpose, t.Email, t.ExpiresAt); err != nil {
		return fmt.Errorf("store %s token: %w", purpose, err)
	}
	return nil
}

// ConsumeOneTime uses up the token of purpose with hash and returns what
// it was issued for. A token that is unknown (made up, used, superseded,
// of another purpose) or expired (by the database's clock) is
// ErrNotFound, alike; expired rows are left to PruneOneTimes. Single use
// holds under concurrency: the DELETE lets one transaction have the row.
func ConsumeOneTime(ctx context.Context, tx pgx.Tx, purpose Purpose, hash []byte) (OneTime, error) {
	var t OneTime
	err := tx.QueryRow(ctx, `
		DELETE FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > now()
		RETURNING user_id, email, expires_at`, hash, purpose).Scan(&t.UserID, &t.Email, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return OneTime{}, authevents.ErrNotFound
	}
	if err != nil {
		return OneTime{}, fmt.Errorf("use %s token: %w", purpose, err)
	}
	return t, nil
}

// EndOneTimes deletes every token of the user (of the given purposes, or
// all when none is given): a password reset ends the other reset links,
// a deleted user's links die with it.
func EndOneTimes(ctx context.Context, tx pgx.Tx, userID uuid.UUID, purposes ...Purpose) error {
	var err error
	if len(purposes) == 0 {
		_, err = tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE user_id = $1`, userID)
	} else {
		_, err = tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = ANY($2)`, userID, purposeNames(purposes))
	}
	if err != nil {
		return fmt.Errorf("end one-time tokens: %w", err)
	}
	return nil
}

// PruneOneTimes deletes at most limit tokens that expired before cutoff
// and returns how many it deleted.
func PruneOneTimes(ctx context.Context, q Querier, cutoff time.Time, limit int) (int, error) {
	tag, err := q.Exec(ctx, `
		DELETE FROM one_time_tokens WHERE token_hash IN (
			SELECT token_hash FROM one_time_tokens WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("prune one-time tokens: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// PeekOneTime returns what the unexpired token of one of purposes with
// hash was issued for, and its purpose, without using it up (a reset
// first checks the token, then hashes the new password outside any
// transaction, then consumes it). Unknown or expired is ErrNotFound.
func PeekOneTime(ctx context.Context, q Querier, hash []byte, purposes ...Purpose) (OneTime, Purpose, error) {
	var t OneTime
	var p string
	err := q.QueryRow(ctx, `
		SELECT user_id, email, expires_at, purpose FROM one_time_tokens
		 WHERE token_hash = $1 AND purpose = ANY($2) AND expires_at > now()`, hash, purposeNames(purposes)).
		Scan(&t.UserID, &t.Email, &t.ExpiresAt, &p)
	if errors.Is(err, pgx.ErrNoRows) {
		return OneTime{}, "", authevents.ErrNotFound
	}
	if err != nil {
		return OneTime{}, "", fmt.Errorf("find one-time token: %w", err)
	}
	return t, Purpose(p), nil
}

func purposeNames(ps []Purpose) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	return names
}
