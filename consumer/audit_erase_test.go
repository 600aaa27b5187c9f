package consumer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestAuditLogIsAppendOnlyButForItsErasureFunction: UPDATE, DELETE and
// TRUNCATE stay refused; setting the erasure flag by hand lets no role
// but the function's owner through, and even then only personal values
// may change; audit_erase_user, granted to a role without UPDATE, works.
func TestAuditLogIsAppendOnlyButForItsErasureFunction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	p, evs := newPerson(t)
	p.live(t, audit.New(pool), evs[:2])
	role := "audit_probe_" + uuid.NewString()[:8]
	if _, err := pool.Exec(ctx, `CREATE ROLE `+role+` NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), `DROP OWNED BY `+role)
		pool.Exec(context.Background(), `DROP ROLE `+role)
	})
	if _, err := pool.Exec(ctx, `GRANT SELECT, UPDATE, DELETE ON audit_log TO `+role); err != nil {
		t.Fatal(err)
	}
	refused := func(name string, stmts ...string) {
		t.Helper()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for _, s := range stmts {
				var args []any
				if strings.Contains(s, "$1") {
					args = append(args, p.user)
				}
				if _, err := tx.Exec(ctx, s, args...); err != nil {
					return err
				}
			}
			return nil
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.HasPrefix(pgErr.Message, "audit_log") {
			t.Errorf("%s: %v, want refused by the audit_log triggers (42501)", name, err)
		}
	}
	refused("a plain UPDATE", `UPDATE audit_log SET ip = '' WHERE user_id = $1`)
	refused("a DELETE", `DELETE FROM audit_log WHERE user_id = $1`)
	refused("a TRUNCATE", `TRUNCATE audit_log`)
	refused("the flag set by another role", `SET LOCAL ROLE `+role, `SELECT set_config('authevents.audit_erase', 'on', true)`,
		`UPDATE audit_log SET ip = '' WHERE user_id = $1`)
	refused("a change of a fact under the flag", `SELECT set_config('authevents.audit_erase', 'on', true)`,
		`UPDATE audit_log SET type = 'user.logged_out' WHERE user_id = $1`)
	refused("the flag after the function ran", `SELECT audit_erase_user($1)`, `UPDATE audit_log SET ip = 'x' WHERE user_id = $1`)

	if _, err := pool.Exec(ctx, `GRANT EXECUTE ON FUNCTION audit_erase_user(uuid) TO `+role); err != nil {
		t.Fatal(err)
	}
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+role); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT audit_erase_user($1)`, p.user).Scan(&n)
	})
	if err != nil || n != 2 {
		t.Fatalf("audit_erase_user as a role granted it = %d, %v; want 2 rows rewritten", n, err)
	}
	assertNothingPersonal(t, pool, p.values(), "after audit_erase_user")
	if err := pool.QueryRow(ctx, `SELECT audit_erase_user($1)`, p.user).Scan(&n); err != nil || n != 0 {
		t.Errorf("audit_erase_user a second time = %d, %v; want 0 rows rewritten", n, err)
	}
}
