-- +goose Up
-- Per-user data keys for crypto-shredding (issue 19, package personal).
-- The personal fields of an event (email, name, IP, user agent) are
-- encrypted with the data key of their user; erasing the user destroys
-- the key, so every copy of those fields (stream, dead letters, audit log,
-- backups) becomes unreadable at once.
--   wrapped_key  the data key encrypted under a key-encryption key (KEK)
--                that lives in configuration, never in the database: a
--                dump of this table alone reveals no data key.
--   kek_id       which KEK wrapped it, so the KEK can be rotated (rows are
--                re-wrapped under the new KEK, then the old one is dropped).
--   erased_at    the tombstone: the key is gone and wrapped_key is NULL.
--                The row stays for good, so that no key is ever created
--                again for an erased user: a redelivered older event must
--                not bring the data back.
-- There is no foreign key to users: the tombstone outlives the user row,
-- and keys also exist for owners that are not users (the day keys of
-- events without an account).
CREATE TABLE personal_keys (
    user_id     uuid        PRIMARY KEY,
    kek_id      text,
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CONSTRAINT personal_keys_live_or_erased CHECK (
        (erased_at IS NULL AND kek_id IS NOT NULL AND wrapped_key IS NOT NULL)
        OR (erased_at IS NOT NULL AND kek_id IS NULL AND wrapped_key IS NULL))
);
-- KEK rotation finds the rows still wrapped under an old KEK.
CREATE INDEX personal_keys_kek_idx ON personal_keys (kek_id) WHERE erased_at IS NULL;

-- +goose Down
DROP TABLE personal_keys;
