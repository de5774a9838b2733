import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';

let t: TestDatabase;
let ws: string;
beforeAll(async () => {
  t = await openTestDatabase();
  ws = await createWorkspace(t.db);
});
afterAll(async () => t.close());

describe('ISO-4 guarded bypass', () => {
  it('logs every use of withSystem with its reason in the platform audit trail', async () => {
    const reason = `test: audit the bypass ${Date.now()}`;
    await t.db.withSystem(reason, (tx) => tx.query('SELECT count(*) FROM central.workspaces'));
    const { rows } = await t.admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM tenant.audit_events
        WHERE workspace_id = '00000000-0000-0000-0000-000000000000' AND event_type = 'system.bypass' AND reason = $1`,
      [reason],
    );
    expect(rows[0]?.n).toBe('1');
  });

  it('refuses a reason that is empty or carries control characters (log injection)', async () => {
    await expect(t.db.withSystem('', () => Promise.resolve())).rejects.toThrow(TypeError);
    await expect(t.db.withSystem('ok\nFAKE LOG LINE', () => Promise.resolve())).rejects.toThrow(TypeError);
  });

  // The key lives in a private class field: not enumerable, not printed, not serialised.
  it('keeps the process key out of reach of ordinary code', () => {
    const printed = inspect(t.db, { showHidden: true, depth: 5 }) + JSON.stringify(t.db);
    expect(printed).not.toMatch(/[A-Za-z0-9_-]{43}/);
    expect(Object.getOwnPropertyNames(t.db)).toEqual([]);
  });

  it('keys are registered by hash, and a guessed key is refused', async () => {
    const owner = await t.owner();
    try {
      const { rows } = await owner.query<{ n: string }>('SELECT count(*) AS n FROM palisade_private.system_keys');
      expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(1);
    } finally {
      await owner.release();
    }
    const wrong = t.admin.query(`SELECT palisade.enter_system('x', 'guess')`);
    expect(await sqlState(wrong)).toBe('42501');
  });
});

describe('ISO-2 withWorkspace', () => {
  it('rolls back everything when the callback throws', async () => {
    const failing = t.db.withWorkspace({ workspaceId: ws }, async (tx) => {
      await tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, 'ROLLBACK', 'x')`, [ws]);
      throw new Error('handler failed after the write');
    });
    await expect(failing).rejects.toThrow('handler failed after the write');
    const left = await t.db.withWorkspace({ workspaceId: ws }, (tx) => tx.query(`SELECT 1 FROM tenant.departments WHERE code = 'ROLLBACK'`));
    expect(left.rowCount).toBe(0);
  });

  it('sets every context field transaction-locally', async () => {
    const ctx = {
      workspaceId: ws,
      userId: '7d444840-9dc0-11d1-b245-5ffdce74fad2',
      userEmail: 'grace@example.com',
      userRole: 'owner',
      sessionId: 'sess-1',
      deviceId: 'dev-1',
      ip: '203.0.113.9',
      userAgent: 'vitest',
      route: 'GET /api/v1/test',
    };
    const { rows } = await t.db.withWorkspace(ctx, (tx) =>
      tx.query(`SELECT current_setting('palisade.workspace_id') AS "workspaceId", current_setting('palisade.user_id') AS "userId",
                       current_setting('palisade.user_email') AS "userEmail", current_setting('palisade.user_role') AS "userRole",
                       current_setting('palisade.session_id') AS "sessionId", current_setting('palisade.device_id') AS "deviceId",
                       current_setting('palisade.ip') AS ip,
                       current_setting('palisade.user_agent') AS "userAgent", current_setting('palisade.route') AS route`),
    );
    expect(rows[0]).toEqual(ctx);
  });

  it('refuses a workspace or user id that is not a UUID before reaching the database', async () => {
    await expect(t.db.withWorkspace({ workspaceId: "x' OR true --" }, () => Promise.resolve())).rejects.toThrow(TypeError);
    await expect(t.db.withWorkspace({ workspaceId: ws, userId: 'admin' }, () => Promise.resolve())).rejects.toThrow(TypeError);
  });
});
