-- +goose Up
-- Retention of ended sessions (the API prunes rows that ended longer than
-- SESSION_RETENTION ago). A session ends when revoked or at its absolute
-- end (expires_at); one that went idle is pruned once its absolute end has
-- passed too, so last_used_at, which every refresh rewrites, needs no
-- index and rotations stay HOT updates.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Opaque refresh tokens: refresh_jti now holds a hash of the token's
-- secret. The grace window must hand out the same child again, which the
-- database cannot rebuild from a hash: the rotation stores the child
-- encrypted under a key derived from the parent token (AES-256-GCM), which
-- only the holder of the parent can open. NULL for rotations made with
-- JWT refresh tokens before (their child is re-signed as before).
ALTER TABLE sessions ADD COLUMN refresh_child_box bytea;

-- +goose Down
ALTER TABLE sessions DROP COLUMN refresh_child_box;
DROP INDEX sessions_revoked_at_idx;
DROP INDEX sessions_expires_at_idx;
