-- The workspace directory (central) and the first workspace-scoped tables (tenant).

-- One row per workspace. Central, but still RLS-forced: the app sees only the workspace of its
-- transaction; creating, listing and placing workspaces is a withSystem() job.
CREATE TABLE central.workspaces (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- GDPR-5: the region whose cell holds this workspace's data.
  region     text NOT NULL DEFAULT 'default' CHECK (region ~ '^[a-z0-9-]{1,40}$'),
  status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'terminated')),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE central.workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE central.workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY workspaces_app_select ON central.workspaces FOR SELECT TO palisade_app
  USING (id = (SELECT palisade.current_workspace()));
CREATE POLICY workspaces_system ON central.workspaces FOR ALL TO palisade_system
  USING ((SELECT palisade.system_ok())) WITH CHECK ((SELECT palisade.system_ok()));
GRANT SELECT ON central.workspaces TO palisade_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON central.workspaces TO palisade_system;

-- Workspace settings: one value per key.
CREATE TABLE tenant.workspace_settings (
  workspace_id uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  key          text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_.]{0,99}$'),
  value        jsonb NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, key)
);
SELECT palisade_private.enable_tenant_rls('tenant.workspace_settings');

-- Departments (the ABAC rules of ACC-4 scope approvals to them). Keys and foreign keys are
-- composite with workspace_id first: a code may repeat across workspaces without revealing
-- anything, and a parent can only be a department of the same workspace.
CREATE TABLE tenant.departments (
  workspace_id uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  code         text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  parent_id    uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, id),
  UNIQUE (workspace_id, code),
  FOREIGN KEY (workspace_id, parent_id) REFERENCES tenant.departments (workspace_id, id)
);
CREATE INDEX departments_parent ON tenant.departments (workspace_id, parent_id);
SELECT palisade_private.enable_tenant_rls('tenant.departments');
