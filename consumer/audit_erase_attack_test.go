package consumer_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestAuditEraseFlagChangesPersonalValuesOnly (review finding, fixed): under the erasure flag (as the
// role every deployment connects as: it owns the function), the row
// trigger lets envelope.data change freely: a non-personal fact (the
// failure's reason, the data's userId, sessionId) and the ip column to
// any value, not only personal values to "[erased]".
func TestAuditEraseFlagChangesPersonalValuesOnly(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	user, id := uuid.New(), uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, ip, user_agent, envelope)
		VALUES ($1::uuid, 'user.login_failed', $2::uuid, now(), '1.2.3.4', 'ua', jsonb_build_object('id', $1::text, 'data',
		jsonb_build_object('userId', $2::text, 'reason', 'invalid_password', 'email', 'a@example.com')))`, id, user); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('authevents.audit_erase', 'on', true)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_log SET ip = '6.6.6.6',
			envelope = jsonb_set(jsonb_set(envelope, '{data,reason}', '"rate_limited"'), '{data,userId}', to_jsonb($2::text))
			WHERE event_id = $1`, id, uuid.NewString())
		return err
	})
	if err == nil {
		var env, ip string
		pool.QueryRow(ctx, `SELECT envelope::text, ip FROM audit_log WHERE event_id = $1`, id).Scan(&env, &ip)
		t.Fatalf("the flag let a fact change: ip=%s envelope=%s", ip, env)
	}
}

// TestAuditEraseIgnoresCallersTempTable: audit_erase_user's search_path
// (pg_catalog, public) leaves pg_temp first for relations, so a caller's
// TEMP TABLE audit_log takes the place of the real one: the erasure runs
// on it, reports rows rewritten, and the real rows keep their values.
func TestAuditEraseIgnoresCallersTempTable(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	user, id := uuid.New(), uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, ip, user_agent, envelope)
		VALUES ($1::uuid, 'user.logged_in', $2::uuid, now(), '1.2.3.4', 'ua', jsonb_build_object('id', $1::text, 'data',
		jsonb_build_object('userId', $2::text, 'email', 'a@example.com')))`, id, user); err != nil {
		t.Fatal(err)
	}
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE audit_log (LIKE public.audit_log) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pg_temp.audit_log SELECT * FROM public.audit_log`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT audit_erase_user($1)`, user).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	var ip string
	pool.QueryRow(ctx, `SELECT ip FROM public.audit_log WHERE event_id = $1`, id).Scan(&ip)
	if ip != "" {
		t.Fatalf("audit_erase_user reported %d rows rewritten, the real row still has ip %q", n, ip)
	}
}

// TestAuditEraseRunsNoCallerTrigger: the documented least
// privilege (a role granted EXECUTE on audit_erase_user and nothing on
// audit_log) is enough to run any SQL as the function's owner: a TEMP
// TABLE audit_log shadows the real one inside the SECURITY DEFINER
// function (pg_temp is searched first for relations), and a trigger on it,
// calling a pg_temp function, runs as the owner with the erasure flag on.
// Here it deletes the whole audit log.
func TestAuditEraseRunsNoCallerTrigger(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	user, id := uuid.New(), uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, ip, user_agent, envelope)
		VALUES ($1::uuid, 'user.logged_in', $2::uuid, now(), '1.2.3.4', 'ua', jsonb_build_object('id', $1::text, 'data',
		jsonb_build_object('userId', $2::text, 'email', 'a@example.com')))`, id, user); err != nil {
		t.Fatal(err)
	}
	role := "audit_least_" + uuid.NewString()[:8]
	for _, s := range []string{`CREATE ROLE ` + role + ` NOLOGIN`, `GRANT EXECUTE ON FUNCTION audit_erase_user(uuid) TO ` + role} {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), `DROP OWNED BY `+role)
		pool.Exec(context.Background(), `DROP ROLE `+role)
	})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range []string{
			`SET LOCAL ROLE ` + role,
			`CREATE TEMP TABLE audit_log (user_id uuid, ip text, user_agent text, envelope jsonb) ON COMMIT DROP`,
			`INSERT INTO pg_temp.audit_log VALUES ('` + user.String() + `', 'x', 'x', '{}')`,
			`CREATE FUNCTION pg_temp.pwn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
				EXECUTE 'ALTER TABLE public.audit_log DISABLE TRIGGER USER';
				EXECUTE 'DELETE FROM public.audit_log';
				EXECUTE 'ALTER TABLE public.audit_log ENABLE TRIGGER USER';
				RETURN NEW; END $$`,
			`CREATE TRIGGER pwn BEFORE UPDATE ON pg_temp.audit_log FOR EACH ROW EXECUTE FUNCTION pg_temp.pwn()`,
			`SELECT audit_erase_user('` + user.String() + `')`,
		} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM public.audit_log`).Scan(&n)
	if n == 0 {
		t.Fatalf("a role with EXECUTE on audit_erase_user only emptied the append-only audit log (err %v)", err)
	}
	t.Logf("held: %v", err)
}
