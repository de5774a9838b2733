import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, openTestDatabase, type TestDatabase } from '../../test/db.ts';
import { lintDatabase, type Violation } from './lint.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await openTestDatabase();
});
afterAll(async () => t.close());

/**
 * Runs `ddl` in a transaction, lints inside it, and rolls back: the database is left as it was.
 * `as` says who creates the objects: the owner (as a migration would) or a superuser.
 */
async function lintWith(ddl: string, as: 'owner' | 'admin' = 'owner'): Promise<Violation[]> {
  if (as === 'admin') {
    await t.admin.script('BEGIN');
    try {
      await t.admin.script(ddl);
      return await lintDatabase(t.admin);
    } finally {
      await t.admin.script('ROLLBACK');
    }
  }
  const owner = await t.owner();
  try {
    await owner.script('BEGIN');
    try {
      await owner.script(ddl);
      return await lintDatabase(owner);
    } finally {
      await owner.script('ROLLBACK');
    }
  } finally {
    await owner.release();
  }
}

const GOOD = `CREATE TABLE tenant.lint_ok (
  workspace_id uuid NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), code text,
  PRIMARY KEY (workspace_id, id));
  SELECT palisade_private.enable_tenant_rls('tenant.lint_ok');
  SELECT palisade_private.enable_audit('tenant.lint_ok');`;

