-- Access control (ACC-1 … ACC-7, AUD-9): custom roles, role assignments, the access version that
-- invalidates cached permission sets, the role-change trail, owner transfer offers, and the
-- request check extended to return the access version.

-- A refused action is an audit event of its own (ACC-7).
ALTER TYPE palisade.audit_action ADD VALUE 'DENY';

-- ---------------------------------------------------------------------------------------------
-- Custom roles of a workspace. Predefined roles (Owner, Admin, Member, Finance Manager, …) are
-- data in the code (their modules declare them); only workspace-made roles live here.
CREATE TABLE tenant.roles (
  workspace_id   uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description    text CHECK (length(description) <= 500),
  permissions    text[] NOT NULL CHECK (cardinality(permissions) <= 500),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX roles_name ON tenant.roles (workspace_id, lower(name));
SELECT palisade_private.enable_tenant_rls('tenant.roles');
SELECT palisade_private.enable_audit('tenant.roles');

-- Roles a member holds beside their system role (owner/admin/member in tenant.members): a
-- predefined role by key, or a custom role by id.
CREATE TABLE tenant.member_roles (
  workspace_id uuid NOT NULL,
  user_id      uuid NOT NULL,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  role_key     text CHECK (role_key ~ '^[a-z][a-z0-9_]{0,62}$'),
  role_id      uuid,
  granted_by   uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id),
  CHECK (num_nonnulls(role_key, role_id) = 1),
  -- No ON DELETE CASCADE: referential actions run as the table owner, outside the request's
  -- role, so the audit and trail triggers would not see the app's context. The code removes
  -- assignments itself, in the same transaction, before a role or a membership.
  FOREIGN KEY (workspace_id, user_id) REFERENCES tenant.members (workspace_id, user_id),
  FOREIGN KEY (workspace_id, role_id) REFERENCES tenant.roles (workspace_id, id)
);
CREATE UNIQUE INDEX member_roles_key ON tenant.member_roles (workspace_id, user_id, role_key) WHERE role_key IS NOT NULL;
CREATE UNIQUE INDEX member_roles_custom ON tenant.member_roles (workspace_id, user_id, role_id) WHERE role_id IS NOT NULL;
CREATE INDEX member_roles_role ON tenant.member_roles (workspace_id, role_id);
SELECT palisade_private.enable_tenant_rls('tenant.member_roles', 'SELECT, INSERT, DELETE');
SELECT palisade_private.enable_audit('tenant.member_roles');

-- ---------------------------------------------------------------------------------------------
-- The access version: every change to roles, assignments or memberships moves it forward, and
-- palisade.begin_request returns it, so a cached permission set is reused only while it is
-- current and a change applies on the very next request.
CREATE TABLE tenant.access_versions (
  workspace_id uuid NOT NULL PRIMARY KEY REFERENCES central.workspaces (id) ON DELETE CASCADE,
  version      bigint NOT NULL DEFAULT 1
);
SELECT palisade_private.enable_tenant_rls('tenant.access_versions', 'SELECT, INSERT, UPDATE');

CREATE FUNCTION palisade_private.access_bump() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    -- No insert on delete: a workspace being deleted cascades here, and must not be recreated.
    UPDATE tenant.access_versions SET version = version + 1 WHERE workspace_id = OLD.workspace_id;
    RETURN NULL;
  END IF;
  INSERT INTO tenant.access_versions AS v (workspace_id) VALUES (NEW.workspace_id)
    ON CONFLICT (workspace_id) DO UPDATE SET version = v.version + 1;
  RETURN NULL;
END
$$;
CREATE TRIGGER access_bump AFTER INSERT OR UPDATE OR DELETE ON tenant.roles
  FOR EACH ROW EXECUTE FUNCTION palisade_private.access_bump();
CREATE TRIGGER access_bump AFTER INSERT OR UPDATE OR DELETE ON tenant.member_roles
  FOR EACH ROW EXECUTE FUNCTION palisade_private.access_bump();
CREATE TRIGGER access_bump AFTER INSERT OR DELETE OR UPDATE OF role, status ON tenant.members
  FOR EACH ROW EXECUTE FUNCTION palisade_private.access_bump();

-- ---------------------------------------------------------------------------------------------
-- The role-change trail (AUD-9): every grant, revoke, role edit and ownership change, written by
-- triggers so that no code path can skip it. Append-only like the audit trail; each change is
-- also an ordinary audit event of the table it touched.
CREATE TABLE tenant.role_changes (
  workspace_id  uuid NOT NULL,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  occurred_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor_user_id uuid,
  change        text NOT NULL CHECK (change IN ('role_created', 'role_updated', 'role_deleted', 'role_assigned',
                                                'role_unassigned', 'system_role_changed', 'member_added', 'member_removed')),
  subject_user_id uuid,
  role          text,
  old_value     jsonb,
  new_value     jsonb,
  PRIMARY KEY (workspace_id, id)
);
CREATE INDEX role_changes_time ON tenant.role_changes (workspace_id, occurred_at);
SELECT palisade_private.enable_tenant_rls('tenant.role_changes', 'SELECT, INSERT');
SELECT palisade_private.enable_append_only('tenant.role_changes');

