import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';

let t: TestDatabase;
let a: string;
let b: string;

beforeAll(async () => {
  t = await openTestDatabase({ poolSize: 1 });
  a = await createWorkspace(t.db, 'A');
  b = await createWorkspace(t.db, 'B');
});
afterAll(async () => t.close());

async function department(ws: string, code: string): Promise<string> {
  const { rows } = await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
    tx.query<{ id: string }>('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3) RETURNING id', [ws, code, code]),
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('no id returned');
  return id;
}

describe('ISO-2 no context means no rows, even after an earlier context on the same session', () => {
  // current_setting(…, true) returns '' (not NULL) once the setting was SET LOCAL earlier in the
  // session; a policy that cast it blindly would raise instead of returning no rows.
  it("treats '' as no workspace", async () => {
    await department(a, 'EMPTY');
    const session = await t.rawAppSession();
    try {
      await session.query('BEGIN');
      await session.query('SELECT palisade.set_context($1, null, null, null, null, null, null, null, null)', [a]);
      expect((await session.query('SELECT 1 FROM tenant.departments')).rowCount).toBeGreaterThan(0);
      await session.query('COMMIT');
      const setting = await session.query<{ v: string | null; ws: string | null }>(
        `SELECT current_setting('palisade.workspace_id', true) AS v, palisade.current_workspace() AS ws`,
      );
      expect(setting.rows[0]).toEqual({ v: '', ws: null });
      expect((await session.query('SELECT 1 FROM tenant.departments')).rowCount).toBe(0);
      expect(await sqlState(session.query('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3)', [a, 'X', 'X'])))
        .toBe('42501');
    } finally {
      await session.close();
    }
  });

  // A session-level set_config(…, false) would survive COMMIT and hand the workspace to whatever
  // request gets this pooled connection next. The app cannot call set_config at all.
  it('the app cannot set a session-level context, and the pool never carries one over', async () => {
    const session = await t.rawAppSession();
    try {
      expect(await sqlState(session.query(`SELECT set_config('palisade.workspace_id', $1, false)`, [a]))).toBe('42501');
    } finally {
      await session.close();
    }
    // One pooled connection (poolSize 1): every request after a workspace transaction starts clean.
    for (const ws of [a, b, a]) {
      await t.db.withWorkspace({ workspaceId: ws, userId: randomUUID() }, (tx) => tx.query('SELECT 1'));
      const after = await t.db.query<{ ws: string | null; user: string | null; n: string }>(
        `SELECT palisade.current_workspace() AS ws, palisade.current_actor() AS user,
                (SELECT count(*) FROM tenant.departments) AS n`,
      );
      expect(after.rows[0]).toEqual({ ws: null, user: null, n: '0' });
    }
  });
});

describe('ISO-1 keys are composite with workspace_id', () => {
  // A global UNIQUE would answer "duplicate key" for a value that exists only in another workspace.
  it('the same code in two workspaces reveals nothing; a duplicate in one workspace is refused', async () => {
    await department(a, 'FIN');
    await department(b, 'FIN');
    expect(await sqlState(department(a, 'FIN'))).toBe('23505');
  });

  // A plain foreign key on id alone could link a row to another workspace's parent.
  it("a parent in another workspace is as unknown as a parent that does not exist", async () => {
    const parentInB = await department(b, 'PARENT');
    const link = (parent: string) =>
      t.db.withWorkspace({ workspaceId: a }, (tx) =>
        tx.query('INSERT INTO tenant.departments (workspace_id, code, name, parent_id) VALUES ($1, $2, $3, $4)', [a, `C${parent.slice(0, 6)}`, 'child', parent]),
      );
    expect(await sqlState(link(parentInB))).toBe('23503');
    expect(await sqlState(link(randomUUID()))).toBe('23503');
  });

  // ON CONFLICT must not find (or update) another workspace's row.
  it("ON CONFLICT never touches another workspace's row", async () => {
    const idInB = await department(b, 'UPSERT');
    const upsert = await t.db.withWorkspace({ workspaceId: a }, (tx) =>
      tx.query<{ workspace_id: string; name: string }>(
        `INSERT INTO tenant.departments (workspace_id, id, code, name) VALUES ($1, $2, 'UPSERT', 'from A')
         ON CONFLICT (workspace_id, id) DO UPDATE SET name = excluded.name RETURNING workspace_id, name`,
        [a, idInB],
      ),
    );
    expect(upsert.rows).toEqual([{ workspace_id: a, name: 'from A' }]);
    const again = await t.db.withWorkspace({ workspaceId: a }, (tx) =>
      tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, 'UPSERT', 'again')
                ON CONFLICT (workspace_id, code) DO NOTHING`, [a]),
    );
    expect(again.rowCount).toBe(0);
    const inB = await t.db.withWorkspace({ workspaceId: b }, (tx) =>
      tx.query<{ name: string }>('SELECT name FROM tenant.departments WHERE id = $1', [idInB]),
    );
    expect(inB.rows).toEqual([{ name: 'UPSERT' }]);
  });
});

describe('ISO-2 one statement per call: stacked SQL cannot switch workspace', () => {
  // Both drivers use the extended protocol, where PostgreSQL refuses a second statement.
  it('refuses "…; select set_config(…)" on every path', async () => {
    const stacked = `SELECT 1; SELECT set_config('palisade.workspace_id', '${b}', true)`;
    expect(await sqlState(t.db.query(stacked))).toBe('42601');
    expect(await sqlState(t.db.withWorkspace({ workspaceId: a }, (tx) => tx.query(stacked)))).toBe('42601');
    expect(await sqlState(t.db.withSystem('test: stacked statement', (tx) => tx.query(stacked)))).toBe('42601');
  });
});

describe('ISO-8 tenant queries keep the index on workspace_id', () => {
  // ARCHITECTURE "Escalation": a bypass ORed into the app's policies made the planner drop the
  // index (0.5 ms → 500+ ms per page). This reads the plan as the app role.
  const explain = async () =>
    t.db.withWorkspace({ workspaceId: a }, async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      const plan = await tx.query<{ 'QUERY PLAN': string }>(
        "EXPLAIN SELECT id, name FROM tenant.departments WHERE code = 'FIN'",
      );
      return plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    });

  it('has an Index Cond on workspace_id for a policy-filtered query', async () => {
    expect(await explain()).toMatch(/Index Cond: \(+workspace_id = /);
  });

  it('the check can fail: with a bypass term ORed in, the index condition disappears', async () => {
    await t.admin.script('BEGIN');
    try {
      await t.admin.script(`CREATE POLICY trap ON tenant.departments FOR SELECT TO palisade_app
                              USING ((SELECT palisade.system_ok()))`);
      await t.admin.script('SET LOCAL ROLE palisade_app');
      await t.admin.query('SELECT palisade.set_context($1, null, null, null, null, null, null, null, null)', [a]);
      await t.admin.script('SET LOCAL enable_seqscan = off');
      const plan = await t.admin.query<{ 'QUERY PLAN': string }>("EXPLAIN SELECT id FROM tenant.departments WHERE code = 'FIN'");
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).not.toMatch(/Index Cond: \(+workspace_id = /);
    } finally {
      await t.admin.script('ROLLBACK');
    }
  });
});
