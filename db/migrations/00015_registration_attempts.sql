-- +goose Up
-- The password of the latest registration of a taken address (issue 18,
-- EMAIL_VERIFICATION=required): a PHC string under the salt and the
-- parameters of the account's own password_hash (password.HashAlike), so
-- that login checks a password against both with one key derivation. A
-- login with it answers 403 email_not_verified, as it would had the
-- address been free: register-then-login tells nobody which addresses
-- have accounts. NULL when there is none; a password change, a
-- verification and an address change clear it.
ALTER TABLE users ADD COLUMN registration_attempt text;

-- +goose Down
ALTER TABLE users DROP COLUMN registration_attempt;
