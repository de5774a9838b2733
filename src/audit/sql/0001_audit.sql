-- Audit trail (AUD-1 … AUD-5, AUD-7): every write recorded in the same transaction, immutable,
-- chained per workspace, checkpointed with signatures, purged only by one routine.

-- ---------------------------------------------------------------------------------------------
-- Events. One row per write, approval, sign-in, export, … of a workspace. The platform's own
-- events (uses of the withSystem bypass) go to the nil workspace 00000000-…-000, which no request
-- can select (gen_random_uuid never yields it and policies compare with the request's workspace).
-- No foreign key to central.workspaces: its per-row key-share lock would serialise concurrent
-- writers of one workspace, and the policies already pin workspace_id to the transaction's.
-- An enum rather than CHECK (action IN (…)): the 18-value list check cost ~7 µs per insert,
-- the largest single part of capturing an event (measured by `npm run bench -- audit`).
CREATE TYPE palisade.audit_action AS ENUM (
  'CREATE', 'UPDATE', 'DELETE', 'VIEW', 'DOWNLOAD', 'SEARCH', 'EXPORT', 'LOGIN', 'LOGOUT', 'LOGIN_FAILED',
  'APPROVE', 'REJECT', 'CONFIG', 'INVITE', 'DEACTIVATE', 'ROLE_CHANGE', 'SYSTEM', 'PURGE');

CREATE TABLE tenant.audit_events (
  workspace_id  uuid NOT NULL,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  -- Insertion order across all workspaces, used only to seal events in order. Never granted to
  -- palisade_app: it would reveal how many events the other workspaces write.
  pos           bigint GENERATED ALWAYS AS IDENTITY,
  occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  event_type    text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  action        palisade.audit_action NOT NULL,
  actor_user_id uuid,
  actor_email   text,
  actor_role    text,
  session_id    text,
  device_id     text,
  ip            inet,
  user_agent    text,
  route         text,
  table_name    text,
  record_id     text,
  old_values    jsonb,
  new_values    jsonb,
  reason        text,
  -- The chain (AUD-5), written once by the sealer: seq numbers a workspace's events 1, 2, 3, …
  -- and hash = SHA-256(prev_hash ‖ canonical event), prev_hash being the previous event's hash.
  seq           bigint,
  prev_hash     bytea,
  hash          bytea,
  PRIMARY KEY (workspace_id, id),
  -- One CHECK for the chain fields (each CHECK costs ~2 µs per insert): all unset, or all set.
  CHECK ((seq IS NULL AND hash IS NULL AND prev_hash IS NULL)
      OR (seq IS NOT NULL AND octet_length(hash) = 32 AND octet_length(prev_hash) = 32))
);
-- Partial: an event enters the chain's index when it is sealed, not on the writer's path.
CREATE UNIQUE INDEX audit_events_chain ON tenant.audit_events (workspace_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_time ON tenant.audit_events (workspace_id, occurred_at);
CREATE INDEX audit_events_record ON tenant.audit_events (workspace_id, table_name, record_id);
-- The sealer's queue: only unsealed events are in it, so it stays small.
CREATE INDEX audit_events_unsealed ON tenant.audit_events (workspace_id, pos) WHERE seq IS NULL;

SELECT palisade_private.enable_tenant_rls('tenant.audit_events', 'INSERT');
-- The app reads its workspace's events (RLS) without pos; palisade_system reads everything.
GRANT SELECT (workspace_id, id, occurred_at, event_type, action, actor_user_id, actor_email,
              actor_role, session_id, device_id, ip, user_agent, route, table_name, record_id,
              old_values, new_values, reason, seq, prev_hash, hash)
  ON tenant.audit_events TO palisade_app;
GRANT SELECT ON tenant.audit_events TO palisade_system;

-- Maintenance (sealing, purging, logging a bypass) runs in SECURITY DEFINER functions owned by
-- palisade_owner, which FORCE RLS otherwise keeps out. These policies let the owner in only while
-- such a function has set palisade.audit_maintenance for its own transaction.
CREATE POLICY audit_events_owner_maintenance ON tenant.audit_events FOR ALL TO palisade_owner
  USING (pg_catalog.current_setting('palisade.audit_maintenance', true) IN ('seal', 'purge', 'bypass'))
  WITH CHECK (pg_catalog.current_setting('palisade.audit_maintenance', true) IN ('seal', 'purge', 'bypass'));

-- Who, where and when come from the transaction's context, never from the inserting code: an
-- app that INSERTs an event directly cannot forge its actor, time or chain position. Inside
-- withSystem (the key-holding role, trusted code) a field the context leaves empty may be given
-- by the caller: a sign-in names the account it concerns before any session exists.
CREATE FUNCTION palisade_private.audit_stamp() RETURNS trigger
  LANGUAGE plpgsql
AS $$
DECLARE
  system_reason text := nullif(pg_catalog.current_setting('palisade.system_reason', true), '');
  trusted boolean := system_reason IS NOT NULL AND current_user = 'palisade_system';
BEGIN
  NEW.occurred_at   := pg_catalog.clock_timestamp();
  NEW.actor_user_id := coalesce(nullif(pg_catalog.current_setting('palisade.user_id', true), '')::uuid,
                                CASE WHEN trusted THEN NEW.actor_user_id END);
  NEW.actor_email   := coalesce(nullif(pg_catalog.current_setting('palisade.user_email', true), ''),
                                CASE WHEN trusted THEN NEW.actor_email END);
  NEW.actor_role    := coalesce(nullif(pg_catalog.current_setting('palisade.user_role', true), ''),
                                CASE WHEN trusted THEN NEW.actor_role END);
  NEW.session_id    := coalesce(nullif(pg_catalog.current_setting('palisade.session_id', true), ''),
                                CASE WHEN trusted THEN NEW.session_id END);
  NEW.device_id     := coalesce(nullif(pg_catalog.current_setting('palisade.device_id', true), ''),
                                CASE WHEN trusted THEN NEW.device_id END);
  NEW.ip            := coalesce(nullif(pg_catalog.current_setting('palisade.ip', true), '')::inet,
                                CASE WHEN trusted THEN NEW.ip END);
  NEW.user_agent    := coalesce(nullif(pg_catalog.current_setting('palisade.user_agent', true), ''),
                                CASE WHEN trusted THEN NEW.user_agent END);
  NEW.route         := coalesce(nullif(pg_catalog.current_setting('palisade.route', true), ''),
                                CASE WHEN trusted THEN NEW.route END);
  IF system_reason IS NOT NULL AND NEW.action <> 'SYSTEM' THEN
    NEW.reason := 'withSystem: ' || system_reason || coalesce(' / ' || NEW.reason, '');
  END IF;
  NEW.seq := NULL;
  NEW.prev_hash := NULL;
  NEW.hash := NULL;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_stamp BEFORE INSERT ON tenant.audit_events
  FOR EACH ROW EXECUTE FUNCTION palisade_private.audit_stamp();
ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_stamp;

-- Immutable (AUD-4), for every role including the owner, and ENABLE ALWAYS so that
-- session_replication_role = replica does not silence it. Two narrow exits, both only for
-- palisade_owner inside its maintenance functions: sealing writes the chain fields of an
-- unsealed event once, leaving every other column as it was; purging deletes sealed events past
-- their workspace's retention and under no legal hold.
CREATE FUNCTION palisade_private.audit_immutable() RETURNS trigger
  LANGUAGE plpgsql
AS $$
DECLARE
  maintenance text := pg_catalog.current_setting('palisade.audit_maintenance', true);
  chain CONSTANT text[] := ARRAY['seq', 'prev_hash', 'hash'];
BEGIN
  -- Nested IFs: OLD does not exist in the TRUNCATE (statement) case, and SQL does not promise
  -- to short-circuit AND.
  IF TG_OP = 'UPDATE' AND maintenance = 'seal' AND current_user = 'palisade_owner' THEN
    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.-) chain) = (pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.-) chain) THEN
      RETURN NEW;
    END IF;
  ELSIF TG_OP = 'DELETE' AND maintenance = 'purge' AND current_user = 'palisade_owner' THEN
    -- The trigger checks retention and holds itself, so even the owner posing as the purge can
    -- delete nothing that purge could not; an uncertified deletion then shows up in verify.
    IF OLD.seq IS NOT NULL
       AND OLD.occurred_at < pg_catalog.now() - pg_catalog.make_interval(days => coalesce(
             (SELECT c.retention_days FROM tenant.audit_config c WHERE c.workspace_id = OLD.workspace_id), 2557))
       AND NOT EXISTS (
             SELECT FROM tenant.audit_legal_holds h
              WHERE h.workspace_id = OLD.workspace_id AND h.released_at IS NULL
                AND ((OLD.occurred_at BETWEEN h.from_time AND h.to_time)
                  OR (OLD.table_name = h.table_name AND OLD.record_id = h.record_id))) THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit events are immutable: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_immutable BEFORE UPDATE OR DELETE ON tenant.audit_events
  FOR EACH ROW EXECUTE FUNCTION palisade_private.audit_immutable();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON tenant.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION palisade_private.audit_immutable();
ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_immutable;
ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_no_truncate;

