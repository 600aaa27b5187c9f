-- +goose Up
-- Refresh-token rotation state. The refresh token itself is never stored:
-- only the jti of the current one (refresh_jti), its issue and expiry times
-- (so the same token can be re-signed, byte for byte, inside the grace
-- window), and the jti of its parent with the moment of the rotation.
-- rotated_at is written by rotation only, never by revocation, so a
-- revocation cannot reopen a grace window.
ALTER TABLE sessions
    ADD COLUMN refresh_generation integer     NOT NULL DEFAULT 1,
    ADD COLUMN refresh_issued_at  timestamptz,
    ADD COLUMN refresh_expires_at timestamptz,
    ADD COLUMN prev_refresh_jti   uuid,
    ADD COLUMN rotated_at         timestamptz,
    ADD COLUMN revoke_reason      text;
UPDATE sessions SET refresh_issued_at = date_trunc('second', created_at),
                    refresh_expires_at = LEAST(expires_at, created_at + interval '168 hours');
ALTER TABLE sessions
    ALTER COLUMN refresh_issued_at SET NOT NULL,
    ALTER COLUMN refresh_expires_at SET NOT NULL;

-- +goose Down
ALTER TABLE sessions
    DROP COLUMN refresh_generation,
    DROP COLUMN refresh_issued_at,
    DROP COLUMN refresh_expires_at,
    DROP COLUMN prev_refresh_jti,
    DROP COLUMN rotated_at,
    DROP COLUMN revoke_reason;
