-- +goose Up
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL CHECK (email <> '' AND octet_length(email) <= 254),
    name          text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
-- The application stores emails normalized (NFKC, lower case, trimmed), so
-- a plain unique index is the uniqueness rule.
CREATE UNIQUE INDEX users_email_key ON users (email);

-- One row per login: the refresh-token family. refresh_jti is the id of the
-- one refresh token currently valid; the token itself is never stored.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ip           text        NOT NULL DEFAULT '',
    user_agent   text        NOT NULL DEFAULT '',
    refresh_jti  uuid        NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- The transactional outbox. id, subject and payload are what a writer
-- supplies; every other column has a default so operators can insert rows by
-- hand. seq is assigned by the database at insert time: within one
-- ordering_key (the user id), rows of transactions that serialize on that
-- user's row get increasing seq in commit order.
CREATE TABLE outbox (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    subject      text        NOT NULL,
    payload      text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    ordering_key text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX outbox_seq_key ON outbox (seq);

-- +goose Down
DROP TABLE outbox;
DROP TABLE sessions;
DROP TABLE users;
