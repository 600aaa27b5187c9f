-- +goose Up
-- Erasure in the append-only audit log (issue 19). audit_erase_user is the
-- one path past the append-only trigger: a SECURITY DEFINER function that
-- rewrites one user's rows so that the fact of each event stays (event id,
-- type, user id, times, the envelope's attributes) and the personal values
-- go: in envelope.data, email, name, ip, userAgent, newEmail and oldEmail
-- become "[erased]"; the ip and user_agent columns become ''.
--
-- It runs with search_path = pg_catalog, pg_temp and names public.audit_log,
-- so a caller's temporary table or function cannot stand in for the log
-- (review finding). Two locks make the path narrow:
--   * the statement trigger lets an UPDATE through only while the
--     transaction-local flag authevents.audit_erase is 'on' and the
--     current role is the function's owner: the function sets the flag and
--     runs as its owner; a role that sets the flag itself and updates is
--     still refused. DELETE and TRUNCATE stay refused for everyone.
--   * a row trigger refuses any UPDATE that changes more than the personal
--     values: event_id, type, user_id, occurred_at, recorded_at and the
--     envelope outside data keep their values; ip and user_agent may only
--     be emptied; in data, only a personal property (or the sealed link)
--     may change, and only to "[erased]".
-- Grant EXECUTE on audit_erase_user, and no UPDATE on audit_log, to the
-- role the audit consumer connects as (deploy/).

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('authevents.audit_erase', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = 'public.audit_erase_user(uuid)'::regprocedure) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_log_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    personal constant text[] := ARRAY['email', 'name', 'ip', 'userAgent', 'newEmail', 'oldEmail', 'link'];
BEGIN
    -- The facts stay: ids, type, times, the envelope outside data.
    IF NEW.event_id IS DISTINCT FROM OLD.event_id OR NEW.type IS DISTINCT FROM OLD.type
       OR NEW.user_id IS DISTINCT FROM OLD.user_id OR NEW.occurred_at IS DISTINCT FROM OLD.occurred_at
       OR NEW.recorded_at IS DISTINCT FROM OLD.recorded_at OR (NEW.envelope - 'data') IS DISTINCT FROM (OLD.envelope - 'data')
       -- ip and user_agent may only be emptied,
       OR (NEW.ip IS DISTINCT FROM OLD.ip AND NEW.ip <> '')
       OR (NEW.user_agent IS DISTINCT FROM OLD.user_agent AND NEW.user_agent <> '')
       OR jsonb_typeof(NEW.envelope -> 'data') IS DISTINCT FROM jsonb_typeof(OLD.envelope -> 'data') THEN
        RAISE EXCEPTION 'audit_log: an erasure changes personal values only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- and in data, a property may only change when it is personal and
    -- becomes "[erased]"; none comes or goes.
    IF jsonb_typeof(NEW.envelope -> 'data') = 'object' AND EXISTS (
        SELECT 1 FROM jsonb_each(NEW.envelope -> 'data') AS n (k, v)
          FULL JOIN jsonb_each(OLD.envelope -> 'data') AS o (k, v) USING (k)
         WHERE n.v IS DISTINCT FROM o.v
           AND NOT (k = ANY (personal) AND n.v = '"[erased]"'::jsonb AND o.v IS NOT NULL)) THEN
        RAISE EXCEPTION 'audit_log: an erasure changes personal values only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_erase_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_erase_only();

-- +goose StatementBegin
CREATE FUNCTION audit_erase_user(target uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- link: the sealed token binds its recipient's address.
    personal constant text[] := ARRAY['email', 'name', 'ip', 'userAgent', 'newEmail', 'oldEmail', 'link'];
    n bigint;
BEGIN
    PERFORM set_config('authevents.audit_erase', 'on', true);
    -- public. spelled out: with pg_temp last on the search path, no
    -- table of the caller's can stand in for the log.
    UPDATE public.audit_log a SET ip = '', user_agent = '',
           envelope = CASE WHEN jsonb_typeof(a.envelope -> 'data') = 'object' THEN
               jsonb_set(a.envelope, '{data}', (
                   SELECT jsonb_object_agg(k, CASE WHEN k = ANY (personal) AND v <> 'null'::jsonb AND v <> '""'::jsonb
                                                   THEN '"[erased]"'::jsonb ELSE v END)
                     FROM jsonb_each(a.envelope -> 'data') AS e (k, v)))
               ELSE a.envelope END
     WHERE a.user_id = target
       AND (a.ip <> '' OR a.user_agent <> '' OR EXISTS (
            SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(a.envelope -> 'data') = 'object' THEN a.envelope -> 'data' ELSE '{}' END) AS e (k, v)
             WHERE k = ANY (personal) AND v NOT IN ('null'::jsonb, '""'::jsonb, '"[erased]"'::jsonb)));
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('authevents.audit_erase', 'off', true);
    RETURN n;
END $$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION audit_erase_user(uuid) FROM PUBLIC;

-- +goose Down
DROP FUNCTION audit_erase_user(uuid);
DROP TRIGGER audit_log_erase_only ON audit_log;
DROP FUNCTION audit_log_erase_only();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