CREATE FUNCTION palisade_private.role_change_row() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
DECLARE
  actor uuid := NULLIF(pg_catalog.current_setting('palisade.user_id', true), '')::uuid;
BEGIN
  IF TG_TABLE_NAME = 'roles' THEN
    INSERT INTO tenant.role_changes (workspace_id, actor_user_id, change, role, old_value, new_value)
    VALUES (coalesce(NEW.workspace_id, OLD.workspace_id), actor,
            CASE TG_OP WHEN 'INSERT' THEN 'role_created' WHEN 'UPDATE' THEN 'role_updated' ELSE 'role_deleted' END,
            coalesce(NEW.id, OLD.id)::text,
            CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.jsonb_build_object('name', OLD.name, 'permissions', OLD.permissions) END,
            CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.jsonb_build_object('name', NEW.name, 'permissions', NEW.permissions) END);
  ELSIF TG_TABLE_NAME = 'member_roles' THEN
    INSERT INTO tenant.role_changes (workspace_id, actor_user_id, change, subject_user_id, role)
    VALUES (coalesce(NEW.workspace_id, OLD.workspace_id), actor,
            CASE TG_OP WHEN 'INSERT' THEN 'role_assigned' ELSE 'role_unassigned' END,
            coalesce(NEW.user_id, OLD.user_id),
            coalesce(NEW.role_key, NEW.role_id::text, OLD.role_key, OLD.role_id::text));
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO tenant.role_changes (workspace_id, actor_user_id, change, subject_user_id, role)
    VALUES (NEW.workspace_id, actor, 'member_added', NEW.user_id, NEW.role);
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO tenant.role_changes (workspace_id, actor_user_id, change, subject_user_id, role)
    VALUES (OLD.workspace_id, actor, 'member_removed', OLD.user_id, OLD.role);
  ELSIF NEW.role IS DISTINCT FROM OLD.role THEN
    INSERT INTO tenant.role_changes (workspace_id, actor_user_id, change, subject_user_id, role, old_value, new_value)
    VALUES (NEW.workspace_id, actor, 'system_role_changed', NEW.user_id, NEW.role,
            pg_catalog.to_jsonb(OLD.role), pg_catalog.to_jsonb(NEW.role));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER role_change AFTER INSERT OR UPDATE OR DELETE ON tenant.roles
  FOR EACH ROW EXECUTE FUNCTION palisade_private.role_change_row();
CREATE TRIGGER role_change AFTER INSERT OR DELETE ON tenant.member_roles
  FOR EACH ROW EXECUTE FUNCTION palisade_private.role_change_row();
CREATE TRIGGER role_change AFTER INSERT OR DELETE OR UPDATE OF role ON tenant.members
  FOR EACH ROW EXECUTE FUNCTION palisade_private.role_change_row();
ALTER TABLE tenant.roles ENABLE ALWAYS TRIGGER role_change;
ALTER TABLE tenant.member_roles ENABLE ALWAYS TRIGGER role_change;
ALTER TABLE tenant.members ENABLE ALWAYS TRIGGER role_change;

-- ---------------------------------------------------------------------------------------------
-- Owner transfer (ACC-6) is two steps: an owner offers, the other member accepts. One open offer
-- per workspace; an offer lapses after its expiry or when withdrawn. No foreign key to members:
-- an offer outlives a removed member as history, and accepting checks membership.
CREATE TABLE tenant.ownership_offers (
  workspace_id uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  from_user_id uuid NOT NULL,
  to_user_id   uuid NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  accepted_at  timestamptz,
  withdrawn_at timestamptz,
  PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX ownership_offers_open ON tenant.ownership_offers (workspace_id)
  WHERE accepted_at IS NULL AND withdrawn_at IS NULL;
SELECT palisade_private.enable_tenant_rls('tenant.ownership_offers', 'SELECT, INSERT, UPDATE');
SELECT palisade_private.enable_audit('tenant.ownership_offers');

-- ---------------------------------------------------------------------------------------------
-- The request check, now also returning the workspace's access version (one more index lookup in
-- the same statement, no extra round trip).
CREATE POLICY access_versions_owner_auth ON tenant.access_versions FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.auth', true) = 'on');

