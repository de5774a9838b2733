import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';
import { assertTenantIsolation, type Samples } from '../../test/isolation.ts';

/**
 * Rows for tables whose CHECK constraints the harness's generic values cannot satisfy. A new
 * table that needs one makes the harness fail with its name.
 */
const SAMPLES: Samples = {
  'tenant.audit_events': () => ({ event_type: 'test.isolation', action: 'VIEW' }),
  'tenant.audit_checkpoints': () => ({
    seq: 1, hash: Buffer.alloc(32, 1), signed_at: new Date(), key_id: '0123456789abcdef', signature: Buffer.alloc(64, 2),
  }),
  'tenant.audit_purges': () => ({
    from_seq: 1, through_seq: 1, event_count: 1, boundary_hash: Buffer.alloc(32, 3), cutoff: new Date(),
    purged_at: new Date(), key_id: '0123456789abcdef', signature: Buffer.alloc(64, 4),
  }),
  'tenant.audit_legal_holds': () => ({ reason: 'litigation', table_name: 'tenant.departments', record_id: 'x' }),
  'tenant.invitations': () => ({ role: 'member', token_hash: randomBytes(32), expires_at: new Date(Date.now() + 3_600_000) }),
  // Each membership needs an account of its own: members and member_roles (as the parent of its
  // foreign key) both insert memberships.
  'tenant.members': () => ({ role: 'member', user_id: nextUser() }),
  'tenant.member_roles': () => ({ role_key: 'viewer' }),
  'tenant.roles': () => ({ name: `role ${randomUUID()}`, permissions: ['members.read'] }),
  'tenant.role_changes': () => ({ change: 'role_created', role: 'test' }),
  'tenant.ownership_offers': () => ({ from_user_id: randomUUID(), expires_at: new Date(Date.now() + 3_600_000) }),
  // The submitter references an account (central.users); the department is created as the parent.
  'tenant.expense_claims': () => ({ submitter_id: nextUser(), amount: '12.50', currency: 'EUR', description: 'isolation' }),
  'tenant.expense_claim_events': () => ({ action: 'submitted', to_status: 'submitted' }),
  'tenant.expense_limits': () => ({ role_key: 'manager', limit_cents: 100_000 }),
};

/** Real accounts for tenant.members rows (their user_id references central.users). */
const users: string[] = [];
function nextUser(): string {
  const u = users.pop();
  if (u === undefined) throw new Error('the isolation test ran out of accounts: create more in beforeAll');
  return u;
}

let t: TestDatabase;
let a: string;
let b: string;

beforeAll(async () => {
  t = await openTestDatabase();
  a = await createWorkspace(t.db, 'Workspace A');
  b = await createWorkspace(t.db, 'Workspace B');
  for (let i = 0; i < 40; i++) users.push(await createUser(t.db));
});
afterAll(async () => t.close());

describe('ISO-6 isolation harness: every tenant table, two workspaces', () => {
  it('A never sees, changes, deletes or writes into B, and no context means no rows', async () => {
    const tables = await assertTenantIsolation({ db: t.db, admin: t.admin, workspaceA: a, workspaceB: b, samples: SAMPLES });
    // The harness found the tables from the catalog; these must be among them.
    expect(tables).toEqual(
      expect.arrayContaining(['tenant.workspace_settings', 'tenant.departments', 'tenant.audit_events', 'tenant.audit_checkpoints']),
    );
  });

  it('the workspace directory shows the app only its own workspace', async () => {
    const seen = await t.db.withWorkspace({ workspaceId: a }, (tx) =>
      tx.query<{ id: string }>('SELECT id FROM central.workspaces'),
    );
    expect(seen.rows.map((r) => r.id)).toEqual([a]);
    expect((await t.db.query('SELECT 1 FROM central.workspaces')).rowCount).toBe(0);
    const rename = await t.db.withWorkspace({ workspaceId: a }, (tx) =>
      tx.query('UPDATE central.workspaces SET name = $1 WHERE id = $2', ['hijacked', b]),
    ).then(
      (r) => r.rowCount,
      (e: unknown) => (e as { code?: string }).code,
    );
    expect(rename).toBe('42501');
  });
});