describe('ISO-1 ISO-6 RLS coverage lint', () => {
  it('passes on the migrated schema of every module', async () => {
    const owner = await t.owner();
    try {
      expect(await lintDatabase(owner)).toEqual([]);
    } finally {
      await owner.release();
    }
  });

  it('passes on a new table made with the standard helper, with no edit to the lint', async () => {
    expect(await lintWith(GOOD)).toEqual([]);
  });

  // Each row: a mistake a module could make, and the rule that must name the object.
  const mistakes: { name: string; ddl: string; as?: 'owner' | 'admin'; rule: string; object: string }[] = [
    {
      name: 'tenant table without workspace_id',
      ddl: 'CREATE TABLE tenant.lint_bad (id uuid PRIMARY KEY)',
      rule: 'tenant-workspace-id', object: 'tenant.lint_bad',
    },
    {
      name: 'nullable workspace_id',
      ddl: 'CREATE TABLE tenant.lint_bad (workspace_id uuid, id uuid, PRIMARY KEY (id))',
      rule: 'tenant-workspace-id', object: 'tenant.lint_bad',
    },
    {
      name: 'tenant table whose writes are not audited',
      ddl: `CREATE TABLE tenant.lint_bad (workspace_id uuid NOT NULL, id uuid, PRIMARY KEY (workspace_id, id));
            SELECT palisade_private.enable_tenant_rls('tenant.lint_bad');`,
      rule: 'audit-trigger', object: 'tenant.lint_bad',
    },
    {
      name: 'audit trigger that replica mode would silence',
      ddl: `${GOOD} ALTER TABLE tenant.lint_ok ENABLE TRIGGER audit_row;`,
      rule: 'audit-trigger', object: 'tenant.lint_ok',
    },
    {
      name: 'RLS not enabled',
      ddl: 'CREATE TABLE tenant.lint_bad (workspace_id uuid NOT NULL, id uuid, PRIMARY KEY (workspace_id, id))',
      rule: 'tenant-rls', object: 'tenant.lint_bad',
    },
    {
      name: 'RLS enabled but not forced',
      ddl: `${GOOD} ALTER TABLE tenant.lint_ok NO FORCE ROW LEVEL SECURITY;`,
      rule: 'tenant-rls', object: 'tenant.lint_ok',
    },
    {
      name: 'RLS forced but no policy for DELETE',
      ddl: `${GOOD} DROP POLICY lint_ok_app_delete ON tenant.lint_ok;`,
      rule: 'tenant-policies', object: 'tenant.lint_ok',
    },
    {
      name: 'no index led by workspace_id',
      ddl: `CREATE TABLE tenant.lint_bad (workspace_id uuid NOT NULL, id uuid PRIMARY KEY);
            SELECT palisade_private.enable_tenant_rls('tenant.lint_bad');`,
      rule: 'tenant-index', object: 'tenant.lint_bad',
    },
    {
      name: 'global UNIQUE (duplicate-key errors reveal other workspaces)',
      ddl: `${GOOD} ALTER TABLE tenant.lint_ok ADD CONSTRAINT lint_ok_code UNIQUE (code);`,
      rule: 'tenant-unique', object: 'tenant.lint_ok index lint_ok_code',
    },
    {
      name: 'foreign key that ignores workspace_id',
      ddl: `${GOOD} ALTER TABLE tenant.lint_ok ADD CONSTRAINT lint_ok_id UNIQUE (id);
            CREATE TABLE tenant.lint_child (workspace_id uuid NOT NULL, id uuid NOT NULL,
              parent uuid CONSTRAINT lint_child_parent REFERENCES tenant.lint_ok (id), PRIMARY KEY (workspace_id, id));
            SELECT palisade_private.enable_tenant_rls('tenant.lint_child');`,
      rule: 'tenant-foreign-key', object: 'tenant.lint_child constraint lint_child_parent',
    },
    {
      name: 'always-true policy',
      ddl: `${GOOD} CREATE POLICY lint_leak ON tenant.lint_ok FOR SELECT TO palisade_app USING (true);`,
      rule: 'policy-unscoped', object: 'tenant.lint_ok policy lint_leak',
    },
    {
      name: 'bypass term ORed into an app policy (the index trap)',
      ddl: `${GOOD} CREATE POLICY lint_or ON tenant.lint_ok FOR SELECT TO palisade_app
              USING (workspace_id = (SELECT palisade.current_workspace()) OR (SELECT palisade.system_ok()));`,
      rule: 'policy-unscoped', object: 'tenant.lint_ok policy lint_or',
    },
    {
      name: 'policy for PUBLIC',
      ddl: `${GOOD} CREATE POLICY lint_public ON tenant.lint_ok FOR SELECT
              USING (workspace_id = (SELECT palisade.current_workspace()));`,
      rule: 'policy-public', object: 'tenant.lint_ok policy lint_public',
    },
    {
      name: 'palisade_system policy without the key check',
      ddl: `${GOOD} CREATE POLICY lint_sys ON tenant.lint_ok FOR SELECT TO palisade_system USING (true);`,
      rule: 'policy-system', object: 'tenant.lint_ok policy lint_sys',
    },
    {
      name: 'central table the app can read without RLS',
      ddl: 'CREATE TABLE central.lint_bad (id int); GRANT SELECT ON central.lint_bad TO palisade_app;',
      rule: 'readable-without-rls', object: 'central.lint_bad',
    },
    {
      name: 'column-level grant on a table without RLS',
      ddl: 'CREATE TABLE central.lint_bad (id int, secret text); GRANT SELECT (id) ON central.lint_bad TO palisade_app;',
      rule: 'readable-without-rls', object: 'central.lint_bad',
    },
    {
      name: 'view that runs with its owner’s rights',
      ddl: `CREATE VIEW central.lint_view AS SELECT workspace_id, code FROM tenant.departments;
            GRANT SELECT ON central.lint_view TO palisade_app;`,
      rule: 'view-definer', object: 'central.lint_view',
    },
    {
      name: 'materialized view (no RLS possible)',
      ddl: `CREATE MATERIALIZED VIEW central.lint_mv AS SELECT 1 AS x;
            GRANT SELECT ON central.lint_mv TO palisade_app;`,
      rule: 'readable-without-rls', object: 'central.lint_mv',
    },
    {
      name: 'sequence readable by the app (reveals global counts)',
      ddl: 'CREATE SEQUENCE central.lint_seq; GRANT USAGE ON SEQUENCE central.lint_seq TO palisade_app;',
      rule: 'sequence-readable', object: 'central.lint_seq',
    },
    {
      name: 'serial column whose sequence was granted',
      ddl: `CREATE TABLE tenant.lint_serial (workspace_id uuid NOT NULL, n bigserial, PRIMARY KEY (workspace_id, n));
            SELECT palisade_private.enable_tenant_rls('tenant.lint_serial');
            GRANT SELECT ON ALL SEQUENCES IN SCHEMA tenant TO palisade_app;`,
      rule: 'sequence-readable', object: 'tenant.lint_serial_n_seq',
    },
    {
      name: 'SECURITY DEFINER function executable by the app',
      ddl: `CREATE FUNCTION central.lint_fn() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = ''
              AS $$ SELECT count(*) FROM tenant.departments $$;
            GRANT EXECUTE ON FUNCTION central.lint_fn() TO palisade_app;`,
      rule: 'definer-executable', object: 'central.lint_fn',
    },
    {
      name: 'SECURITY DEFINER function with a mutable search_path',
      ddl: `CREATE FUNCTION central.lint_fn() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;`,
      rule: 'definer-search-path', object: 'central.lint_fn',
    },
    {
      name: 'TRUNCATE granted to the app',
      ddl: 'GRANT TRUNCATE ON tenant.departments TO palisade_app;',
      rule: 'table-grant', object: 'tenant.departments',
    },
    {
      name: 'anonymous role given a read',
      ddl: 'GRANT SELECT ON tenant.departments TO palisade_anon;',
      rule: 'anon-reads', object: 'tenant.departments',
    },
    {
      name: 'app may create objects in a schema',
      ddl: 'GRANT CREATE ON SCHEMA tenant TO palisade_app;',
      rule: 'role-create', object: 'palisade_app',
    },
    {
      name: 'object owned by the app role',
      ddl: 'CREATE TABLE central.lint_owned (id int); ALTER TABLE central.lint_owned OWNER TO palisade_app;',
      as: 'admin', rule: 'app-owns', object: 'relation central.lint_owned',
    },
    {
      name: 'app role given BYPASSRLS',
      ddl: 'ALTER ROLE palisade_app BYPASSRLS;',
      as: 'admin', rule: 'role-attributes', object: 'palisade_app',
    },
    {
      name: 'app role made INHERIT (it would inherit palisade_system)',
      ddl: 'ALTER ROLE palisade_app INHERIT;',
      as: 'admin', rule: 'role-attributes', object: 'palisade_app',
    },
  ];

  it.each(mistakes)('fails on: $name', async ({ ddl, as, rule, object }) => {
    const violations = await lintWith(ddl, as);
    expect(violations).toContainEqual(expect.objectContaining({ rule, object }));
  });
});

