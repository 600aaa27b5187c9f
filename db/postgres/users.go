package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
)

const userColumns = `id, email, name, password_hash, created_at, last_login_at, email_verified_at, disabled_at, COALESCE(registration_attempt, '')`

func scanUser(row pgx.Row) (*authevents.User, error) {
	var u authevents.User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.CreatedAt, &u.LastLoginAt, &u.EmailVerifiedAt, &u.DisabledAt, &u.RegistrationAttempt)
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
		`INSERT INTO users (id, email, name, password_hash, email_verified_at) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.EmailVerifiedAt).Scan(&u.CreatedAt)
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

// QueueRecordLogin queues into b, for a transaction sent as one pipelined
// batch (WithBatchTx), the update that sets last_login_at (and, when
// newHash is not empty, upgrades the stored hash) if the stored hash is
// still checkedHash, the one the login verified the password against.
// When the batch's results are read, *user is the updated user; a password
// reset or change that committed after that check (or a deletion) fails
// the batch with ErrNotFound: the login must not get a session with a
// password that no longer holds, nor write back a rehash of it.
func QueueRecordLogin(b *pgx.Batch, id uuid.UUID, checkedHash, newHash string, user **authevents.User) {
	b.Queue(`
		UPDATE users SET last_login_at = now(), updated_at = now(),
		       password_hash = COALESCE(NULLIF($2, ''), password_hash)
		 WHERE id = $1 AND password_hash = $3
		RETURNING `+userColumns, id, newHash, checkedHash).QueryRow(func(row pgx.Row) error {
		u, err := scanUser(row)
		if err != nil && !errors.Is(err, authevents.ErrNotFound) {
			return fmt.Errorf("record login: %w", err)
		}
		*user = u
		return err
	})
}

// SetPassword stores a new password hash for the user and returns the
// updated user. With checkedHash not empty, it does so only if the stored
// hash is still checkedHash (the one the caller verified the current
// password against); otherwise, or for an unknown user, it is ErrNotFound.
func SetPassword(ctx context.Context, tx pgx.Tx, id uuid.UUID, checkedHash, hash string) (*authevents.User, error) {
	return scanUser(tx.QueryRow(ctx, `
		UPDATE users SET password_hash = $2, registration_attempt = NULL, updated_at = now()
		 WHERE id = $1 AND ($3 = '' OR password_hash = $3)
		RETURNING `+userColumns, id, hash, checkedHash))
}

// SetRegistrationAttempt stores the password of the latest registration
// of the user's taken address, a password.HashAlike of its password hash,
// in place of any earlier one. An unknown user is ErrNotFound.
func SetRegistrationAttempt(ctx context.Context, tx pgx.Tx, id uuid.UUID, alike string) error {
	tag, err := tx.Exec(ctx, `UPDATE users SET registration_attempt = $2 WHERE id = $1`, id, alike)
	if err != nil {
		return fmt.Errorf("set registration attempt: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return authevents.ErrNotFound
	}
	return nil
}

// MarkEmailVerified records that the owner of the user's current address
// proved it, if email is still that address, and returns the user. A
// user whose address changed since (or who is gone) is ErrNotFound.
// Verifying twice keeps the first time.
func MarkEmailVerified(ctx context.Context, tx pgx.Tx, id uuid.UUID, email string) (*authevents.User, error) {
	return scanUser(tx.QueryRow(ctx, `
		UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now(),
		       registration_attempt = CASE WHEN email_verified_at IS NULL THEN NULL ELSE registration_attempt END
		 WHERE id = $1 AND email = $2
		RETURNING `+userColumns, id, email))
}

// ChangeEmail moves the user to a new, verified address and returns the
// user as it was before (its old address) and after. A taken address is
// ErrEmailTaken, an unknown user ErrNotFound.
func ChangeEmail(ctx context.Context, tx pgx.Tx, id uuid.UUID, email string) (before, after *authevents.User, err error) {
	if before, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id)); err != nil {
		return nil, nil, err
	}
	after, err = scanUser(tx.QueryRow(ctx, `
		UPDATE users SET email = $2, email_verified_at = now(), registration_attempt = NULL, updated_at = now() WHERE id = $1
		RETURNING `+userColumns, id, email))
	if isUniqueViolation(err, "users_email_key") {
		return nil, nil, authevents.ErrEmailTaken
	}
	return before, after, err
}

// SetDisabled disables (disabled true) or enables the user and reports
// whether that changed anything: disabling a disabled user, or enabling an
// enabled one, writes nothing. An unknown user is ErrNotFound.
func SetDisabled(ctx context.Context, tx pgx.Tx, id uuid.UUID, disabled bool) (changed bool, err error) {
	tag, err := tx.Exec(ctx, `
		UPDATE users SET disabled_at = CASE WHEN $2 THEN now() END, updated_at = now()
		 WHERE id = $1 AND (disabled_at IS NOT NULL) <> $2`, id, disabled)
	if err != nil {
		return false, fmt.Errorf("set disabled: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	if _, err := UserByID(ctx, tx, id); err != nil {
		return false, err
	}
	return false, nil
}

// DeleteUser deletes the user; its sessions and one-time links go with it
// (ON DELETE CASCADE). An unknown user is ErrNotFound.
func DeleteUser(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return authevents.ErrNotFound
	}
	return nil
}
