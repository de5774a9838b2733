import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSuperuserWithoutTriggers, testSigner } from '../../test/audit.ts';
import { createWorkspace, freshDriver, openTestDatabase, type TestDatabase } from '../../test/db.ts';
import { Database } from '../db/database.ts';
import { migrateDriver } from '../db/open.ts';
import { coreModules } from '../modules.ts';
import { CANONICAL_SQL, genesisHash, linkHash } from './chain.ts';
import { exportCheckpoints, parseCheckpoints } from './checkpoints.ts';
import { sealAll, sealWorkspace } from './seal.ts';
import { AuditSigner } from './signing.ts';

let t: TestDatabase;
const { signer, verify } = testSigner();

beforeAll(async () => {
  t = await openTestDatabase();
});
afterAll(async () => t.close());

/** A workspace with `n` department writes, sealed and checkpointed. */
async function sealedWorkspace(n: number): Promise<string> {
  const ws = await createWorkspace(t.db);
  for (let i = 0; i < n; i++) {
    await t.db.withWorkspace({ workspaceId: ws }, (tx) =>
      tx.query('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3)', [ws, `D${i}`, `Dept ${i}`]),
    );
  }
  await sealWorkspace(t.db, signer, ws);
  return ws;
}

const problemsOf = async (ws: string, exported?: ReturnType<typeof parseCheckpoints>) => {
  const report = await verify(t.db, { workspaceId: ws, ...(exported === undefined ? {} : { exported }) });
  return report.workspaces.find((w) => w.workspaceId === ws)?.problems ?? [];
};

