package account

import "github.com/jackc/pgx/v5"

// SetBeforeCommit installs a hook that runs inside every transaction after
// its writes; returning an error forces a rollback.
func (s *Service) SetBeforeCommit(f func(pgx.Tx) error) { s.beforeCommit = f }
