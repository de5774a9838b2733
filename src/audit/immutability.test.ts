import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSigner } from '../../test/audit.ts';
import { createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';
import { sealWorkspace } from './seal.ts';

let t: TestDatabase;
let ws: string;
const { signer } = testSigner();

beforeAll(async () => {
  t = await openTestDatabase();
  ws = await createWorkspace(t.db);
  await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
    tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, 'IMM', 'Immutable')`, [ws]),
  );
  await sealWorkspace(t.db, signer, ws);
  // One more event left unsealed, so both states are attacked.
  await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
    tx.query(`UPDATE tenant.departments SET name = 'Still immutable' WHERE code = 'IMM'`),
  );
});
afterAll(async () => t.close());

/** A fingerprint of every audit row of the workspace, read as a superuser. */
async function snapshot(): Promise<string> {
  const { rows } = await t.admin.query<{ s: string }>(
    `SELECT coalesce(string_agg(to_jsonb(e)::text, '|' ORDER BY pos), '') AS s FROM tenant.audit_events e WHERE workspace_id = $1`,
    [ws],
  );
  return rows[0]?.s ?? '';
}

const ATTACKS = [
  ['UPDATE', `UPDATE tenant.audit_events SET reason = 'rewritten' WHERE workspace_id = '%ws%'`],
  ['UPDATE of the chain fields', `UPDATE tenant.audit_events SET seq = seq + 100 WHERE workspace_id = '%ws%'`],
  ['DELETE', `DELETE FROM tenant.audit_events WHERE workspace_id = '%ws%'`],
  ['TRUNCATE', 'TRUNCATE tenant.audit_events'],
] as const;

describe('AUD-4 audit rows are immutable for every role', () => {
  // palisade_app holds INSERT and (RLS-limited) SELECT only.
  it.each(ATTACKS)('palisade_app cannot %s', async (_, statement) => {
    const before = await snapshot();
    const attempt = t.db.withWorkspace({ workspaceId: ws }, (tx) => tx.query(statement.replace('%ws%', ws)));
    expect(await sqlState(attempt)).toBe('42501');
    expect(await snapshot()).toBe(before);
  });

  it('palisade_app cannot set session_replication_role (only a superuser can)', async () => {
    const attempt = t.db.withWorkspace({ workspaceId: ws }, (tx) => tx.query('SET session_replication_role = replica'));
    expect(await sqlState(attempt)).toBe('42501');
  });

  // The owner passes the maintenance policy when it sets the flag itself, and the trigger still
  // refuses anything but sealing an unsealed event without touching its content.
  it.each(ATTACKS)('palisade_owner cannot %s, even posing as the sealer or the purge', async (kind, statement) => {
    const before = await snapshot();
    for (const flag of ['', 'seal', 'purge']) {
      const owner = await t.owner();
      try {
        await owner.script('BEGIN');
        await owner.script(`SET LOCAL palisade.audit_maintenance = '${flag}'`);
        const result = await owner.query(statement.replace('%ws%', ws)).then(
          (r) => r.rowCount,
          (e: unknown) => (e as { code?: string }).code,
        );
        // Without the flag RLS hides every row (0 rows touched); with it the trigger refuses.
        // TRUNCATE ignores RLS: the statement trigger refuses it in every case.
        expect(result, `${statement} with flag '${flag}'`).toBe(flag === '' && kind !== 'TRUNCATE' ? 0 : '42501');
      } finally {
        await owner.script('ROLLBACK');
        await owner.release();
      }
    }
    expect(await snapshot()).toBe(before);
  });

  it.each(ATTACKS)('a superuser cannot %s while the triggers stand, even in replica mode', async (_, statement) => {
    const before = await snapshot();
    for (const replica of [false, true]) {
      await t.admin.script('BEGIN');
      try {
        if (replica) await t.admin.script('SET LOCAL session_replication_role = replica');
        expect(await sqlState(t.admin.query(statement.replace('%ws%', ws)))).toBe('42501');
      } finally {
        await t.admin.script('ROLLBACK');
      }
    }
    expect(await snapshot()).toBe(before);
  });

  it.each(['tenant.audit_checkpoints', 'tenant.audit_purges', 'central.login_attempts'])('%s is append-only, even for a superuser in replica mode', async (table) => {
    const column = table === 'central.login_attempts' ? 'reason' : 'key_id';
    for (const statement of [`UPDATE ${table} SET ${column} = ${column}`, `DELETE FROM ${table}`, `TRUNCATE ${table}`]) {
      await t.admin.script('BEGIN');
      try {
        await t.admin.script('SET LOCAL session_replication_role = replica');
        await t.admin.query(
          `INSERT INTO tenant.audit_checkpoints (workspace_id, seq, hash, signed_at, key_id, signature)
           VALUES ($1, 999, $2, now(), '0123456789abcdef', $3) ON CONFLICT DO NOTHING`,
          [ws, Buffer.alloc(32), Buffer.alloc(64)],
        );
        await t.admin.query(
          `INSERT INTO tenant.audit_purges (workspace_id, from_seq, through_seq, event_count, boundary_hash, cutoff, purged_at, key_id, signature)
           VALUES ($1, 1, 1, 1, $2, now(), now(), '0123456789abcdef', $3)`,
          [ws, Buffer.alloc(32), Buffer.alloc(64)],
        );
        await t.admin.query(`INSERT INTO central.login_attempts (email, succeeded, reason) VALUES ('x@example.com', false, 'bad_password')`);
        expect(await sqlState(t.admin.query(statement)), statement).toBe('42501');
      } finally {
        await t.admin.script('ROLLBACK');
      }
    }
  });
});