describe('AUD-5 hash chain and signed checkpoints', () => {
  it('seals events into a contiguous chain that verifies', async () => {
    const ws = await sealedWorkspace(5);
    const report = await verify(t.db, { workspaceId: ws });
    expect(report.ok).toBe(true);
    // workspace creation + 5 departments
    expect(report.workspaces).toEqual([
      expect.objectContaining({ workspaceId: ws, events: 6, firstSeq: 1n, headSeq: 6n, unsealed: 0, checkpoints: 1, problems: [] }),
    ]);
  });

  it('hashes are computed as documented (genesis, seq, canonical form), independently of this code path', async () => {
    const ws = await sealedWorkspace(2);
    const { rows } = await t.admin.query<{ seq: string; prev_hash: Buffer; hash: Buffer; canonical: string }>(
      `SELECT e.seq, e.prev_hash, e.hash, ${CANONICAL_SQL} AS canonical FROM tenant.audit_events e WHERE workspace_id = $1 ORDER BY seq`,
      [ws],
    );
    let prev = genesisHash(ws);
    for (const r of rows) {
      expect(r.prev_hash.equals(prev)).toBe(true);
      expect(linkHash(prev, BigInt(r.seq), r.canonical).equals(r.hash)).toBe(true);
      prev = r.hash;
    }
    expect(rows.map((r) => r.seq)).toEqual(['1', '2', '3']);
  });

  // The attacker below is a database superuser who disables the triggers.
  it('(a) detects one edited row', async () => {
    const ws = await sealedWorkspace(5);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query(`UPDATE tenant.audit_events SET new_values = new_values || '{"name": "Forged"}' WHERE workspace_id = $1 AND seq = 3`, [ws]);
    });
    expect(await problemsOf(ws)).toEqual(['seq 3 was altered: its content no longer matches its hash']);
  });

  it('(a) detects an edited actor, time or chain field', async () => {
    for (const change of [
      `actor_email = 'someone.else@example.com'`,
      `occurred_at = occurred_at - interval '1 microsecond'`,
      `prev_hash = sha256('x')`,
    ]) {
      const ws = await sealedWorkspace(3);
      await asSuperuserWithoutTriggers(t.admin, async () => {
        await t.admin.query(`UPDATE tenant.audit_events SET ${change} WHERE workspace_id = $1 AND seq = 2`, [ws]);
      });
      const problems = await problemsOf(ws);
      expect(problems, change).toHaveLength(1);
      expect(problems[0], change).toMatch(/^seq 2 (was altered|does not link)/);
    }
  });

  it('(b) detects a row removed from the middle', async () => {
    const ws = await sealedWorkspace(5);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query('DELETE FROM tenant.audit_events WHERE workspace_id = $1 AND seq = 3', [ws]);
    });
    expect(await problemsOf(ws)).toEqual(['seq 3 is missing (next present: 4): events were removed']);
  });

  it('(c) detects the newest rows removed', async () => {
    const ws = await sealedWorkspace(5);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query('DELETE FROM tenant.audit_events WHERE workspace_id = $1 AND seq > 4', [ws]);
    });
    expect(await problemsOf(ws)).toEqual([expect.stringMatching(/^events after seq 4 are missing: a checkpoint signed .* covers seq 6$/)]);
  });

  it('(d) detects a chain rewritten consistently, against an exported checkpoint', async () => {
    const ws = await sealedWorkspace(5);
    const exported = parseCheckpoints(await t.db.withSystem('test: export', (tx) => exportCheckpoints(tx)));
    // The attacker edits a row, recomputes every hash after it, and removes the signed
    // checkpoints stored in the database (it cannot forge new ones without the key).
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query(`UPDATE tenant.audit_events SET new_values = new_values || '{"name": "Forged"}' WHERE workspace_id = $1 AND seq = 2`, [ws]);
      const { rows } = await t.admin.query<{ id: string; seq: string; canonical: string }>(
        `SELECT e.id, e.seq, ${CANONICAL_SQL} AS canonical FROM tenant.audit_events e WHERE workspace_id = $1 ORDER BY seq`,
        [ws],
      );
      let prev = genesisHash(ws);
      for (const r of rows) {
        const hash = linkHash(prev, BigInt(r.seq), r.canonical);
        await t.admin.query('UPDATE tenant.audit_events SET prev_hash = $1, hash = $2 WHERE workspace_id = $3 AND id = $4', [prev, hash, ws, r.id]);
        prev = hash;
      }
      await t.admin.query('DELETE FROM tenant.audit_checkpoints WHERE workspace_id = $1', [ws]);
    });
    // From the database alone the rewrite is invisible …
    expect(await problemsOf(ws)).toEqual([]);
    // … the checkpoint kept outside it is not fooled.
    expect(await problemsOf(ws, exported)).toEqual([expect.stringMatching(/^the chain was rewritten: seq 6 has hash/)]);
  });

  it('refuses checkpoints with a forged signature or an unknown key', async () => {
    const ws = await sealedWorkspace(2);
    const [checkpoint] = parseCheckpoints(await t.db.withSystem('test: export', (tx) => exportCheckpoints(tx))).filter((c) => c.workspaceId === ws);
    if (checkpoint === undefined) throw new Error('no checkpoint exported');
    const forgedSeq = { ...checkpoint, seq: checkpoint.seq + 10n };
    const otherKey = AuditSigner.generate();
    const foreign = { ...checkpoint, keyId: otherKey.keyId };
    expect(await problemsOf(ws, [forgedSeq, foreign])).toEqual([
      `exported checkpoint at seq ${forgedSeq.seq} has an invalid signature (forged or altered)`,
      `exported checkpoint at seq ${checkpoint.seq} is signed by unknown key ${otherKey.keyId}`,
    ]);
  });

  it('verifies the same whatever the session TimeZone and DateStyle (timestamps hashed as numbers)', async () => {
    const ws = await sealedWorkspace(3);
    const report = await t.db.withSystem('test: verify in another zone', async (tx) => {
      await tx.query(`SET LOCAL TimeZone = 'Pacific/Chatham'`);
      await tx.query(`SET LOCAL DateStyle = 'SQL, DMY'`);
      const { verifyAudit } = await import('./verify.ts');
      const { trustedKeys } = await import('./signing.ts');
      return verifyAudit(tx, { keys: trustedKeys(signer.publicKey), workspaceId: ws });
    });
    expect(report.ok).toBe(true);
  });

  it('an idle sealer writes nothing: no bypass record, no new event', async () => {
    // A database of its own: on a server the run's database has other files writing meanwhile.
    const fresh = await freshDriver();
    await migrateDriver(fresh.driver, coreModules);
    const db = await Database.open(fresh.driver);
    try {
      const ws = await createWorkspace(db);
      expect((await sealAll(db, signer)).map((r) => r.sealed).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      const count = async () =>
        (await db.withSystem('audit: test counts events', (tx) => tx.query<{ n: string }>('SELECT count(*) AS n FROM tenant.audit_events'))).rows[0]?.n;
      const before = await count();
      expect(await sealAll(db, signer)).toEqual([]);
      expect(await sealAll(db, signer)).toEqual([]);
      // The count itself opened the bypass once (one record); nothing else was written.
      expect(Number(await count())).toBe(Number(before) + 1);
      expect((await verify(db, { workspaceId: ws })).ok).toBe(true);
    } finally {
      await db.close();
      await fresh.drop();
    }
  });

  it('50 concurrent writers and 3 concurrent sealers in one workspace keep one valid chain', async () => {
    const ws = await createWorkspace(t.db);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.db.withWorkspace({ workspaceId: ws }, (tx) =>
          tx.query('INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, $3)', [ws, `C${i}`, `Concurrent ${i}`]),
        ),
      ),
    );
    const results = await Promise.all([1, 2, 3].map(() => sealWorkspace(t.db, signer, ws, { batchSize: 7 })));
    expect(results.reduce((n, r) => n + r.sealed, 0)).toBe(51);
    const report = await verify(t.db, { workspaceId: ws });
    expect(report.workspaces[0]).toMatchObject({ events: 51, firstSeq: 1n, headSeq: 51n, unsealed: 0, problems: [] });
  });
});
