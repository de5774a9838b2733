import { definerFunctions, readableWithoutRls, unauditedTables } from './lint-allowlist.ts';
import type { Sql } from './types.ts';

export interface Violation {
  rule: string;
  /** The table, view, sequence, function or role concerned, `schema.name`. */
  object: string;
  message: string;
}

/** Schemas that hold workspace data: every table in them must be tenant-scoped. */
export const TENANT_SCHEMAS = ['tenant'] as const;
const APP_ROLES = ['palisade_app', 'palisade_system', 'palisade_anon'] as const;
const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;

/** The app policy expression enable_tenant_rls() writes, as pg_get_expr prints it. */
const SCOPED = '(workspace_id = ( SELECT palisade.current_workspace() AS current_workspace))';
const isScoped = (expr: string | null) => expr !== null && (expr === SCOPED || expr.startsWith(`(${SCOPED} AND `));

/**
 * Reads pg_catalog and reports every way an app role could reach workspace data without the
 * tenant policies (ISO-1, ISO-6). Nothing is listed by hand: a new table in a tenant schema is
 * checked the moment it exists. Run it as the owner (or any role that can read the catalog).
 */
export async function lintDatabase(sql: Sql): Promise<Violation[]> {
  const violations: Violation[] = [];
  const add = (rule: string, object: string, message: string) => violations.push({ rule, object, message });

  // 1. Tenant tables: workspace_id, RLS enabled and forced, index led by workspace_id.
  const tables = await sql.query<{
    name: string; ws_attnum: number | null; ws_type: string | null; ws_notnull: boolean | null;
    rls: boolean; forced: boolean; has_ws_index: boolean;
  }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
            a.attnum AS ws_attnum, format_type(a.atttypid, a.atttypmod) AS ws_type, a.attnotnull AS ws_notnull,
            c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
            EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND a.attnum IS NOT NULL
                      AND i.indkey[0] = a.attnum) AS has_ws_index
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
      ORDER BY 1`,
    [TENANT_SCHEMAS],
  );
  for (const t of tables.rows) {
    if (t.ws_attnum === null) add('tenant-workspace-id', t.name, 'tenant table has no workspace_id column');
    else if (t.ws_type !== 'uuid' || t.ws_notnull !== true) {
      add('tenant-workspace-id', t.name, `workspace_id must be uuid NOT NULL, is ${t.ws_type} ${t.ws_notnull === true ? 'NOT NULL' : 'nullable'}`);
    }
    if (!t.rls) add('tenant-rls', t.name, 'row-level security is not enabled');
    if (!t.forced) add('tenant-rls', t.name, 'row-level security is not forced (the owner would bypass it)');
    if (t.ws_attnum !== null && !t.has_ws_index) add('tenant-index', t.name, 'no index is led by workspace_id');
  }

  // 1b. Every write to a tenant table is audited (AUD-1): the generic row trigger, on INSERT,
  //     UPDATE and DELETE, ENABLE ALWAYS (session_replication_role = replica must not silence it).
  const audited = await sql.query<{ name: string; triggers: { enabled: string; type: number }[] | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
            (SELECT json_agg(json_build_object('enabled', t.tgenabled, 'type', t.tgtype))
               FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
              WHERE t.tgrelid = c.oid AND pn.nspname = 'palisade_private' AND p.proname = 'audit_row') AS triggers
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
      ORDER BY 1`,
    [TENANT_SCHEMAS],
  );
  // tgtype bits: 1 row, 2 before, 4 insert, 8 delete, 16 update.
  const ROW = 1, BEFORE = 2, INSERT = 4, DELETE = 8, UPDATE = 16;
  for (const t of audited.rows) {
    if (unauditedTables[t.name] !== undefined) continue;
    const triggers = t.triggers ?? [];
    const covered = triggers.filter((tr) => (tr.type & ROW) !== 0 && (tr.type & BEFORE) === 0);
    const ops = covered.reduce((acc, tr) => acc | (tr.type & (INSERT | DELETE | UPDATE)), 0);
    if (ops !== (INSERT | DELETE | UPDATE)) {
      add('audit-trigger', t.name, 'writes are not audited: call palisade_private.enable_audit() in its migration');
    } else if (covered.some((tr) => tr.enabled !== 'A')) {
      add('audit-trigger', t.name, 'the audit trigger is not ENABLE ALWAYS (session_replication_role = replica would silence it)');
    }
  }

  // 2. Tenant policies: every command covered for palisade_app by a workspace-scoped policy, and
  //    no permissive policy that is unscoped (always-true, bypass terms ORed into the app's plans).
  const policies = await sql.query<{
    tbl: string; name: string; cmd: string; permissive: boolean; roles: string[];
    qual: string | null; check: string | null;
  }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS tbl, p.polname AS name, p.polcmd::text AS cmd,
            p.polpermissive AS permissive,
            ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r) AS roles,
            pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS "check"
       FROM pg_policy p
       JOIN pg_class c ON c.oid = p.polrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_SCHEMAS}
      ORDER BY 1, 2`,
  );
  const tenantTables = new Set(tables.rows.map((t) => t.name));
  const covered = new Map<string, Set<string>>();
  for (const p of policies.rows) {
    const object = `${p.tbl} policy ${p.name}`;
    if (p.roles.includes('public')) {
      add('policy-public', object, 'policy applies to PUBLIC; name palisade_app or palisade_system explicitly');
    }
    if (p.roles.includes('palisade_system') && p.permissive) {
      const key = '( SELECT palisade.system_ok() AS system_ok)';
      if (!(p.qual ?? key).includes(key) || !(p.check ?? key).includes(key)) {
        add('policy-system', object, 'a palisade_system policy must require palisade.system_ok()');
      }
    }
    if (!tenantTables.has(p.tbl) || !p.permissive) continue;
    if (!p.roles.includes('palisade_app') && !p.roles.includes('public')) continue;
    const usingOk = p.cmd === 'a' || isScoped(p.qual);
    const checkOk = !['a', 'w', '*'].includes(p.cmd) || isScoped(p.check ?? p.qual);
    if (!usingOk || !checkOk) {
      add('policy-unscoped', object, `permissive app policy is not scoped by workspace: USING ${p.qual ?? '-'} CHECK ${p.check ?? '-'}`);
      continue;
    }
    const cmds = p.cmd === '*' ? ['r', 'a', 'w', 'd'] : [p.cmd];
    const set = covered.get(p.tbl) ?? new Set<string>();
    for (const cmd of cmds) set.add(cmd);
    covered.set(p.tbl, set);
  }
  const names: Record<string, string> = { r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
  for (const t of tables.rows) {
    const missing = Object.keys(names).filter((cmd) => !(covered.get(t.name)?.has(cmd) ?? false));
    if (missing.length > 0) {
      add('tenant-policies', t.name, `no workspace-scoped palisade_app policy for ${missing.map((c) => names[c]).join(', ')}`);
    }
  }

  // 3. Keys: unique keys led by workspace_id (a global UNIQUE reveals other workspaces' values
  //    through duplicate-key errors and ON CONFLICT), foreign keys between tenant tables that
  //    carry workspace_id (a plain FK can point into another workspace).
  const keys = await sql.query<{ tbl: string; index: string; first: string | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS tbl, ic.relname AS index,
            (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = i.indkey[0]) AS first
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indrelid
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND i.indisunique
      ORDER BY 1, 2`,
    [TENANT_SCHEMAS],
  );
  for (const k of keys.rows) {
    if (k.first !== 'workspace_id') add('tenant-unique', `${k.tbl} index ${k.index}`, 'unique key is not led by workspace_id');
  }
  const fks = await sql.query<{ tbl: string; name: string; scoped: boolean }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS tbl, k.conname AS name,
            EXISTS (SELECT FROM unnest(k.conkey, k.confkey) AS x(src, dst)
                     WHERE (SELECT attname FROM pg_attribute WHERE attrelid = k.conrelid AND attnum = x.src) = 'workspace_id'
                       AND (SELECT attname FROM pg_attribute WHERE attrelid = k.confrelid AND attnum = x.dst) = 'workspace_id') AS scoped
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class fc ON fc.oid = k.confrelid
       JOIN pg_namespace fn ON fn.oid = fc.relnamespace
      WHERE k.contype = 'f' AND n.nspname = ANY($1) AND fn.nspname = ANY($1)
      ORDER BY 1, 2`,
    [TENANT_SCHEMAS],
  );
  for (const f of fks.rows) {
    if (!f.scoped) add('tenant-foreign-key', `${f.tbl} constraint ${f.name}`, 'foreign key between tenant tables does not match workspace_id');
  }

  // 4. Anything an app role can read, anywhere: tables need RLS, views security_invoker,
  //    materialized views and foreign tables are never readable. palisade_anon reads nothing.
  const readable = await sql.query<{ name: string; kind: string; role: string; rls: boolean; invoker: boolean }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind::text AS kind, r.role,
            c.relrowsecurity AND c.relforcerowsecurity AS rls,
            coalesce(c.reloptions @> ARRAY['security_invoker=true'] OR c.reloptions @> ARRAY['security_invoker=on'], false) AS invoker
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN unnest($1::text[]) AS r(role)
      WHERE ${USER_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND (has_table_privilege(r.role, c.oid, 'SELECT')
             OR has_any_column_privilege(r.role, c.oid, 'SELECT'))
      ORDER BY 1, 3`,
    [APP_ROLES],
  );
  for (const r of readable.rows) {
    if (r.role === 'palisade_anon') {
      add('anon-reads', r.name, 'palisade_anon can read it; the anonymous role must read nothing');
      continue;
    }
    if (readableWithoutRls[r.name] !== undefined) continue;
    if ((r.kind === 'r' || r.kind === 'p') && !r.rls) {
      add('readable-without-rls', r.name, `${r.role} can read it but row-level security is not enabled and forced`);
    } else if (r.kind === 'v' && !r.invoker) {
      add('view-definer', r.name, `${r.role} can read this view, which runs with its owner's rights (set security_invoker = true)`);
    } else if (r.kind === 'm' || r.kind === 'f') {
      add('readable-without-rls', r.name, `${r.role} can read this materialized view or foreign table, which RLS cannot protect`);
    }
  }

  // 5. Sequences reveal global counts (and nextval gaps reveal other workspaces' activity).
  const sequences = await sql.query<{ name: string; role: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, r.role
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN unnest($1::text[]) AS r(role)
      WHERE ${USER_SCHEMAS} AND c.relkind = 'S'
        AND has_sequence_privilege(r.role, c.oid, 'USAGE,SELECT,UPDATE')`,
    [APP_ROLES],
  );
  for (const s of sequences.rows) add('sequence-readable', s.name, `${s.role} can use or read this sequence`);

  // 6. SECURITY DEFINER functions run with the owner's rights, past RLS.
  const functions = await sql.query<{ name: string; role: string | null; search_path: boolean }>(
    `SELECT format('%I.%I', n.nspname, p.proname) AS name,
            (SELECT string_agg(r.role, ', ') FROM unnest($1::text[]) AS r(role)
              WHERE has_function_privilege(r.role, p.oid, 'EXECUTE')) AS role,
            coalesce(EXISTS (SELECT FROM unnest(p.proconfig) cfg WHERE cfg LIKE 'search\\_path=%'), false) AS search_path
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_SCHEMAS} AND p.prosecdef
      ORDER BY 1`,
    [APP_ROLES],
  );
  for (const f of functions.rows) {
    if (!f.search_path) add('definer-search-path', f.name, 'SECURITY DEFINER function without a fixed search_path');
    if (f.role !== null && definerFunctions[f.name] === undefined) {
      add('definer-executable', f.name, `${f.role} can execute this SECURITY DEFINER function, which is not on the allowlist`);
    }
  }

  // 7. The app role owns nothing, creates nothing, and has no dangerous attributes or grants.
  const owned = await sql.query<{ name: string }>(
    `SELECT format('%s %I.%I', CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'relation' END, n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE pg_get_userbyid(c.relowner) = ANY($1)
     UNION ALL
     SELECT format('function %I.%I', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE pg_get_userbyid(p.proowner) = ANY($1)
     UNION ALL
     SELECT format('schema %I', nspname) FROM pg_namespace WHERE pg_get_userbyid(nspowner) = ANY($1)`,
    [APP_ROLES],
  );
  for (const o of owned.rows) add('app-owns', o.name, 'owned by an app role; only palisade_owner owns objects');

  const roles = await sql.query<{
    name: string; rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolinherit: boolean;
    db_create: boolean; db_temp: boolean; schema_create: string | null;
  }>(
    `SELECT r.rolname AS name, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolinherit,
            has_database_privilege(r.rolname, current_database(), 'CREATE') AS db_create,
            has_database_privilege(r.rolname, current_database(), 'TEMP') AS db_temp,
            (SELECT string_agg(n.nspname, ', ') FROM pg_namespace n
              WHERE ${USER_SCHEMAS} AND has_schema_privilege(r.rolname, n.oid, 'CREATE')) AS schema_create
       FROM pg_roles r WHERE r.rolname = ANY($1) ORDER BY 1`,
    [APP_ROLES],
  );
  for (const name of APP_ROLES) {
    if (!roles.rows.some((r) => r.name === name)) add('role-missing', name, 'role does not exist');
  }
  for (const r of roles.rows) {
    const bad = (['rolsuper', 'rolbypassrls', 'rolcreaterole', 'rolcreatedb', 'rolinherit'] as const).filter((a) => r[a]);
    if (bad.length > 0) add('role-attributes', r.name, `must not have ${bad.map((a) => a.slice(3).toUpperCase()).join(', ')}`);
    if (r.db_create || r.db_temp) add('role-create', r.name, 'may create schemas or temporary tables in this database');
    if (r.schema_create !== null) add('role-create', r.name, `may create objects in schema(s) ${r.schema_create}`);
  }

  // MAINTAIN (VACUUM, REINDEX, LOCK …) exists from PostgreSQL 17; naming it earlier is an error.
  const version = await sql.query<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`);
  const privileges = ['TRUNCATE', 'TRIGGER', 'REFERENCES', ...((version.rows[0]?.v ?? 0) >= 170000 ? ['MAINTAIN'] : [])];
  const grants = await sql.query<{ name: string; role: string; privilege: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name, r.role, p.privilege
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN unnest($1::text[]) AS r(role)
       CROSS JOIN unnest($2::text[]) AS p(privilege)
      WHERE ${USER_SCHEMAS} AND c.relkind IN ('r', 'p')
        AND has_table_privilege(r.role, c.oid, p.privilege)
      ORDER BY 1, 2, 3`,
    [APP_ROLES, privileges],
  );
  for (const g of grants.rows) add('table-grant', g.name, `${g.role} has ${g.privilege}`);

  return violations;
}
