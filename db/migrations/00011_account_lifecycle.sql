-- +goose Up
-- Verified addresses (issue 18). An account registered before verification
-- existed counts as verified from its creation: turning the new
-- EMAIL_VERIFICATION=required default on must not lock existing users out.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- One-time tokens of the links the service mails: address verification,
-- password reset, email change. Only the SHA-256 of a token is stored (a
-- token has 256 random bits, so its hash cannot be guessed back), never
-- the token. A row is deleted when its token is used, and the rows of a
-- user and purpose are deleted when a newer token is issued, so a used or
-- superseded token is simply unknown; an expired one is refused by
-- expires_at and pruned later.
--   email  the address the link was sent to: the user's address when it
--          was issued (verify_email, reset_password), or the new address
--          (change_email). A token is good only while it still applies to
--          that address.
CREATE TABLE one_time_tokens (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    email      text        NOT NULL CHECK (email <> '' AND octet_length(email) <= 254),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX one_time_tokens_user_purpose_idx ON one_time_tokens (user_id, purpose);
CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at);

-- +goose Down
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
