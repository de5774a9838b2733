import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';
import { PLATFORM_WORKSPACE } from './chain.ts';
import { recordEvent } from './events.ts';

let t: TestDatabase;
let ws: string;
const actor = randomUUID();

beforeAll(async () => {
  t = await openTestDatabase();
  ws = await createWorkspace(t.db);
});
afterAll(async () => t.close());

type EventRow = {
  event_type: string;
  action: string;
  actor_user_id: string | null;
  actor_email: string | null;
  actor_role: string | null;
  session_id: string | null;
  device_id: string | null;
  ip: string | null;
  user_agent: string | null;
  route: string | null;
  table_name: string | null;
  record_id: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  reason: string | null;
  occurred_at: Date;
};

const COLUMNS = `event_type, action, actor_user_id, actor_email, actor_role, session_id, device_id, host(ip) AS ip, user_agent, route, table_name, record_id,
                 old_values, new_values, reason, occurred_at`;

async function eventsFor(recordId: string): Promise<EventRow[]> {
  const { rows } = await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
    tx.query<EventRow>(`SELECT ${COLUMNS} FROM tenant.audit_events WHERE record_id = $1 ORDER BY occurred_at`, [recordId]),
  );
  return rows;
}

const ctx = () => ({
  workspaceId: ws,
  userId: actor,
  userEmail: 'ada@example.com',
  userRole: 'admin',
  sessionId: 'session-42',
  deviceId: 'device-7',
  ip: '198.51.100.7',
  userAgent: 'Mozilla/5.0 (test)',
  route: 'POST /api/v1/workspaces/:workspaceId/departments',
});

