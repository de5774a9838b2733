import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSuperuserWithoutTriggers, testSigner } from '../../test/audit.ts';
import { createWorkspace, freshDriver, openTestDatabase, type TestDatabase } from '../../test/db.ts';
import { Database } from '../db/database.ts';
import { migrateDriver } from '../db/open.ts';
import { coreModules } from '../modules.ts';
import { CANONICAL_SQL, CANONICAL_V1_SQL, genesisHash, linkHash } from './chain.ts';
import { exportCheckpoints, parseCheckpoints } from './checkpoints.ts';
import { sealAll, sealWorkspace } from './seal.ts';
import { AuditSigner, trustedKeys } from './signing.ts';
import { verifyAll, verifyAudit, type VerifyMode } from './verify.ts';

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

/** The same check in a given mode, and over every workspace (split in two) rather than one. */
const problemsIn = async (mode: VerifyMode, ws: string, exported?: ReturnType<typeof parseCheckpoints>) => {
  const keys = trustedKeys(signer.publicKey);
  const extra = exported === undefined ? {} : { exported };
  const one = await t.db.withSystem('test: verify audit', (tx) => verifyAudit(tx, { keys, mode, workspaceId: ws, ...extra }));
  const all = await verifyAll(t.db, { keys, mode, partitions: 2, ...extra });
  const problems = one.workspaces.find((w) => w.workspaceId === ws)?.problems ?? [];
  // A workspace's report does not depend on how the work was split.
  expect(all.workspaces.find((w) => w.workspaceId === ws)).toEqual(one.workspaces.find((w) => w.workspaceId === ws));
  return problems;
};

