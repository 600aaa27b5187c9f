-- +goose Up
-- Disabled accounts (issue 19): an operator may disable an account
-- (authctl users disable). A disabled account cannot sign in, and its
-- sessions were ended when it was disabled; NULL is enabled.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- +goose Down
ALTER TABLE users DROP COLUMN disabled_at;