describe('AUD-1 AUD-2 every write is recorded with who, where and what', () => {
  it('records create, update and delete with the actor context and old/new values', async () => {
    const { rows } = await t.db.withWorkspace(ctx(), (tx) =>
      tx.query<{ id: string }>(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, 'OPS', 'Operations') RETURNING id`, [ws]),
    );
    const id = rows[0]?.id ?? '';
    await t.db.withWorkspace(ctx(), (tx) => tx.query(`UPDATE tenant.departments SET name = 'Ops & Facilities' WHERE id = $1`, [id]));
    await t.db.withWorkspace(ctx(), (tx) => tx.query('DELETE FROM tenant.departments WHERE id = $1', [id]));

    const events = await eventsFor(id);
    expect(events.map((e) => [e.event_type, e.action])).toEqual([
      ['data.created', 'CREATE'],
      ['data.updated', 'UPDATE'],
      ['data.deleted', 'DELETE'],
    ]);
    for (const e of events) {
      expect(e).toMatchObject({
        actor_user_id: actor,
        actor_email: 'ada@example.com',
        actor_role: 'admin',
        session_id: 'session-42',
        device_id: 'device-7',
        ip: '198.51.100.7',
        user_agent: 'Mozilla/5.0 (test)',
        route: 'POST /api/v1/workspaces/:workspaceId/departments',
        table_name: 'tenant.departments',
        record_id: id,
      });
      expect(e.occurred_at).toBeInstanceOf(Date);
    }
    expect(events[0]?.new_values).toMatchObject({ code: 'OPS', name: 'Operations', workspace_id: ws });
    expect(events[0]?.old_values).toBeNull();
    // An update records only what changed.
    expect(events[1]?.old_values).toEqual({ name: 'Operations' });
    expect(events[1]?.new_values).toEqual({ name: 'Ops & Facilities' });
    expect(events[2]?.old_values).toMatchObject({ name: 'Ops & Facilities' });
    expect(events[2]?.new_values).toBeNull();
  });

  it('records writes made through withSystem with the bypass reason, and logs the bypass itself', async () => {
    const id = randomUUID();
    // Unique per run: the platform trail outlives a test run on a database that is kept.
    const reason = `test: system write ${id}`;
    await t.db.withSystem(reason, (tx) =>
      tx.query(`INSERT INTO tenant.departments (workspace_id, id, code, name) VALUES ($1, $2, 'SYS', 'System made')`, [ws, id]),
    );
    const [event] = await eventsFor(id);
    expect(event).toMatchObject({ action: 'CREATE', actor_user_id: null, reason: `withSystem: ${reason}` });
    const bypass = await t.db.withSystem('test: read the platform trail', (tx) =>
      tx.query<{ reason: string; action: string }>(
        `SELECT reason, action FROM tenant.audit_events WHERE workspace_id = $1 AND event_type = 'system.bypass' AND reason = $2`,
        [PLATFORM_WORKSPACE, reason],
      ),
    );
    expect(bypass.rows).toEqual([{ reason, action: 'SYSTEM' }]);
  });

  it('records explicit events, and the database, not the caller, decides the actor', async () => {
    const id = randomUUID();
    await t.db.withWorkspace(ctx(), (tx) =>
      recordEvent(tx, { eventType: 'documents.viewed', action: 'VIEW', tableName: 'tenant.documents', recordId: id }),
    );
    // A direct INSERT claiming another actor, time and chain position is stamped over.
    const forger = randomUUID();
    await t.db.withWorkspace(ctx(), (tx) =>
      tx.query(
        `INSERT INTO tenant.audit_events (workspace_id, event_type, action, record_id, actor_user_id, actor_email, ip, occurred_at, seq, prev_hash, hash)
         VALUES ($1, 'documents.viewed', 'VIEW', $2, $3, 'ceo@example.com', '10.0.0.1', '2000-01-01', 1, '\\x00', '\\x00')`,
        [ws, id, forger],
      ),
    );
    const events = await eventsFor(id);
    expect(events).toHaveLength(2);
    for (const e of events) {
      expect(e.actor_user_id).toBe(actor);
      expect(e.ip).toBe('198.51.100.7');
      expect(e.occurred_at.getFullYear()).toBeGreaterThan(2000);
    }
  });

  it('another workspace cannot write events into this one, nor read them', async () => {
    const other = await createWorkspace(t.db);
    const forged = t.db.withWorkspace({ workspaceId: other }, (tx) =>
      recordEvent(tx, { workspaceId: ws, eventType: 'auth.login', action: 'LOGIN' }),
    );
    expect(await sqlState(forged)).toBe('42501');
    const seen = await t.db.withWorkspace({ workspaceId: other }, (tx) =>
      tx.query('SELECT 1 FROM tenant.audit_events WHERE workspace_id = $1', [ws]),
    );
    expect(seen.rowCount).toBe(0);
  });
});

describe('AUD-4 sensitive values never reach old/new values', () => {
  // A column that looks secret cannot be audited unless it is redacted, and a redacted column
  // shows that it changed, never its value.
  it('refuses to audit a table with an unredacted secret-looking column', async () => {
    const owner = await t.owner();
    try {
      await owner.script('BEGIN');
      try {
        await owner.script(`CREATE TABLE tenant.redact_test (workspace_id uuid NOT NULL, id uuid NOT NULL, password_hash text,
                              api_token text, PRIMARY KEY (workspace_id, id))`);
        await expect(owner.script(`SELECT palisade_private.enable_audit('tenant.redact_test')`)).rejects.toThrow(
          /password_hash, api_token .*look sensitive/,
        );
      } finally {
        await owner.script('ROLLBACK');
      }
    } finally {
      await owner.release();
    }
  });

  it('records redacted columns as "[redacted]" on insert, update and delete', async () => {
    await t.admin.script('BEGIN');
    try {
      await t.admin.script(`
        SET LOCAL ROLE palisade_owner;
        CREATE TABLE tenant.redact_test (workspace_id uuid NOT NULL, id uuid NOT NULL, name text, password_hash text,
                                         PRIMARY KEY (workspace_id, id));
        SELECT palisade_private.enable_tenant_rls('tenant.redact_test');
        SELECT palisade_private.enable_audit('tenant.redact_test', redact => ARRAY['password_hash']);
        RESET ROLE;
        SET LOCAL ROLE palisade_app;`);
      await t.admin.query('SELECT palisade.set_context($1, null, null, null, null, null, null, null, null)', [ws]);
      const id = randomUUID();
      await t.admin.query(`INSERT INTO tenant.redact_test VALUES ($1, $2, 'a', 'argon2id$secret-one')`, [ws, id]);
      await t.admin.query(`UPDATE tenant.redact_test SET password_hash = 'argon2id$secret-two' WHERE id = $1`, [id]);
      await t.admin.query(`UPDATE tenant.redact_test SET name = 'b' WHERE id = $1`, [id]);
      await t.admin.query('DELETE FROM tenant.redact_test WHERE id = $1', [id]);
      const { rows } = await t.admin.query<{ old_values: unknown; new_values: unknown }>(
        `SELECT old_values, new_values FROM tenant.audit_events WHERE record_id = $1 ORDER BY occurred_at`, [id],
      );
      expect(rows).toEqual([
        { old_values: null, new_values: { workspace_id: ws, id, name: 'a', password_hash: '[redacted]' } },
        { old_values: { password_hash: '[redacted]' }, new_values: { password_hash: '[redacted]' } },
        { old_values: { name: 'a' }, new_values: { name: 'b' } },
        { old_values: { workspace_id: ws, id, name: 'b', password_hash: '[redacted]' }, new_values: null },
      ]);
      expect(JSON.stringify(rows)).not.toContain('secret-');
    } finally {
      await t.admin.script('ROLLBACK');
    }
  });
});

describe('AUD-3 a change and its audit row commit or roll back together', () => {
  it('a write whose audit insert fails leaves no change', async () => {
    // Make the audit insert fail for one marked row (a constraint only the audit table has).
    await t.admin.script(`ALTER TABLE tenant.audit_events ADD CONSTRAINT refuse_marked
                            CHECK (new_values IS NULL OR new_values ->> 'code' IS DISTINCT FROM 'AUDITFAIL') NOT VALID`);
    try {
      const write = t.db.withWorkspace(ctx(), (tx) =>
        tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, 'AUDITFAIL', 'x')`, [ws]),
      );
      expect(await sqlState(write)).toBe('23514');
    } finally {
      await t.admin.script('ALTER TABLE tenant.audit_events DROP CONSTRAINT refuse_marked');
    }
    const left = await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query(`SELECT 1 FROM tenant.departments WHERE code = 'AUDITFAIL'`),
    );
    expect(left.rowCount).toBe(0);
  });

  it('a rolled-back change leaves no audit row', async () => {
    const id = randomUUID();
    await t.db
      .withWorkspace(ctx(), async (tx) => {
        await tx.query(`INSERT INTO tenant.departments (workspace_id, id, code, name) VALUES ($1, $2, 'GONE', 'x')`, [ws, id]);
        throw new Error('handler failed');
      })
      .catch(() => undefined);
    expect(await eventsFor(id)).toEqual([]);
  });
});
