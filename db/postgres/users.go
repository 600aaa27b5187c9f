package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
)

const userColumns = `id, email, name, password_hash, created_at, last_login_at`

func scanUser(row pgx.Row) (*authevents.User, error) {
	var u authevents.User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.CreatedAt, &u.LastLoginAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, authevents.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser inserts u and fills in its creation time. A taken email is
// ErrEmailTaken.
func CreateUser(ctx context.Context, tx pgx.Tx, u *authevents.User) error {
	err := tx.QueryRow(ctx,
		`INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		u.ID, u.Email, u.Name, u.PasswordHash).Scan(&u.CreatedAt)
	if isUniqueViolation(err, "users_email_key") {
		return authevents.ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// UserByEmail returns the user with the normalized email, or ErrNotFound.
func UserByEmail(ctx context.Context, q Querier, email string) (*authevents.User, error) {
	return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
}

// UserByID returns the user with id, or ErrNotFound.
func UserByID(ctx context.Context, q Querier, id uuid.UUID) (*authevents.User, error) {
	return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// RecordLogin sets last_login_at (and, when newHash is not empty, upgrades
// the password hash) and returns the updated user.
func RecordLogin(ctx context.Context, tx pgx.Tx, id uuid.UUID, newHash string) (*authevents.User, error) {
	return scanUser(tx.QueryRow(ctx, `
		UPDATE users SET last_login_at = now(), updated_at = now(),
		       password_hash = COALESCE(NULLIF($2, ''), password_hash)
		 WHERE id = $1
		RETURNING `+userColumns, id, newHash))
}
