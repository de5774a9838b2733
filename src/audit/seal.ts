import type { Database } from '../db/database.ts';
import type { Sql } from '../db/types.ts';
import { CANONICAL_SQL, genesisHash, linkHash, PLATFORM_WORKSPACE } from './chain.ts';
import { checkpointMessage, type AuditSigner } from './signing.ts';
import { byteaArray, textArray } from './sql-arrays.ts';

export interface ChainHead {
  seq: bigint;
  hash: Buffer;
}

/** The last sealed event of a workspace, or what the latest purge left the chain resting on. */
export async function chainHead(tx: Sql, workspaceId: string): Promise<ChainHead | null> {
  const sealed = await tx.query<{ seq: string; hash: Buffer }>(
    `SELECT seq, hash FROM tenant.audit_events WHERE workspace_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1`,
    [workspaceId],
  );
  const row = sealed.rows[0];
  if (row !== undefined) return { seq: BigInt(row.seq), hash: Buffer.from(row.hash) };
  const purged = await tx.query<{ seq: string; hash: Buffer }>(
    `SELECT through_seq AS seq, boundary_hash AS hash FROM tenant.audit_purges
      WHERE workspace_id = $1 ORDER BY through_seq DESC LIMIT 1`,
    [workspaceId],
  );
  const boundary = purged.rows[0];
  return boundary === undefined ? null : { seq: BigInt(boundary.seq), hash: Buffer.from(boundary.hash) };
}

export interface SealOptions {
  /** Events per transaction. @default 2000 */
  batchSize?: number;
  /**
   * Sign a checkpoint of the new head when the last one is older than this many milliseconds
   * (0: after every batch that moved the head; null: never). @default 0
   */
  checkpointAfterMs?: number | null;
}

export interface SealResult {
  workspaceId: string;
  sealed: number;
  head: ChainHead | null;
  checkpointed: boolean;
}

/**
 * Seals one workspace's unsealed events, oldest first: numbers them after the head, computes each
 * hash over the previous one, and writes the chain fields through palisade.audit_seal(), all
 * under the workspace's advisory lock so concurrent sealers (several servers) queue up.
 */
export async function sealWorkspace(db: Database, signer: AuditSigner, workspaceId: string, options: SealOptions = {}): Promise<SealResult> {
  const batchSize = options.batchSize ?? 2000;
  const checkpointAfterMs = options.checkpointAfterMs === undefined ? 0 : options.checkpointAfterMs;
  let sealed = 0;
  let checkpointed = false;
  for (;;) {
    const batch = await db.withSystem('audit: seal', async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('palisade.audit:' || $1::text, 0))`, [workspaceId]);
      const start = await chainHead(tx, workspaceId);
      // The canonical bytes travel as base64: a third smaller than bytea's hex output.
      const { rows } = await tx.query<{ id: string; canonical: string }>(
        `SELECT e.id, pg_catalog.encode(${CANONICAL_SQL}, 'base64') AS canonical FROM tenant.audit_events e
          WHERE e.workspace_id = $1 AND e.seq IS NULL ORDER BY e.pos LIMIT $2`,
        [workspaceId, batchSize],
      );
      let prev = start?.hash ?? genesisHash(workspaceId);
      let seq = start?.seq ?? 0n;
      const ids: string[] = [];
      const seqs: string[] = [];
      const prevs: Buffer[] = [];
      const hashes: Buffer[] = [];
      for (const row of rows) {
        seq += 1n;
        const hash = linkHash(prev, seq, Buffer.from(row.canonical, 'base64'));
        ids.push(row.id);
        seqs.push(seq.toString());
        prevs.push(prev);
        hashes.push(hash);
        prev = hash;
      }
      if (rows.length > 0) {
        await tx.query('SELECT palisade.audit_seal($1, $2::uuid[], $3::bigint[], $4::bytea[], $5::bytea[])', [
          workspaceId,
          textArray(ids),
          textArray(seqs),
          byteaArray(prevs),
          byteaArray(hashes),
        ]);
      }
      const newHead = rows.length > 0 ? { seq, hash: prev } : start;
      let signed = false;
      if (newHead !== null && checkpointAfterMs !== null) signed = await checkpoint(tx, signer, workspaceId, newHead, checkpointAfterMs);
      return { count: rows.length, head: newHead, signed };
    });
    sealed += batch.count;
    checkpointed ||= batch.signed;
    if (batch.count < batchSize) return { workspaceId, sealed, head: batch.head, checkpointed };
  }
}

/** Signs and stores a checkpoint of `head` unless one at least as recent exists. */
async function checkpoint(tx: Sql, signer: AuditSigner, workspaceId: string, head: ChainHead, afterMs: number): Promise<boolean> {
  const last = await tx.query<{ seq: string; signed_at: Date }>(
    'SELECT seq, signed_at FROM tenant.audit_checkpoints WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1',
    [workspaceId],
  );
  const previous = last.rows[0];
  if (previous !== undefined && BigInt(previous.seq) >= head.seq) return false;
  if (previous !== undefined && Date.now() - previous.signed_at.getTime() < afterMs) return false;
  const signedAt = new Date();
  const signature = signer.sign(checkpointMessage({ workspaceId, seq: head.seq, hash: head.hash, signedAt }));
  await tx.query(
    `INSERT INTO tenant.audit_checkpoints (workspace_id, seq, hash, signed_at, key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [workspaceId, head.seq.toString(), head.hash, signedAt, signer.keyId, signature],
  );
  return true;
}

/** Workspaces with events waiting to be sealed. */
export async function workspacesWithUnsealed(db: Database): Promise<string[]> {
  const { rows } = await db.withSystem('audit: find unsealed', (tx) =>
    tx.query<{ workspace_id: string }>('SELECT DISTINCT workspace_id FROM tenant.audit_events WHERE seq IS NULL'),
  );
  return rows.map((r) => r.workspace_id);
}

/**
 * Seals every workspace that has unsealed events, the platform trail last so that it also takes
 * in the bypass records this very run wrote. Asks first, without the bypass, whether there is
 * anything to do: an idle sealer writes nothing.
 */
export async function sealAll(db: Database, signer: AuditSigner, options: SealOptions & { force?: boolean } = {}): Promise<SealResult[]> {
  if (options.force !== true) {
    const { rows } = await db.query<{ pending: boolean }>('SELECT palisade.audit_has_unsealed() AS pending');
    if (rows[0]?.pending !== true) return [];
  }
  const workspaces = await workspacesWithUnsealed(db);
  const ordered = [...workspaces.filter((w) => w !== PLATFORM_WORKSPACE), PLATFORM_WORKSPACE];
  const results: SealResult[] = [];
  for (const ws of ordered) results.push(await sealWorkspace(db, signer, ws, options));
  return results;
}

/**
 * Seals in the background every `intervalMs` until stopped. A failed round is reported to
 * `onError` and retried at the next tick; events stay protected by grants and triggers meanwhile.
 */
export function startSealer(options: {
  db: Database;
  signer: AuditSigner;
  intervalMs: number;
  checkpointAfterMs: number;
  onError: (error: unknown) => void;
}): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = sealAll(options.db, options.signer, { checkpointAfterMs: options.checkpointAfterMs })
      .then(() => undefined, options.onError)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.intervalMs).unref();
      });
  };
  let timer = setTimeout(tick, options.intervalMs).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