describe('ISO-1 FORCE RLS neutralises owner-rights views and functions', () => {
  // Even when a definer view or function slips past review, it runs as palisade_owner, which is
  // subject to FORCE RLS and has no policy: it sees no workspace's rows.
  it('a definer view and a definer function owned by palisade_owner return nothing', async () => {
    const ws = await createWorkspace(t.db);
    await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, 'VIEWLEAK', 'x')`, [ws]),
    );
    const owner = await t.owner();
    try {
      await owner.script('BEGIN');
      try {
        await owner.script(`
          CREATE VIEW central.leak_view AS SELECT workspace_id FROM tenant.departments;
          CREATE FUNCTION central.leak_fn() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = ''
            AS $$ SELECT count(*) FROM tenant.departments $$;`);
        const viaView = await owner.query<{ n: string }>('SELECT count(*) AS n FROM central.leak_view');
        const viaFn = await owner.query<{ n: string }>('SELECT central.leak_fn() AS n');
        expect(viaView.rows[0]?.n).toBe('0');
        expect(viaFn.rows[0]?.n).toBe('0');
      } finally {
        await owner.script('ROLLBACK');
      }
    } finally {
      await owner.release();
    }
    // The row exists: a superuser (which bypasses RLS) counts it.
    const admin = await t.admin.query<{ n: string }>(`SELECT count(*) AS n FROM tenant.departments WHERE code = 'VIEWLEAK'`);
    expect(Number(admin.rows[0]?.n)).toBeGreaterThan(0);
  });
});
