-- Kernel: schemas, tenant context, the guarded bypass and the RLS helper every module uses.
-- Runs as palisade_owner. Frozen once released: add a new numbered file instead of editing.

-- Functions are not executable by PUBLIC unless granted: every grant below is deliberate.
ALTER DEFAULT PRIVILEGES FOR ROLE palisade_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

CREATE SCHEMA palisade;   -- functions the app may call
CREATE SCHEMA central;    -- data that spans workspaces (directory, identities, sessions)
CREATE SCHEMA tenant;     -- workspace data: every table carries workspace_id and is RLS-forced
-- palisade_private (created by the migration runner) holds secrets and bookkeeping: no app access.

GRANT USAGE ON SCHEMA palisade, central, tenant TO palisade_app, palisade_system;

-- The workspace of the current transaction, or NULL. current_setting(…, true) returns '' (not NULL)
-- once any earlier SET LOCAL of the same name ran in this session, so '' must mean "no workspace"
-- rather than a cast error. Policies call it as `(select palisade.current_workspace())` so the
-- planner evaluates it once per query (an InitPlan) and keeps the index on workspace_id.
-- No SET search_path here (unlike the SECURITY DEFINER functions): a SET clause stops PostgreSQL
-- from inlining a SQL function, and costs a configuration save and restore at every call. The
-- body names pg_catalog explicitly, and the app can create no object that could shadow it.
CREATE FUNCTION palisade.current_workspace() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  RETURN nullif(pg_catalog.current_setting('palisade.workspace_id', true), '')::uuid;

CREATE FUNCTION palisade.current_actor() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  RETURN nullif(pg_catalog.current_setting('palisade.user_id', true), '')::uuid;

GRANT EXECUTE ON FUNCTION palisade.current_workspace(), palisade.current_actor()
  TO palisade_app, palisade_system;

-- Sets the request context for the current transaction only (is_local = true). The app cannot call
-- set_config() itself (revoked in database.sql); this is its only way in. A second call in the same
-- transaction is refused, so SQL smuggled into a later statement cannot move to another workspace.
CREATE FUNCTION palisade.set_context(
  workspace_id uuid, user_id uuid, user_email text, user_role text, session_id text, device_id text,
  ip text, user_agent text, route text
) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF pg_catalog.current_setting('palisade.context_set', true) = 'on' THEN
    RAISE EXCEPTION 'the request context is already set for this transaction'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- One statement for all of them: each PERFORM is its own executor round (~5–10 µs), and this
  -- runs at the start of every request.
  PERFORM pg_catalog.set_config('palisade.context_set', 'on', true),
          pg_catalog.set_config('palisade.workspace_id', coalesce(workspace_id::text, ''), true),
          pg_catalog.set_config('palisade.user_id', coalesce(user_id::text, ''), true),
          pg_catalog.set_config('palisade.user_email', coalesce(user_email, ''), true),
          pg_catalog.set_config('palisade.user_role', coalesce(user_role, ''), true),
          pg_catalog.set_config('palisade.session_id', coalesce(session_id, ''), true),
          pg_catalog.set_config('palisade.device_id', coalesce(device_id, ''), true),
          pg_catalog.set_config('palisade.ip', coalesce(ip, ''), true),
          pg_catalog.set_config('palisade.user_agent', coalesce(user_agent, ''), true),
          pg_catalog.set_config('palisade.route', coalesce(route, ''), true);
END
$$;
GRANT EXECUTE ON FUNCTION palisade.set_context(uuid, uuid, text, text, text, text, text, text, text) TO palisade_app;

-- Guarded bypass (ISO-4). Each process generates a random 256-bit key at start and registers its
-- SHA-256 here through the owner connection; the key itself never leaves the process memory.
CREATE TABLE palisade_private.system_keys (
  key_hash   bytea PRIMARY KEY CHECK (octet_length(key_hash) = 32),
  pid        integer NOT NULL,
  host       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- True only inside withSystem(): the transaction holds a registered process key.
CREATE FUNCTION palisade.system_ok() RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = ''
  RETURN coalesce(pg_catalog.current_setting('palisade.system_key', true), '') <> ''
     AND EXISTS (
       SELECT FROM palisade_private.system_keys k
       WHERE k.key_hash = pg_catalog.sha256(pg_catalog.convert_to(
         pg_catalog.current_setting('palisade.system_key', true), 'UTF8')));
GRANT EXECUTE ON FUNCTION palisade.system_ok() TO palisade_app, palisade_system;

-- Opens the bypass for the current transaction: checks the key and sets it transaction-locally.
-- A wrong key raises. The audit module replaces this function to record every use (ISO-4).
CREATE FUNCTION palisade.enter_system(key text, reason text) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM palisade_private.system_keys k
                  WHERE k.key_hash = pg_catalog.sha256(pg_catalog.convert_to(coalesce(key, ''), 'UTF8'))) THEN
    RAISE EXCEPTION 'invalid system key' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_catalog.set_config('palisade.system_key', key, true);
  PERFORM pg_catalog.set_config('palisade.system_reason', reason, true);
END
$$;
-- Only palisade_system may call it: withSystem() switches role first, then presents the key.
GRANT EXECUTE ON FUNCTION palisade.enter_system(text, text) TO palisade_system;

-- Applies the standard tenant policies to a table. Called by module migrations right after
-- CREATE TABLE. The app gets one policy per command, each comparing workspace_id with the
-- transaction's workspace; palisade_system gets one policy that demands the process key. No
-- policy is TO PUBLIC and none ORs a bypass into the app's policies: either would make the planner
-- drop the index on workspace_id (measured: 0.5 ms → 500+ ms for a 50-row page on 1M rows).
CREATE FUNCTION palisade_private.enable_tenant_rls(
  tbl regclass,
  app_privileges text DEFAULT 'SELECT, INSERT, UPDATE, DELETE'
) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  name text := (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = tbl);
  ws text := 'workspace_id = (SELECT palisade.current_workspace())';
BEGIN
  IF app_privileges !~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$' THEN
    RAISE EXCEPTION 'app_privileges must list SELECT/INSERT/UPDATE/DELETE, got %', app_privileges;
  END IF;
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR SELECT TO palisade_app USING (%s)',
                 name || '_app_select', tbl, ws);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR INSERT TO palisade_app WITH CHECK (%s)',
                 name || '_app_insert', tbl, ws);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR UPDATE TO palisade_app USING (%s) WITH CHECK (%s)',
                 name || '_app_update', tbl, ws, ws);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR DELETE TO palisade_app USING (%s)',
                 name || '_app_delete', tbl, ws);
  EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR ALL TO palisade_system '
                 'USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()))',
                 name || '_system', tbl);
  EXECUTE format('GRANT %s ON %s TO palisade_app, palisade_system', app_privileges, tbl);
END
$$;
