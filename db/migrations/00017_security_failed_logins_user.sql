-- +goose Up
-- The user of a failed login, when the address has an account (issue 19):
-- user.deleted deletes the user's failed logins by user id, whatever
-- address they were made under (an address changed since is still the
-- user's). Rows written before this column are found by the address that
-- user.deleted carries.
ALTER TABLE security_failed_logins ADD COLUMN user_id uuid;
CREATE INDEX security_failed_logins_user_idx ON security_failed_logins (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP INDEX security_failed_logins_user_idx;
ALTER TABLE security_failed_logins DROP COLUMN user_id;
