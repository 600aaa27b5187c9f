-- +goose Up
-- What the security consumer needs of the account lifecycle (issue 18):
-- reset requests, to see one account or one address asking too often
-- (password_reset_abuse), and password or address changes, to see a login
-- from a new address soon after one (login_after_change).
CREATE TABLE security_account_events (
    event_id uuid        PRIMARY KEY,
    kind     text        NOT NULL CHECK (kind IN ('reset_requested', 'password_changed', 'email_changed')),
    user_id  uuid        NOT NULL,
    ip       text        NOT NULL DEFAULT '',
    at       timestamptz NOT NULL
);
CREATE INDEX security_account_events_user_idx ON security_account_events (user_id, kind, at);
CREATE INDEX security_account_events_ip_idx ON security_account_events (ip, kind, at);

-- +goose Down
DROP TABLE security_account_events;