-- Append-only tables (checkpoints, deletion certificates): no UPDATE, DELETE or TRUNCATE at all.
CREATE FUNCTION palisade_private.append_only() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Makes a table append-only for every role, replica mode included (called by the migrations of
-- checkpoints, deletion certificates, the login audit).
CREATE FUNCTION palisade_private.enable_append_only(tbl regclass) RETURNS void
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  EXECUTE pg_catalog.format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION palisade_private.append_only()', tbl);
  EXECUTE pg_catalog.format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION palisade_private.append_only()', tbl);
  EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER append_only', tbl);
  EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER append_only_truncate', tbl);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Signed checkpoints: the chain head of a workspace at a moment, signed with Ed25519 by the
-- process that sealed it. Exported outside the database, they expose a chain rewritten end to end.
CREATE TABLE tenant.audit_checkpoints (
  workspace_id uuid NOT NULL,
  seq          bigint NOT NULL,
  hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
  signed_at    timestamptz NOT NULL,
  key_id       text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  signature    bytea NOT NULL CHECK (octet_length(signature) = 64),
  PRIMARY KEY (workspace_id, seq)
);
SELECT palisade_private.enable_tenant_rls('tenant.audit_checkpoints', 'SELECT');
GRANT INSERT ON tenant.audit_checkpoints TO palisade_system;
SELECT palisade_private.enable_append_only('tenant.audit_checkpoints');