DROP FUNCTION palisade.begin_request(bytea, uuid, text, text, text, integer, integer);
CREATE FUNCTION palisade.begin_request(
  token_hash bytea, workspace_id uuid, ip text, user_agent text, route text,
  idle_timeout_seconds integer, privileged_max_age_seconds integer
) RETURNS TABLE (user_id uuid, email text, role text, session_id uuid, session_created_at timestamptz, access_version bigint)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  v_session_id uuid; v_user_id uuid; v_created timestamptz; v_last_seen timestamptz; v_expires timestamptz;
  v_revoked timestamptz; v_device text; v_email text; v_user_status text; v_user_cutoff timestamptz;
  v_member boolean; v_role text; v_member_status text; v_member_cutoff timestamptz; v_ws_cutoff timestamptz;
  v_version bigint;
  now_ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  IF pg_catalog.current_setting('palisade.context_set', true) = 'on' THEN
    RAISE EXCEPTION 'the request context is already set for this transaction' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_catalog.set_config('palisade.auth', 'on', true);
  SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.device_id,
         u.email, u.status, u.sessions_valid_after,
         m.user_id IS NOT NULL, m.role, m.status, m.sessions_valid_after, w.sessions_valid_after,
         coalesce(av.version, 0)
    INTO v_session_id, v_user_id, v_created, v_last_seen, v_expires, v_revoked, v_device,
         v_email, v_user_status, v_user_cutoff,
         v_member, v_role, v_member_status, v_member_cutoff, v_ws_cutoff, v_version
    FROM central.sessions s
    JOIN central.users u ON u.id = s.user_id
    LEFT JOIN tenant.members m ON m.workspace_id = begin_request.workspace_id AND m.user_id = s.user_id
    LEFT JOIN central.workspaces w ON w.id = begin_request.workspace_id
    LEFT JOIN tenant.access_versions av ON av.workspace_id = begin_request.workspace_id
   WHERE s.token_hash = begin_request.token_hash;
  IF NOT FOUND THEN RAISE EXCEPTION 'SESSION_INVALID' USING ERRCODE = '28000'; END IF;
  IF v_revoked IS NOT NULL THEN RAISE EXCEPTION 'SESSION_REVOKED' USING ERRCODE = '28000'; END IF;
  IF v_expires <= now_ts THEN RAISE EXCEPTION 'SESSION_EXPIRED' USING ERRCODE = '28000'; END IF;
  IF v_last_seen + pg_catalog.make_interval(secs => idle_timeout_seconds) <= now_ts THEN
    RAISE EXCEPTION 'SESSION_IDLE' USING ERRCODE = '28000';
  END IF;
  IF v_user_status <> 'active' THEN RAISE EXCEPTION 'USER_DEACTIVATED' USING ERRCODE = '28000'; END IF;
  IF v_created < v_user_cutoff THEN RAISE EXCEPTION 'SESSION_REVOKED' USING ERRCODE = '28000'; END IF;
  IF workspace_id IS NOT NULL THEN
    IF NOT v_member THEN RAISE EXCEPTION 'NOT_A_MEMBER' USING ERRCODE = '28000'; END IF;
    IF v_member_status <> 'active' THEN RAISE EXCEPTION 'MEMBERSHIP_DEACTIVATED' USING ERRCODE = '28000'; END IF;
    IF v_created < v_member_cutoff THEN RAISE EXCEPTION 'ROLE_CHANGED' USING ERRCODE = '28000'; END IF;
    IF v_created < v_ws_cutoff THEN RAISE EXCEPTION 'WORKSPACE_SESSIONS_REVOKED' USING ERRCODE = '28000'; END IF;
    IF v_role IN ('owner', 'admin') AND v_created + pg_catalog.make_interval(secs => privileged_max_age_seconds) <= now_ts THEN
      RAISE EXCEPTION 'SESSION_EXPIRED' USING ERRCODE = '28000';
    END IF;
  ELSE
    v_role := NULL;
    v_version := NULL;
  END IF;
  IF v_last_seen < now_ts - interval '60 seconds' THEN
    UPDATE central.sessions x SET last_seen_at = now_ts WHERE x.id = v_session_id;
  END IF;
  PERFORM pg_catalog.set_config('palisade.auth', '', true),
          pg_catalog.set_config('palisade.context_set', 'on', true),
          pg_catalog.set_config('palisade.workspace_id', coalesce(workspace_id::text, ''), true),
          pg_catalog.set_config('palisade.user_id', v_user_id::text, true),
          pg_catalog.set_config('palisade.user_email', v_email, true),
          pg_catalog.set_config('palisade.user_role', coalesce(v_role, ''), true),
          pg_catalog.set_config('palisade.session_id', v_session_id::text, true),
          pg_catalog.set_config('palisade.device_id', coalesce(v_device, ''), true),
          pg_catalog.set_config('palisade.ip', coalesce(ip, ''), true),
          pg_catalog.set_config('palisade.user_agent', coalesce(user_agent, ''), true),
          pg_catalog.set_config('palisade.route', coalesce(route, ''), true);
  RETURN QUERY SELECT v_user_id, v_email, v_role, v_session_id, v_created, v_version;
END
$$;
REVOKE EXECUTE ON FUNCTION palisade.begin_request(bytea, uuid, text, text, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION palisade.begin_request(bytea, uuid, text, text, text, integer, integer) TO palisade_app, palisade_system;