describe('ISO-3 palisade_app cannot escalate', () => {
  // Each attempt runs in its own transaction under workspace A; each must fail with 42501.
  const attempts: [string, string | string[]][] = [
    ['turn row security off and read', ['SET row_security = off', 'SELECT count(*) FROM tenant.departments']],
    ['alter a tenant table', 'ALTER TABLE tenant.departments ADD COLUMN evil text'],
    ['disable RLS', 'ALTER TABLE tenant.departments DISABLE ROW LEVEL SECURITY'],
    ['drop a tenant table', 'DROP TABLE tenant.departments'],
    ['truncate a tenant table', 'TRUNCATE tenant.departments'],
    ['become the owner', 'SET ROLE palisade_owner'],
    ['become the owner for the transaction', 'SET LOCAL ROLE palisade_owner'],
    ['become the owner through set_config', "SELECT set_config('role', 'palisade_owner', true)"],
    ['reset to the session user', 'RESET ROLE'],
    ['change session authorization', 'SET SESSION AUTHORIZATION palisade_owner'],
    ['end the transaction and continue outside it', 'COMMIT'],
    ['create a table in the tenant schema', 'CREATE TABLE tenant.evil (workspace_id uuid)'],
    ['create a table in public', 'CREATE TABLE public.evil (id int)'],
    ['create a temporary table', 'CREATE TEMP TABLE evil (id int)'],
    ['create a schema', 'CREATE SCHEMA evil'],
    ['create a function', 'CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$'],
    ['run a DO block', "DO $$ BEGIN PERFORM 1; END $$"],
    ['switch workspace with set_config', `SELECT set_config('palisade.workspace_id', '00000000-0000-0000-0000-000000000000', true)`],
    ['set the context a second time', `SELECT palisade.set_context('00000000-0000-0000-0000-000000000000', null, null, null, null, null, null, null, null)`],
    ['call enter_system without the role', "SELECT palisade.enter_system('guess', 'x')"],
    ['read the process keys', 'SELECT key_hash FROM palisade_private.system_keys'],
    ['read the audit insertion counter (it would reveal other workspaces\' volume)', 'SELECT max(pos) FROM tenant.audit_events'],
    ['read the migrations table', 'SELECT id, checksum FROM palisade_private.migrations'],
  ];

  it.each(attempts)('cannot %s', async (_, statement) => {
    await t.db.withWorkspace({ workspaceId: b }, (tx) =>
      tx.query('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [b, 'B1', 'B']),
    );
    const statements = typeof statement === 'string' ? [statement] : statement;
    const outcome = await t.db
      .withWorkspace({ workspaceId: a }, async (tx) => {
        for (const s of statements) await tx.query(s);
        // Every statement ran: then it must have gained nothing. (On a server, RESET ROLE and
        // COMMIT are legal for palisade_app and leave it palisade_app, without a workspace.)
        const after = await tx.query<{ who: string; foreign: string }>(
          'SELECT current_user AS who, (SELECT count(*) FROM tenant.departments WHERE workspace_id <> $1) AS foreign',
          [a],
        );
        return after.rows[0];
      })
      .catch((error: unknown) => (error as { code?: string }).code);
    if (typeof outcome === 'string' || outcome === undefined) expect(outcome).toBe('42501');
    else expect(outcome).toEqual({ who: 'palisade_app', foreign: '0' });
  });

  it('SET ROLE palisade_system without the process key sees no rows and cannot enter', async () => {
    await t.db.withWorkspace({ workspaceId: b }, (tx) =>
      tx.query('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3)', [b, 'SYS', 'System test']),
    );
    const session = await t.rawAppSession();
    try {
      if (t.kind === 'server') {
        // On a server the app may take the role (it is a member), but the policies want the key.
        await session.query('SET ROLE palisade_system');
        expect((await session.query('SELECT 1 FROM tenant.departments')).rowCount).toBe(0);
        expect((await session.query('SELECT 1 FROM central.workspaces')).rowCount).toBe(0);
        expect(await sqlState(session.query("SELECT palisade.enter_system('not-the-key', 'guess')"))).toBe('42501');
        await session.query('RESET ROLE');
      }
      const sys = await t.db.withSystem('test: bypass sees all workspaces', (tx) =>
        tx.query('SELECT DISTINCT workspace_id FROM tenant.departments WHERE workspace_id = $1', [b]),
      );
      expect(sys.rowCount).toBe(1);
    } finally {
      await session.close();
    }
  });
});
