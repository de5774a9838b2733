import type { Sql } from '../db/types.ts';
import { CANONICAL_SQL, genesisHash, linkHash } from './chain.ts';
import { certificateMessage, checkpointMessage, verifySignature, type TrustedKeys } from './signing.ts';

/** A checkpoint as stored in the database or exported to a file. */
export interface Checkpoint {
  workspaceId: string;
  seq: bigint;
  hash: Buffer;
  signedAt: Date;
  keyId: string;
  signature: Buffer;
}

export interface WorkspaceVerification {
  workspaceId: string;
  /** Sealed events whose links were checked. */
  events: number;
  firstSeq: bigint | null;
  headSeq: bigint | null;
  /** Events not yet sealed: protected by grants and triggers, not yet by the chain. */
  unsealed: number;
  checkpoints: number;
  certificates: number;
  /** The first broken link, then any checkpoint or certificate problems. Empty when intact. */
  problems: string[];
}

export interface VerifyReport {
  ok: boolean;
  workspaces: WorkspaceVerification[];
  eventsChecked: number;
  seconds: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * Recomputes every sealed event's hash in this process from the row's canonical form and checks
 * the links, sequence numbers, signed checkpoints (the database's and any exported ones) and
 * deletion certificates. `sql` must see every workspace's audit rows (withSystem, or a superuser)
 * and run in a transaction (a cursor streams the events).
 *
 * What each check catches: an edited row changes its hash; a removed row leaves a gap in `seq`;
 * removed newest rows fall short of a checkpoint; a chain rewritten end to end no longer matches
 * a checkpoint exported before the rewrite.
 */
export async function verifyAudit(
  sql: Sql,
  options: { keys: TrustedKeys; workspaceId?: string; exported?: readonly Checkpoint[]; fetchSize?: number },
): Promise<VerifyReport> {
  const started = performance.now();
  const only = options.workspaceId;
  const filter = only === undefined ? '' : 'WHERE workspace_id = $1';
  const params = only === undefined ? [] : [only];

  const checkpoints = new Map<string, Checkpoint[]>();
  const addCheckpoint = (c: Checkpoint, source: string, problems: Map<string, string[]>) => {
    if (only !== undefined && c.workspaceId !== only) return;
    const key = options.keys.get(c.keyId);
    const list = problems.get(c.workspaceId) ?? [];
    if (key === undefined) list.push(`${source} checkpoint at seq ${c.seq} is signed by unknown key ${c.keyId}`);
    else if (!verifySignature(key, checkpointMessage(c), c.signature)) {
      list.push(`${source} checkpoint at seq ${c.seq} has an invalid signature (forged or altered)`);
    } else {
      checkpoints.set(c.workspaceId, [...(checkpoints.get(c.workspaceId) ?? []), c]);
    }
    problems.set(c.workspaceId, list);
  };

  const problems = new Map<string, string[]>();
  // Times are read as epoch milliseconds: the session's DateStyle and TimeZone cannot change them.
  const ms = (column: string) => `(pg_catalog.date_part('epoch', ${column}) * 1000)::bigint`;
  const stored = await sql.query<{ workspace_id: string; seq: string; hash: Buffer; signed_at: string; key_id: string; signature: Buffer }>(
    `SELECT workspace_id, seq, hash, ${ms('signed_at')} AS signed_at, key_id, signature FROM tenant.audit_checkpoints ${filter}`,
    params,
  );
  for (const r of stored.rows) {
    addCheckpoint(
      { workspaceId: r.workspace_id, seq: BigInt(r.seq), hash: r.hash, signedAt: new Date(Number(r.signed_at)), keyId: r.key_id, signature: r.signature },
      'stored',
      problems,
    );
  }
  for (const c of options.exported ?? []) addCheckpoint(c, 'exported', problems);

  // The latest deletion certificate of each workspace says where its chain now starts.
  const boundaries = new Map<string, { through: bigint; hash: Buffer }>();
  const certificateCount = new Map<string, number>();
  const certs = await sql.query<{
    workspace_id: string; from_seq: string; through_seq: string; event_count: string; boundary_hash: Buffer;
    cutoff: string; purged_at: string; key_id: string; signature: Buffer;
  }>(
    `SELECT workspace_id, from_seq, through_seq, event_count, boundary_hash, ${ms('cutoff')} AS cutoff, ${ms('purged_at')} AS purged_at, key_id, signature
       FROM tenant.audit_purges ${filter} ORDER BY workspace_id, through_seq`,
    params,
  );
  for (const c of certs.rows) {
    const list = problems.get(c.workspace_id) ?? [];
    problems.set(c.workspace_id, list);
    certificateCount.set(c.workspace_id, (certificateCount.get(c.workspace_id) ?? 0) + 1);
    const key = options.keys.get(c.key_id);
    const message = certificateMessage({
      workspaceId: c.workspace_id, fromSeq: BigInt(c.from_seq), throughSeq: BigInt(c.through_seq),
      eventCount: BigInt(c.event_count), boundaryHash: c.boundary_hash, cutoff: new Date(Number(c.cutoff)), purgedAt: new Date(Number(c.purged_at)),
    });
    if (key === undefined || !verifySignature(key, message, c.signature)) {
      list.push(`deletion certificate through seq ${c.through_seq} has an invalid or unknown signature`);
      continue;
    }
    boundaries.set(c.workspace_id, { through: BigInt(c.through_seq), hash: c.boundary_hash });
  }

  const unsealed = await sql.query<{ workspace_id: string; n: string }>(
    `SELECT workspace_id, count(*) AS n FROM tenant.audit_events WHERE seq IS NULL ${only === undefined ? '' : 'AND workspace_id = $1'} GROUP BY 1`,
    params,
  );
  const unsealedCount = new Map(unsealed.rows.map((r) => [r.workspace_id, Number(r.n)]));

  const reports = new Map<string, WorkspaceVerification>();
  const report = (ws: string): WorkspaceVerification => {
    let r = reports.get(ws);
    if (r === undefined) {
      r = {
        workspaceId: ws, events: 0, firstSeq: null, headSeq: null, unsealed: unsealedCount.get(ws) ?? 0,
        checkpoints: checkpoints.get(ws)?.length ?? 0, certificates: certificateCount.get(ws) ?? 0,
        problems: [...(problems.get(ws) ?? [])],
      };
      reports.set(ws, r);
    }
    return r;
  };

  // Stream every sealed event in chain order and walk the links.
  await sql.query(
    `DECLARE palisade_audit_verify NO SCROLL CURSOR FOR
       SELECT e.workspace_id, e.seq, e.prev_hash, e.hash, ${CANONICAL_SQL} AS canonical
         FROM tenant.audit_events e
        WHERE e.seq IS NOT NULL ${only === undefined ? '' : 'AND e.workspace_id = $1'}
        ORDER BY e.workspace_id, e.seq`,
    params,
  );
  let current: WorkspaceVerification | null = null;
  let expectedSeq = 0n;
  let expectedPrev: Buffer = Buffer.alloc(32);
  let broken = false;
  let hashesAt = new Map<bigint, Buffer>();
  let total = 0;
  const wanted = (ws: string) => new Set((checkpoints.get(ws) ?? []).map((c) => c.seq));
  let wantedSeqs = new Set<bigint>();
  const finish = (r: WorkspaceVerification) => {
    for (const c of checkpoints.get(r.workspaceId) ?? []) {
      if (r.headSeq === null || c.seq > r.headSeq) {
        r.problems.push(`events after seq ${r.headSeq ?? 0} are missing: a checkpoint signed ${c.signedAt.toISOString()} covers seq ${c.seq}`);
        continue;
      }
      const at = hashesAt.get(c.seq);
      const boundary = boundaries.get(r.workspaceId);
      if (at !== undefined && !at.equals(c.hash)) {
        r.problems.push(`the chain was rewritten: seq ${c.seq} has hash ${hex(at).slice(0, 16)}…, checkpoint signed ${c.signedAt.toISOString()} says ${hex(c.hash).slice(0, 16)}…`);
      } else if (at === undefined && boundary?.through === c.seq && !boundary.hash.equals(c.hash)) {
        r.problems.push(`the deletion certificate through seq ${c.seq} disagrees with the checkpoint at that seq`);
      }
    }
  };
  for (;;) {
    const batch = await sql.query<{ workspace_id: string; seq: string; prev_hash: Buffer; hash: Buffer; canonical: string }>(
      `FETCH ${options.fetchSize ?? 20000} FROM palisade_audit_verify`,
    );
    for (const row of batch.rows) {
      if (current?.workspaceId !== row.workspace_id) {
        if (current !== null) finish(current);
        current = report(row.workspace_id);
        wantedSeqs = wanted(row.workspace_id);
        hashesAt = new Map();
        broken = false;
        const seq = BigInt(row.seq);
        const boundary = boundaries.get(row.workspace_id);
        current.firstSeq = seq;
        if (seq === 1n) {
          expectedSeq = 1n;
          expectedPrev = genesisHash(row.workspace_id);
        } else if (boundary?.through === seq - 1n) {
          expectedSeq = seq;
          expectedPrev = boundary.hash;
        } else {
          current.problems.push(`events 1…${seq - 1n} are missing and no valid deletion certificate covers them`);
          broken = true;
        }
      }
      const r = current;
      const seq = BigInt(row.seq);
      r.events += 1;
      r.headSeq = seq;
      total += 1;
      if (wantedSeqs.has(seq)) hashesAt.set(seq, row.hash);
      if (broken) continue;
      if (seq !== expectedSeq) {
        r.problems.push(`seq ${expectedSeq}${seq > expectedSeq + 1n ? `…${seq - 1n}` : ''} is missing (next present: ${seq}): events were removed`);
        broken = true;
        continue;
      }
      if (!row.prev_hash.equals(expectedPrev)) {
        r.problems.push(`seq ${seq} does not link to seq ${seq - 1n} (prev_hash altered, or the previous event was replaced)`);
        broken = true;
        continue;
      }
      if (!linkHash(expectedPrev, seq, row.canonical).equals(row.hash)) {
        r.problems.push(`seq ${seq} was altered: its content no longer matches its hash`);
        broken = true;
        continue;
      }
      expectedPrev = row.hash;
      expectedSeq = seq + 1n;
    }
    if (batch.rows.length === 0) break;
  }
  if (current !== null) finish(current);
  await sql.query('CLOSE palisade_audit_verify');

  // Workspaces with checkpoints, certificates or unsealed events but no sealed event left.
  for (const ws of new Set([...checkpoints.keys(), ...boundaries.keys(), ...unsealedCount.keys(), ...problems.keys()])) {
    if (!reports.has(ws)) finish(report(ws));
  }
  const workspaces = [...reports.values()].sort((x, y) => x.workspaceId.localeCompare(y.workspaceId));
  return {
    ok: workspaces.every((w) => w.problems.length === 0),
    workspaces,
    eventsChecked: total,
    seconds: (performance.now() - started) / 1000,
  };
}