/** Rewrites a workspace's chain in place as the superuser: every hash recomputed from `canonicalSql`. */
async function rehash(ws: string, canonicalSql: string): Promise<void> {
  await asSuperuserWithoutTriggers(t.admin, async () => {
    const { rows } = await t.admin.query<{ id: string; seq: string; canonical: string | Uint8Array }>(
      `SELECT e.id, e.seq, ${canonicalSql} AS canonical FROM tenant.audit_events e WHERE workspace_id = $1 AND seq IS NOT NULL ORDER BY seq`,
      [ws],
    );
    let prev = genesisHash(ws);
    for (const r of rows) {
      const hash = linkHash(prev, BigInt(r.seq), r.canonical);
      await t.admin.query('UPDATE tenant.audit_events SET prev_hash = $1, hash = $2 WHERE workspace_id = $3 AND id = $4', [prev, hash, ws, r.id]);
      prev = hash;
    }
  });
}

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
    const { rows } = await t.admin.query<{ seq: string; prev_hash: Uint8Array; hash: Uint8Array; canonical: Uint8Array }>(
      `SELECT e.seq, e.prev_hash, e.hash, ${CANONICAL_SQL} AS canonical FROM tenant.audit_events e WHERE workspace_id = $1 ORDER BY seq`,
      [ws],
    );
    let prev = genesisHash(ws);
    for (const r of rows) {
      expect(Buffer.from(r.prev_hash).equals(prev)).toBe(true);
      // Version 2: record_send's column count (19) first, then the version field, an int4 2.
      expect(Buffer.from(r.canonical).subarray(0, 16).toString('hex')).toBe('00000013000000170000000400000002');
      expect(linkHash(prev, BigInt(r.seq), r.canonical).equals(Buffer.from(r.hash))).toBe(true);
      prev = Buffer.from(r.hash);
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
      const { rows } = await t.admin.query<{ id: string; seq: string; canonical: Uint8Array }>(
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

// Both modes must catch every kind of tampering above, with the same report.
describe.each(['deep', 'fast'] as const)('AUD-5 verify, %s mode', (mode) => {
  it('an intact chain verifies', async () => {
    const ws = await sealedWorkspace(4);
    expect(await problemsIn(mode, ws)).toEqual([]);
  });

  it('(a) an edited row, actor, time or chain field', async () => {
    for (const [change, expected] of [
      [`new_values = new_values || '{"name": "Forged"}'`, /^seq 2 was altered/],
      [`actor_email = 'someone.else@example.com'`, /^seq 2 was altered/],
      [`occurred_at = occurred_at - interval '1 microsecond'`, /^seq 2 was altered/],
      [`ip = '198.51.100.1'`, /^seq 2 was altered/],
      [`prev_hash = sha256('x')`, /^seq 2 does not link to seq 1/],
      [`hash = sha256('x')`, /^seq 2 was altered/],
    ] as const) {
      const ws = await sealedWorkspace(3);
      await asSuperuserWithoutTriggers(t.admin, async () => {
        await t.admin.query(`UPDATE tenant.audit_events SET ${change} WHERE workspace_id = $1 AND seq = 2`, [ws]);
      });
      const problems = await problemsIn(mode, ws);
      expect(problems, change).toHaveLength(1);
      expect(problems[0], change).toMatch(expected);
    }
  });

  it('(a) a row edited and re-hashed alone (its successor no longer links)', async () => {
    const ws = await sealedWorkspace(4);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query(`UPDATE tenant.audit_events SET reason = 'harmless' WHERE workspace_id = $1 AND seq = 3`, [ws]);
      const { rows } = await t.admin.query<{ prev_hash: Uint8Array; canonical: Uint8Array }>(
        `SELECT e.prev_hash, ${CANONICAL_SQL} AS canonical FROM tenant.audit_events e WHERE workspace_id = $1 AND seq = 3`,
        [ws],
      );
      const row = rows[0];
      if (row === undefined) throw new Error('no row');
      await t.admin.query('UPDATE tenant.audit_events SET hash = $1 WHERE workspace_id = $2 AND seq = 3', [linkHash(row.prev_hash, 3n, row.canonical), ws]);
    });
    expect(await problemsIn(mode, ws)).toEqual(['seq 4 does not link to seq 3 (prev_hash altered, or the previous event was replaced)']);
  });

  it('(b) a row removed from the middle, and the first row removed', async () => {
    const ws = await sealedWorkspace(5);
    const first = await sealedWorkspace(2);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query('DELETE FROM tenant.audit_events WHERE workspace_id = $1 AND seq IN (3, 4)', [ws]);
      await t.admin.query('DELETE FROM tenant.audit_events WHERE workspace_id = $1 AND seq = 1', [first]);
    });
    expect(await problemsIn(mode, ws)).toEqual(['seq 3…4 is missing (next present: 5): events were removed']);
    expect(await problemsIn(mode, first)).toEqual(['events 1…1 are missing and no valid deletion certificate covers them']);
  });

  it('(c) the newest rows removed', async () => {
    const ws = await sealedWorkspace(5);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query('DELETE FROM tenant.audit_events WHERE workspace_id = $1 AND seq > 4', [ws]);
    });
    expect(await problemsIn(mode, ws)).toEqual([expect.stringMatching(/^events after seq 4 are missing: a checkpoint signed .* covers seq 6$/)]);
  });

  it('(d) a chain rewritten consistently, against an exported checkpoint', async () => {
    const ws = await sealedWorkspace(5);
    const exported = parseCheckpoints(await t.db.withSystem('test: export', (tx) => exportCheckpoints(tx)));
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query(`UPDATE tenant.audit_events SET new_values = new_values || '{"name": "Forged"}' WHERE workspace_id = $1 AND seq = 2`, [ws]);
      await t.admin.query('DELETE FROM tenant.audit_checkpoints WHERE workspace_id = $1', [ws]);
    });
    await rehash(ws, CANONICAL_SQL);
    expect(await problemsIn(mode, ws)).toEqual([]);
    expect(await problemsIn(mode, ws, exported)).toEqual([expect.stringMatching(/^the chain was rewritten: seq 6 has hash/)]);
  });

  it('verifies chains sealed with the version-1 canonical form (before migration 0003), and catches edits in them', async () => {
    const ws = await sealedWorkspace(3);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query('DELETE FROM tenant.audit_checkpoints WHERE workspace_id = $1', [ws]);
    });
    await rehash(ws, CANONICAL_V1_SQL);
    expect(await problemsIn(mode, ws)).toEqual([]);
    await asSuperuserWithoutTriggers(t.admin, async () => {
      await t.admin.query(`UPDATE tenant.audit_events SET actor_role = 'owner' WHERE workspace_id = $1 AND seq = 3`, [ws]);
    });
    expect(await problemsIn(mode, ws)).toEqual(['seq 3 was altered: its content no longer matches its hash']);
  });
});

