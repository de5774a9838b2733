import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSuperuserWithoutTriggers, testSigner } from '../../test/audit.ts';
import { createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';
import { purgeExpired } from './purge.ts';
import { sealWorkspace } from './seal.ts';

let t: TestDatabase;
const { signer, verify } = testSigner();

beforeAll(async () => {
  t = await openTestDatabase();
});
afterAll(async () => t.close());

/**
 * A workspace with 10 departments whose first `old` events (workspace creation included) are
 * backdated by 400 days, and a retention of 365 days. Returns the department ids in order.
 */
async function agedWorkspace(old: number): Promise<{ ws: string; departments: string[] }> {
  const ws = await createWorkspace(t.db);
  const departments: string[] = [];
  for (let i = 0; i < 10; i++) {
    const { rows } = await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query<{ id: string }>('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3) RETURNING id', [ws, `R${i}`, `Dept ${i}`]),
    );
    departments.push(rows[0]?.id ?? '');
  }
  // Time travel for the test: an administrator moves the first events 400 days back before they
  // are sealed (the chain then covers the backdated times).
  await asSuperuserWithoutTriggers(t.admin, async () => {
    await t.admin.query(
      `UPDATE tenant.audit_events SET occurred_at = occurred_at - interval '400 days'
        WHERE workspace_id = $1 AND id IN (SELECT id FROM tenant.audit_events WHERE workspace_id = $1 ORDER BY pos LIMIT $2)`,
      [ws, old],
    );
  });
  await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
    tx.query('INSERT INTO tenant.audit_config (workspace_id, retention_days) VALUES ($1, 365)', [ws]),
  );
  await sealWorkspace(t.db, signer, ws);
  return { ws, departments };
}

const seqs = async (ws: string) =>
  (await t.admin.query<{ seq: string }>('SELECT seq FROM tenant.audit_events WHERE workspace_id = $1 AND seq IS NOT NULL ORDER BY seq', [ws]))
    .rows.map((r) => Number(r.seq));

describe('AUD-7 retention, legal holds and the one purge routine', () => {
  it('purges only expired events, stops at a legal hold, and the chain still verifies', async () => {
    const { ws, departments } = await agedWorkspace(8);
    // Seq 1 is the workspace's creation, seq 2… the departments; hold the event of department 3.
    await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query(`INSERT INTO tenant.audit_legal_holds (workspace_id, reason, table_name, record_id)
                VALUES ($1, 'litigation #12', 'tenant.departments', $2)`, [ws, departments[3]]),
    );
    await sealWorkspace(t.db, signer, ws);

    const first = await purgeExpired(t.db, signer, ws);
    expect(first).toMatchObject({ workspaceId: ws, fromSeq: 1n, throughSeq: 4n, eventCount: 4n, keyId: signer.keyId });
    expect((await seqs(ws))[0]).toBe(5);
    let report = await verify(t.db, { workspaceId: ws });
    expect(report.workspaces[0]).toMatchObject({ firstSeq: 5n, certificates: 1, problems: [] });

    // Released, the hold no longer protects its events: the next purge reaches the fresh ones.
    await t.db.withWorkspace({ workspaceId: ws }, (tx) => tx.query('UPDATE tenant.audit_legal_holds SET released_at = now()'));
    await sealWorkspace(t.db, signer, ws);
    const second = await purgeExpired(t.db, signer, ws);
    expect(second).toMatchObject({ fromSeq: 5n, throughSeq: 8n, eventCount: 4n });
    report = await verify(t.db, { workspaceId: ws });
    expect(report.workspaces[0]).toMatchObject({ firstSeq: 9n, certificates: 2, problems: [] });
    expect(await purgeExpired(t.db, signer, ws)).toBeNull();

    // Each purge is itself an audited event, and the certificates are readable by the workspace.
    const { rows } = await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query<{ n: string }>(`SELECT count(*) AS n FROM tenant.audit_events WHERE event_type = 'audit.purged'`),
    );
    expect(rows[0]?.n).toBe('2');
    const certificates = await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query<{ from_seq: string; through_seq: string; event_count: string }>('SELECT from_seq, through_seq, event_count FROM tenant.audit_purges ORDER BY from_seq'),
    );
    expect(certificates.rows).toEqual([
      { from_seq: '1', through_seq: '4', event_count: '4' },
      { from_seq: '5', through_seq: '8', event_count: '4' },
    ]);
  });

  it('a hold by date range keeps every event in the range', async () => {
    const { ws } = await agedWorkspace(8);
    await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query(`INSERT INTO tenant.audit_legal_holds (workspace_id, reason, from_time, to_time)
                VALUES ($1, 'regulator request', now() - interval '500 days', now())`, [ws]),
    );
    await sealWorkspace(t.db, signer, ws);
    expect(await purgeExpired(t.db, signer, ws)).toBeNull();
    expect((await seqs(ws))[0]).toBe(1);
  });

  it('never purges inside the retention period, even when asked directly', async () => {
    const { ws } = await agedWorkspace(0);
    expect(await purgeExpired(t.db, signer, ws)).toBeNull();
    const head = await t.admin.query<{ hash: Buffer }>('SELECT hash FROM tenant.audit_events WHERE workspace_id = $1 AND seq = 2', [ws]);
    const forced = t.db.withSystem('test: forced purge', (tx) =>
      tx.query('SELECT palisade.audit_purge($1, 1, 2, 2, $2, now(), now(), $3, $4)', [ws, head.rows[0]?.hash, signer.keyId, Buffer.alloc(64)]),
    );
    expect(await sqlState(forced)).toBe('42501');
    expect((await seqs(ws)).length).toBe(12);
  });

  it('only palisade_system may call the purge routine', async () => {
    const { ws } = await agedWorkspace(8);
    const attempt = t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query(`SELECT palisade.audit_purge($1, 1, 2, 2, $2, now() - interval '400 days', now(), 'x', $3)`, [ws, Buffer.alloc(32), Buffer.alloc(64)]),
    );
    expect(await sqlState(attempt)).toBe('42501');
  });

  it('verify reports expired events deleted without a certificate', async () => {
    const { ws } = await agedWorkspace(8);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query('DELETE FROM tenant.audit_events WHERE workspace_id = $1 AND seq <= 3', [ws]);
    });
    const report = await verify(t.db, { workspaceId: ws });
    expect(report.workspaces[0]?.problems).toEqual(['events 1…3 are missing and no valid deletion certificate covers them']);
  });
});
