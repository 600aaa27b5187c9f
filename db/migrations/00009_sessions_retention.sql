-- +goose Up
-- Retention of ended sessions (the API prunes rows that ended longer than
-- SESSION_RETENTION ago). A session ends when revoked or at its absolute
-- end (expires_at); one that went idle is pruned once its absolute end has
-- passed too, so last_used_at, which every refresh rewrites, needs no
-- index and rotations stay HOT updates.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- +goose Down
DROP INDEX sessions_revoked_at_idx;
DROP INDEX sessions_expires_at_idx;