-- ---------------------------------------------------------------------------------------------
-- Retention (AUD-7): per workspace, 7 years unless configured; legal holds; certificates.
CREATE TABLE tenant.audit_config (
  workspace_id   uuid NOT NULL PRIMARY KEY REFERENCES central.workspaces (id) ON DELETE CASCADE,
  retention_days integer NOT NULL DEFAULT 2557 CHECK (retention_days BETWEEN 1 AND 36500)
);
SELECT palisade_private.enable_tenant_rls('tenant.audit_config', 'SELECT, INSERT, UPDATE');

-- A hold keeps events from purge: by time range, or by the record they concern. Holds are
-- released, never deleted.
CREATE TABLE tenant.audit_legal_holds (
  workspace_id uuid NOT NULL REFERENCES central.workspaces (id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  from_time    timestamptz,
  to_time      timestamptz,
  table_name   text,
  record_id    text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  released_at  timestamptz,
  PRIMARY KEY (workspace_id, id),
  CHECK ((from_time IS NOT NULL AND to_time IS NOT NULL AND from_time <= to_time)
      OR (table_name IS NOT NULL AND record_id IS NOT NULL))
);
SELECT palisade_private.enable_tenant_rls('tenant.audit_legal_holds', 'SELECT, INSERT, UPDATE');

-- Deletion certificates: what one purge removed, the hash it leaves the chain resting on, signed.
CREATE TABLE tenant.audit_purges (
  workspace_id  uuid NOT NULL,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  from_seq      bigint NOT NULL,
  through_seq   bigint NOT NULL,
  event_count   bigint NOT NULL,
  boundary_hash bytea NOT NULL CHECK (octet_length(boundary_hash) = 32),
  cutoff        timestamptz NOT NULL,
  purged_at     timestamptz NOT NULL,
  key_id        text NOT NULL,
  signature     bytea NOT NULL CHECK (octet_length(signature) = 64),
  PRIMARY KEY (workspace_id, id),
  UNIQUE (workspace_id, through_seq),
  CHECK (from_seq <= through_seq AND event_count = through_seq - from_seq + 1)
);
SELECT palisade_private.enable_tenant_rls('tenant.audit_purges', 'SELECT');
SELECT palisade_private.enable_append_only('tenant.audit_purges');

CREATE POLICY audit_config_owner_purge ON tenant.audit_config FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.audit_maintenance', true) = 'purge');
CREATE POLICY audit_legal_holds_owner_purge ON tenant.audit_legal_holds FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.audit_maintenance', true) = 'purge');
CREATE POLICY audit_purges_owner_purge ON tenant.audit_purges FOR ALL TO palisade_owner
  USING (pg_catalog.current_setting('palisade.audit_maintenance', true) = 'purge')
  WITH CHECK (pg_catalog.current_setting('palisade.audit_maintenance', true) = 'purge');
