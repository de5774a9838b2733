-- Identity: users, memberships, sessions, invitations, password resets, sign-in attempts.
-- Sessions are validated and the request context set by one function call per request
-- (palisade.begin_request), so revocation is checked on every request at no extra round trip.

-- ---------------------------------------------------------------------------------------------
-- Users (central: one person, any number of workspaces).
CREATE TABLE central.users (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email                text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  -- Lower-cased NFKC form, computed by the application: one account per address whatever its case.
  email_normalized     text NOT NULL UNIQUE CHECK (email_normalized = lower(email_normalized)),
  display_name         text CHECK (length(display_name) <= 200),
  password_hash        text,
  status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
  -- Sessions created before this moment are dead (password change or reset, deactivation,
  -- sign-out everywhere).
  sessions_valid_after timestamptz NOT NULL DEFAULT '-infinity',
  failed_attempts      integer NOT NULL DEFAULT 0,
  locked_until         timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE central.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_system ON central.users FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
-- The password hash is never readable by the app role, only by the key-holding system role.
GRANT SELECT (id, email, email_normalized, display_name, status, created_at) ON central.users TO palisade_app;
GRANT SELECT, INSERT, UPDATE ON central.users TO palisade_system;

-- ---------------------------------------------------------------------------------------------
-- Memberships (workspace data).
CREATE TABLE tenant.members (
  workspace_id         uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  user_id              uuid NOT NULL REFERENCES central.users (id),
  role                 text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
  -- A role change or deactivation moves this forward: the member's older sessions stop working
  -- in this workspace on their next request. Joining does not: a signed-in user who accepts an
  -- invitation keeps their session.
  sessions_valid_after timestamptz NOT NULL DEFAULT '-infinity',
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_user ON tenant.members (workspace_id, user_id, role);
SELECT palisade_private.enable_tenant_rls('tenant.members');
SELECT palisade_private.enable_audit('tenant.members');

-- The app reads the acting user and the members of its workspace; writes go through withSystem.
CREATE POLICY users_app_select ON central.users FOR SELECT TO palisade_app
  USING (id = (SELECT palisade.current_actor())
         OR EXISTS (SELECT FROM tenant.members m
                     WHERE m.user_id = users.id AND m.workspace_id = (SELECT palisade.current_workspace())));

CREATE FUNCTION palisade_private.members_touch() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  IF NEW.role IS DISTINCT FROM OLD.role OR NEW.status IS DISTINCT FROM OLD.status THEN
    NEW.sessions_valid_after := pg_catalog.clock_timestamp();
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER members_touch BEFORE UPDATE ON tenant.members
  FOR EACH ROW EXECUTE FUNCTION palisade_private.members_touch();

ALTER TABLE central.workspaces ADD COLUMN sessions_valid_after timestamptz NOT NULL DEFAULT '-infinity';

-- ---------------------------------------------------------------------------------------------
-- Sessions (central). The token is 256 random bits held only by the browser; we store its SHA-256.
CREATE TABLE central.sessions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES central.users (id),
  token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_seen_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at    timestamptz NOT NULL,
  ip            inet,
  user_agent    text,
  device_id     text,
  revoked_at    timestamptz,
  revoked_reason text
);
CREATE INDEX sessions_user ON central.sessions (user_id) WHERE revoked_at IS NULL;
ALTER TABLE central.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.sessions FORCE ROW LEVEL SECURITY;
-- A user sees and ends their own sessions; admin views of a member's sessions go through withSystem.
CREATE POLICY sessions_app_select ON central.sessions FOR SELECT TO palisade_app
  USING (user_id = (SELECT palisade.current_actor()));
CREATE POLICY sessions_app_update ON central.sessions FOR UPDATE TO palisade_app
  USING (user_id = (SELECT palisade.current_actor())) WITH CHECK (user_id = (SELECT palisade.current_actor()));
CREATE POLICY sessions_system ON central.sessions FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
GRANT SELECT (id, user_id, created_at, last_seen_at, expires_at, ip, user_agent, device_id, revoked_at, revoked_reason)
  ON central.sessions TO palisade_app;
GRANT UPDATE (revoked_at, revoked_reason) ON central.sessions TO palisade_app;
GRANT SELECT, INSERT, UPDATE ON central.sessions TO palisade_system;

-- ---------------------------------------------------------------------------------------------
-- Invitations (workspace data): bound to one e-mail, single use, 72 hours, replaced by a re-invite.
CREATE TABLE tenant.invitations (
  workspace_id     uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  email_normalized text NOT NULL,
  role             text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  token_hash       bytea NOT NULL CHECK (octet_length(token_hash) = 32),
  invited_by       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  accepted_at      timestamptz,
  accepted_by      uuid,
  revoked_at       timestamptz,
  PRIMARY KEY (workspace_id, id),
  UNIQUE (workspace_id, token_hash)
);
CREATE INDEX invitations_email ON tenant.invitations (workspace_id, email_normalized);
SELECT palisade_private.enable_tenant_rls('tenant.invitations', 'SELECT, INSERT, UPDATE');
SELECT palisade_private.enable_audit('tenant.invitations', redact => ARRAY['token_hash']);

-- ---------------------------------------------------------------------------------------------
-- Password resets (central): by e-mail link only, 1 hour, single use.
CREATE TABLE central.password_resets (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES central.users (id),
  token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  invalidated_at timestamptz
);
ALTER TABLE central.password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY password_resets_system ON central.password_resets FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
GRANT SELECT, INSERT, UPDATE ON central.password_resets TO palisade_system;

-- ---------------------------------------------------------------------------------------------
-- The login audit (AUTH-8): every sign-in attempt, append-only.
CREATE TABLE central.login_attempts (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email       text NOT NULL,
  user_id     uuid,
  succeeded   boolean NOT NULL,
  reason      text NOT NULL,
  mfa_status  text NOT NULL DEFAULT 'not_enrolled',
  ip          inet,
  user_agent  text,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_attempts_user ON central.login_attempts (user_id, created_at);
ALTER TABLE central.login_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.login_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY login_attempts_system ON central.login_attempts FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
GRANT SELECT, INSERT ON central.login_attempts TO palisade_system;
SELECT palisade_private.enable_append_only('central.login_attempts');

-- One-time setup link for the first workspace (first run), stored hashed; system role only.
CREATE TABLE central.setup_tokens (
  token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
ALTER TABLE central.setup_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.setup_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY setup_tokens_system ON central.setup_tokens FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
GRANT SELECT, INSERT, UPDATE ON central.setup_tokens TO palisade_system;

-- ---------------------------------------------------------------------------------------------
-- Owner access for begin_request (a SECURITY DEFINER function): only while it runs.
CREATE POLICY users_owner_auth ON central.users FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.auth', true) = 'on');
CREATE POLICY sessions_owner_auth ON central.sessions FOR ALL TO palisade_owner
  USING (pg_catalog.current_setting('palisade.auth', true) = 'on')
  WITH CHECK (pg_catalog.current_setting('palisade.auth', true) = 'on');
CREATE POLICY members_owner_auth ON tenant.members FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.auth', true) = 'on');
CREATE POLICY workspaces_owner_auth ON central.workspaces FOR SELECT TO palisade_owner
  USING (pg_catalog.current_setting('palisade.auth', true) = 'on');

-- Validates a session for one request and, when it is good, sets the transaction's context — one
-- statement after BEGIN, so immediate revocation costs no extra round trip (AUTH-7). Raises
-- SQLSTATE 28000 with the reason as its message when the session may not proceed: the transaction
-- is then aborted and nothing else runs in it. Checks: the session exists, is not revoked, within
-- its absolute lifetime (shorter for owner/admin) and idle timeout; the user is active and the
-- session is newer than the user's sessions_valid_after; for a workspace request, the user is an
-- active member, the session is newer than the membership's and the workspace's cut-off.
CREATE FUNCTION palisade.begin_request(
  token_hash bytea, workspace_id uuid, ip text, user_agent text, route text,
  idle_timeout_seconds integer, privileged_max_age_seconds integer
) RETURNS TABLE (user_id uuid, email text, role text, session_id uuid, session_created_at timestamptz)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = ''
AS $$
DECLARE
  v_session_id uuid; v_user_id uuid; v_created timestamptz; v_last_seen timestamptz; v_expires timestamptz;
  v_revoked timestamptz; v_device text; v_email text; v_user_status text; v_user_cutoff timestamptz;
  v_member boolean; v_role text; v_member_status text; v_member_cutoff timestamptz; v_ws_cutoff timestamptz;
  now_ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  IF pg_catalog.current_setting('palisade.context_set', true) = 'on' THEN
    RAISE EXCEPTION 'the request context is already set for this transaction' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_catalog.set_config('palisade.auth', 'on', true);
  -- One query for session, user, membership and workspace: each statement here is an executor
  -- round, and this runs on every request.
  SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.device_id,
         u.email, u.status, u.sessions_valid_after,
         m.user_id IS NOT NULL, m.role, m.status, m.sessions_valid_after, w.sessions_valid_after
    INTO v_session_id, v_user_id, v_created, v_last_seen, v_expires, v_revoked, v_device,
         v_email, v_user_status, v_user_cutoff,
         v_member, v_role, v_member_status, v_member_cutoff, v_ws_cutoff
    FROM central.sessions s
    JOIN central.users u ON u.id = s.user_id
    LEFT JOIN tenant.members m ON m.workspace_id = begin_request.workspace_id AND m.user_id = s.user_id
    LEFT JOIN central.workspaces w ON w.id = begin_request.workspace_id
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
    -- Not a member and no such workspace look the same: no probing for workspace ids.
    IF NOT v_member THEN RAISE EXCEPTION 'NOT_A_MEMBER' USING ERRCODE = '28000'; END IF;
    IF v_member_status <> 'active' THEN RAISE EXCEPTION 'MEMBERSHIP_DEACTIVATED' USING ERRCODE = '28000'; END IF;
    IF v_created < v_member_cutoff THEN RAISE EXCEPTION 'ROLE_CHANGED' USING ERRCODE = '28000'; END IF;
    IF v_created < v_ws_cutoff THEN RAISE EXCEPTION 'WORKSPACE_SESSIONS_REVOKED' USING ERRCODE = '28000'; END IF;
    IF v_role IN ('owner', 'admin') AND v_created + pg_catalog.make_interval(secs => privileged_max_age_seconds) <= now_ts THEN
      RAISE EXCEPTION 'SESSION_EXPIRED' USING ERRCODE = '28000';
    END IF;
  ELSE
    v_role := NULL;
  END IF;
  -- Idle tracking at one-minute resolution: not a write on every request.
  IF v_last_seen < now_ts - interval '60 seconds' THEN
    UPDATE central.sessions x SET last_seen_at = now_ts WHERE x.id = v_session_id;
  END IF;
  -- One statement for the whole context: each PERFORM is its own executor round (~5–10 µs).
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
  RETURN QUERY SELECT v_user_id, v_email, v_role, v_session_id, v_created;
END
$$;
GRANT EXECUTE ON FUNCTION palisade.begin_request(bytea, uuid, text, text, text, integer, integer) TO palisade_app, palisade_system;
