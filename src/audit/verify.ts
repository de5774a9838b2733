import type { Database } from '../db/database.ts';
import type { Sql } from '../db/types.ts';
import { CANONICAL_SQL, CANONICAL_V1_SQL, genesisHash, linkHash, SERVER_LINK_HASH_OK_SQL } from './chain.ts';
import { certificateMessage, checkpointMessage, verifySignature, type TrustedKeys } from './signing.ts';
import { textArray } from './sql-arrays.ts';

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
  /** How the hashes were recomputed (see {@link VerifyMode}). */
  mode: VerifyMode;
  workspaces: WorkspaceVerification[];
  eventsChecked: number;
  seconds: number;
}

/**
 * - `deep`: every event's canonical form is read into this process and hashed here, and the
 *   links are walked here. The database only has to hand over the rows: a superuser who edits a
 *   row cannot make it verify short of serving verify the original row. Bound by how fast the
 *   server can send ~1 kB per event.
 * - `fast`: the server recomputes every hash with the built-in sha256() and checks the links in
 *   one query this process writes (no stored function is involved), and sends one summary row per
 *   workspace; any workspace it flags is then checked `deep` for the exact report. Trusts the
 *   database server to run that query honestly: it detects rows edited, removed or rewritten
 *   through SQL (triggers disabled included), but not a superuser who also replaces built-in
 *   functions or operators, patches the server, or makes the chain index disagree with the table
 *   by writing data files. Signed checkpoints and deletion certificates are checked here in both
 *   modes.
 */
export type VerifyMode = 'deep' | 'fast';

export interface VerifyOptions {
  keys: TrustedKeys;
  workspaceId?: string;
  exported?: readonly Checkpoint[];
  /** Rows per FETCH in deep mode. @default 20000 */
  fetchSize?: number;
  /** @default 'deep' */
  mode?: VerifyMode;
  /**
   * Only workspaces whose id is ≥ `from` and < `to` (either end open when absent): how
   * {@link verifyAll} splits the work over several connections.
   */
  range?: { from?: string; to?: string };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Which workspaces a query covers: `sql(column)` is an SQL condition (`true` for all). */
interface Scope {
  sql: (column: string) => string;
  params: string[];
  has: (workspaceId: string) => boolean;
}

function scopeOf(options: VerifyOptions): Scope {
  if (options.workspaceId !== undefined) return buildWorkspaceScope(options.workspaceId.toLowerCase());
  return buildScope(options.range?.from?.toLowerCase(), options.range?.to?.toLowerCase());
}

function buildScope(from: string | undefined, to: string | undefined): Scope {
  const params: string[] = [];
  const parts: ((c: string) => string)[] = [];
  if (from !== undefined) {
    params.push(from);
    const n = params.length;
    parts.push((c) => `${c} >= $${n}::uuid`);
  }
  if (to !== undefined) {
    params.push(to);
    const n = params.length;
    parts.push((c) => `${c} < $${n}::uuid`);
  }
  return {
    sql: (c) => (parts.length === 0 ? 'true' : parts.map((p) => p(c)).join(' AND ')),
    params,
    // UUIDs compare in PostgreSQL as their bytes, i.e. as lower-case hex text.
    has: (ws) => (from === undefined || ws >= from) && (to === undefined || ws < to),
  };
}

/** What the walk of one workspace's chain found. */
interface ChainResult {
  events: number;
  firstSeq: bigint | null;
  headSeq: bigint | null;
  /** The first broken link, if any (at most one: later links are not meaningful after it). */
  problem: string | null;
  /** Hashes at the checkpointed sequence numbers. */
  hashesAt: Map<bigint, Buffer>;
}

interface Context {
  checkpoints: Map<string, Checkpoint[]>;
  boundaries: Map<string, { through: bigint; hash: Buffer }>;
}

/**
 * Recomputes every sealed event's hash and checks the links, sequence numbers, signed checkpoints
 * (the database's and any exported ones) and deletion certificates, in `mode` (deep by default:
 * hashes computed in this process). `sql` must see every workspace's audit rows (withSystem, or a
 * superuser) and run in a transaction (a cursor streams the events, and every query of one
 * workspace's check sees the same chain).
 *
 * What each check catches: an edited row changes its hash; a removed row leaves a gap in `seq`;
 * removed newest rows fall short of a checkpoint; a chain rewritten end to end no longer matches
 * a checkpoint exported before the rewrite.
 */
export async function verifyAudit(sql: Sql, options: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const mode = options.mode ?? 'deep';
  const scope = scopeOf(options);
  const { params } = scope;

  const encoding = await sql.query<{ encoding: string }>(`SELECT pg_catalog.current_setting('client_encoding') AS encoding`);
  if (encoding.rows[0]?.encoding !== 'UTF8') {
    // Text goes into the canonical form in the client encoding; both drivers use UTF-8.
    throw new Error(`audit verify needs client_encoding UTF8, the session has ${encoding.rows[0]?.encoding ?? '?'}`);
  }
  // bytea in hex (what the drivers parse fastest); no JIT: compiling these plans costs more than it saves.
  await sql.query(`SET LOCAL bytea_output = 'hex'`);
  await sql.query(`SET LOCAL jit = off`);

  const problems = new Map<string, string[]>();
  const problemsOf = (ws: string) => {
    let list = problems.get(ws);
    if (list === undefined) {
      list = [];
      problems.set(ws, list);
    }
    return list;
  };

  const checkpoints = new Map<string, Checkpoint[]>();
  const addCheckpoint = (c: Checkpoint, source: string) => {
    if (!scope.has(c.workspaceId.toLowerCase())) return;
    const key = options.keys.get(c.keyId);
    const list = problemsOf(c.workspaceId);
    if (key === undefined) list.push(`${source} checkpoint at seq ${c.seq} is signed by unknown key ${c.keyId}`);
    else if (!verifySignature(key, checkpointMessage(c), c.signature)) {
      list.push(`${source} checkpoint at seq ${c.seq} has an invalid signature (forged or altered)`);
    } else {
      checkpoints.set(c.workspaceId, [...(checkpoints.get(c.workspaceId) ?? []), c]);
    }
  };

  // Times are read as epoch milliseconds: the session's DateStyle and TimeZone cannot change them.
  const ms = (column: string) => `(pg_catalog.date_part('epoch', ${column}) * 1000)::bigint`;
  const stored = await sql.query<{ workspace_id: string; seq: string; hash: Uint8Array; signed_at: string; key_id: string; signature: Uint8Array }>(
    `SELECT workspace_id, seq, hash, ${ms('signed_at')} AS signed_at, key_id, signature FROM tenant.audit_checkpoints WHERE ${scope.sql('workspace_id')}`,
    params,
  );
  for (const r of stored.rows) {
    addCheckpoint(
      {
        workspaceId: r.workspace_id, seq: BigInt(r.seq), hash: asBuffer(r.hash), signedAt: new Date(Number(r.signed_at)),
        keyId: r.key_id, signature: asBuffer(r.signature),
      },
      'stored',
    );
  }
  for (const c of options.exported ?? []) addCheckpoint(c, 'exported');

  // The latest deletion certificate of each workspace says where its chain now starts.
  const boundaries = new Map<string, { through: bigint; hash: Buffer }>();
  const certificateCount = new Map<string, number>();
  const certs = await sql.query<{
    workspace_id: string; from_seq: string; through_seq: string; event_count: string; boundary_hash: Uint8Array;
    cutoff: string; purged_at: string; key_id: string; signature: Uint8Array;
  }>(
    `SELECT workspace_id, from_seq, through_seq, event_count, boundary_hash, ${ms('cutoff')} AS cutoff, ${ms('purged_at')} AS purged_at, key_id, signature
       FROM tenant.audit_purges WHERE ${scope.sql('workspace_id')} ORDER BY workspace_id, through_seq`,
    params,
  );
  for (const c of certs.rows) {
    const list = problemsOf(c.workspace_id);
    certificateCount.set(c.workspace_id, (certificateCount.get(c.workspace_id) ?? 0) + 1);
    const key = options.keys.get(c.key_id);
    const boundaryHash = asBuffer(c.boundary_hash);
    const message = certificateMessage({
      workspaceId: c.workspace_id, fromSeq: BigInt(c.from_seq), throughSeq: BigInt(c.through_seq),
      eventCount: BigInt(c.event_count), boundaryHash, cutoff: new Date(Number(c.cutoff)), purgedAt: new Date(Number(c.purged_at)),
    });
    if (key === undefined || !verifySignature(key, message, asBuffer(c.signature))) {
      list.push(`deletion certificate through seq ${c.through_seq} has an invalid or unknown signature`);
      continue;
    }
    boundaries.set(c.workspace_id, { through: BigInt(c.through_seq), hash: boundaryHash });
  }

  const unsealed = await sql.query<{ workspace_id: string; n: string }>(
    `SELECT workspace_id, count(*) AS n FROM tenant.audit_events WHERE seq IS NULL AND ${scope.sql('workspace_id')} GROUP BY 1`,
    params,
  );
  const unsealedCount = new Map(unsealed.rows.map((r) => [r.workspace_id, Number(r.n)]));

  const ctx: Context = { checkpoints, boundaries };
  const chains = mode === 'deep' ? await walkDeep(sql, scope, ctx, options.fetchSize) : await checkOnServer(sql, scope, ctx, options.fetchSize);

  const reports: WorkspaceVerification[] = [];
  let total = 0;
  const all = new Set([...chains.keys(), ...checkpoints.keys(), ...boundaries.keys(), ...unsealedCount.keys(), ...problems.keys()]);
  for (const ws of all) {
    const chain = chains.get(ws);
    const r: WorkspaceVerification = {
      workspaceId: ws,
      events: chain?.events ?? 0,
      firstSeq: chain?.firstSeq ?? null,
      headSeq: chain?.headSeq ?? null,
      unsealed: unsealedCount.get(ws) ?? 0,
      checkpoints: checkpoints.get(ws)?.length ?? 0,
      certificates: certificateCount.get(ws) ?? 0,
      problems: [...(problems.get(ws) ?? [])],
    };
    if (chain?.problem != null) r.problems.push(chain.problem);
    checkCheckpoints(r, ctx, chain?.hashesAt ?? new Map());
    total += r.events;
    reports.push(r);
  }
  const workspaces = reports.sort((x, y) => x.workspaceId.localeCompare(y.workspaceId));
  return {
    ok: workspaces.every((w) => w.problems.length === 0),
    mode,
    workspaces,
    eventsChecked: total,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The checks against signed checkpoints and the deletion certificate, once the chain is known. */
function checkCheckpoints(r: WorkspaceVerification, ctx: Context, hashesAt: ReadonlyMap<bigint, Buffer>): void {
  const boundary = ctx.boundaries.get(r.workspaceId);
  for (const c of ctx.checkpoints.get(r.workspaceId) ?? []) {
    if (r.headSeq === null || c.seq > r.headSeq) {
      r.problems.push(`events after seq ${r.headSeq ?? 0} are missing: a checkpoint signed ${c.signedAt.toISOString()} covers seq ${c.seq}`);
      continue;
    }
    const at = hashesAt.get(c.seq);
    if (at !== undefined && !at.equals(c.hash)) {
      r.problems.push(`the chain was rewritten: seq ${c.seq} has hash ${hex(at).slice(0, 16)}…, checkpoint signed ${c.signedAt.toISOString()} says ${hex(c.hash).slice(0, 16)}…`);
    } else if (at === undefined && boundary?.through === c.seq && !boundary.hash.equals(c.hash)) {
      r.problems.push(`the deletion certificate through seq ${c.seq} disagrees with the checkpoint at that seq`);
    }
  }
}

/** Where a workspace's chain starts: seq 1 on the genesis hash, or right after its latest purge. */
function chainStart(ws: string, firstSeq: bigint, ctx: Context): { prev: Buffer } | { problem: string } {
  if (firstSeq === 1n) return { prev: genesisHash(ws) };
  const boundary = ctx.boundaries.get(ws);
  if (boundary?.through === firstSeq - 1n) return { prev: boundary.hash };
  return { problem: `events 1…${firstSeq - 1n} are missing and no valid deletion certificate covers them` };
}

// ---------------------------------------------------------------------------------------------
// Deep: every canonical form read and hashed here, the chain walked in order.

interface DeepRow {
  workspace_id: string;
  seq: string;
  prev_hash: Uint8Array | null;
  hash: Uint8Array | null;
  /** The version-2 canonical form, base64 (a third smaller than bytea's hex on the wire). */
  canonical: string;
}

/**
 * Streams every sealed event of `scope` in chain order through a cursor and walks each chain.
 * A row whose version-2 hash does not match is tried as version 1 (sealed before migration
 * 0003), fetched in one query per batch.
 */
async function walkDeep(sql: Sql, scope: Scope, ctx: Context, fetchSize = 20_000): Promise<Map<string, ChainResult>> {
  const results = new Map<string, ChainResult>();
  await sql.query(
    `DECLARE palisade_audit_verify NO SCROLL CURSOR FOR
       SELECT e.workspace_id, e.seq, e.prev_hash, e.hash, pg_catalog.encode(${CANONICAL_SQL}, 'base64') AS canonical
         FROM tenant.audit_events e
        WHERE e.seq IS NOT NULL AND ${scope.sql('e.workspace_id')}
        ORDER BY e.workspace_id, e.seq`,
    scope.params,
  );
  let current: ChainResult | null = null;
  let currentWs = '';
  let expectedSeq = 0n;
  let expectedPrev: Buffer = Buffer.alloc(32);
  let broken = false;
  let wanted = new Set<bigint>();
  const fetch = () => sql.query<DeepRow>(`FETCH ${fetchSize} FROM palisade_audit_verify`);
  let pending = fetch();
  for (;;) {
    const batch = await pending;
    if (batch.rows.length === 0) break;
    // Ask for the next batch now: the server produces it while this one is hashed.
    pending = fetch();
    const contentOk = await hashBatch(sql, batch.rows);
    for (const [i, row] of batch.rows.entries()) {
      const seq = BigInt(row.seq);
      if (current === null || currentWs !== row.workspace_id) {
        currentWs = row.workspace_id;
        current = { events: 0, firstSeq: seq, headSeq: null, problem: null, hashesAt: new Map() };
        results.set(currentWs, current);
        wanted = new Set((ctx.checkpoints.get(currentWs) ?? []).map((c) => c.seq));
        broken = false;
        const start = chainStart(currentWs, seq, ctx);
        if ('problem' in start) {
          current.problem = start.problem;
          broken = true;
        } else {
          expectedSeq = seq;
          expectedPrev = start.prev;
        }
      }
      const r = current;
      r.events += 1;
      r.headSeq = seq;
      const hash = row.hash === null ? null : asBuffer(row.hash);
      if (hash !== null && wanted.has(seq)) r.hashesAt.set(seq, hash);
      if (broken) continue;
      if (seq !== expectedSeq) {
        r.problem = `seq ${expectedSeq}${seq > expectedSeq + 1n ? `…${seq - 1n}` : ''} is missing (next present: ${seq}): events were removed`;
        broken = true;
        continue;
      }
      if (row.prev_hash === null || !asBuffer(row.prev_hash).equals(expectedPrev)) {
        r.problem = `seq ${seq} does not link to seq ${seq - 1n} (prev_hash altered, or the previous event was replaced)`;
        broken = true;
        continue;
      }
      if (hash === null || contentOk[i] !== true) {
        r.problem = `seq ${seq} was altered: its content no longer matches its hash`;
        broken = true;
        continue;
      }
      expectedPrev = hash;
      expectedSeq = seq + 1n;
    }
  }
  await sql.query('CLOSE palisade_audit_verify');
  return results;
}

/**
 * Whether each row's stored hash is SHA-256(its prev_hash ‖ seq ‖ canonical form), version 2,
 * else version 1 (read in one extra query for the rows that need it).
 */
async function hashBatch(sql: Sql, rows: readonly DeepRow[]): Promise<boolean[]> {
  const ok: boolean[] = [];
  const retry: number[] = [];
  for (const [i, row] of rows.entries()) {
    if (row.prev_hash === null || row.hash === null) {
      ok.push(false);
      continue;
    }
    const good = linkHash(row.prev_hash, BigInt(row.seq), Buffer.from(row.canonical, 'base64')).equals(asBuffer(row.hash));
    ok.push(good);
    if (!good) retry.push(i);
  }
  if (retry.length === 0) return ok;
  const picked = retry.map((i) => rows[i]).filter((r) => r !== undefined);
  const { rows: v1 } = await sql.query<{ workspace_id: string; seq: string; canonical: string }>(
    `SELECT e.workspace_id, e.seq, ${CANONICAL_V1_SQL} AS canonical
       FROM tenant.audit_events e
       JOIN ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::bigint[])) AS x(workspace_id, seq) ON e.workspace_id = x.workspace_id AND e.seq = x.seq`,
    [textArray(picked.map((r) => r.workspace_id)), textArray(picked.map((r) => r.seq))],
  );
  const v1Of = new Map(v1.map((r) => [`${r.workspace_id}/${r.seq}`, r.canonical]));
  for (const i of retry) {
    const row = rows[i];
    const canonical = row === undefined ? undefined : v1Of.get(`${row.workspace_id}/${row.seq}`);
    if (row?.prev_hash == null || row.hash === null || canonical === undefined) continue;
    ok[i] = linkHash(row.prev_hash, BigInt(row.seq), canonical).equals(asBuffer(row.hash));
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Fast: the server recomputes the hashes and checks the links; one summary row per workspace.

interface FastRow {
  workspace_id: string;
  /** Sealed events in the table. */
  content_n: string | null;
  /** Sealed events in the chain index (the links are checked there, in order, without sorting). */
  link_n: string | null;
  first_seq: string | null;
  head_seq: string | null;
  /** Events whose stored hash the server's recomputation does not match. */
  altered: string | null;
  /** Events whose prev_hash is not the previous event's hash. */
  unlinked: string | null;
  first_prev: Uint8Array | null;
  /** int8 seq ‖ 32-byte hash, for each checkpointed seq. */
  marks: Uint8Array | null;
}

/**
 * The fast mode's one statement: two passes over the same snapshot, the table (every row's hash
 * recomputed from its content, in physical order) and the chain index (links and gaps, walked in
 * seq order by an index-only scan, no sort); their counts must agree. `where(column)` limits the
 * workspaces with parameters $1…$n; $n+1 and $n+2 are the checkpointed (workspace, seq) pairs
 * whose hashes are returned. One row per workspace.
 */
export function serverCheckSql(where: (column: string) => string, n: number): string {
  return `WITH content AS (
       SELECT e.workspace_id, count(*) AS n,
              count(*) FILTER (WHERE (${SERVER_LINK_HASH_OK_SQL}) IS NOT TRUE) AS altered
         FROM tenant.audit_events e
        WHERE e.seq IS NOT NULL AND ${where('e.workspace_id')}
        GROUP BY e.workspace_id
     ), links AS (
       SELECT l.workspace_id, count(*) AS n, min(l.seq) AS first_seq, max(l.seq) AS head_seq,
              count(*) FILTER (WHERE l.prev_row_hash IS NOT NULL AND l.prev_hash IS DISTINCT FROM l.prev_row_hash) AS unlinked,
              pg_catalog.string_agg(l.prev_hash, '\\x'::bytea) FILTER (WHERE l.prev_row_hash IS NULL) AS first_prev
         FROM (SELECT e.workspace_id, e.seq, e.prev_hash, pg_catalog.lag(e.hash) OVER w AS prev_row_hash
                 FROM tenant.audit_events e
                WHERE e.seq IS NOT NULL AND ${where('e.workspace_id')}
               WINDOW w AS (PARTITION BY e.workspace_id ORDER BY e.seq)) l
        GROUP BY l.workspace_id
     ), marks AS (
       SELECT e.workspace_id, pg_catalog.string_agg(pg_catalog.int8send(e.seq) OPERATOR(pg_catalog.||) e.hash, '\\x'::bytea) AS marks
         FROM ROWS FROM (pg_catalog.unnest($${n + 1}::uuid[]), pg_catalog.unnest($${n + 2}::bigint[])) AS m(workspace_id, seq)
         JOIN tenant.audit_events e ON e.workspace_id = m.workspace_id AND e.seq = m.seq
        WHERE e.hash IS NOT NULL
        GROUP BY e.workspace_id
     )
     SELECT coalesce(l.workspace_id, c.workspace_id) AS workspace_id, c.n AS content_n, l.n AS link_n, l.first_seq, l.head_seq,
            c.altered, l.unlinked, l.first_prev, m.marks
       FROM links l
       FULL JOIN content c ON c.workspace_id = l.workspace_id
       LEFT JOIN marks m ON m.workspace_id = coalesce(l.workspace_id, c.workspace_id)`;
}

async function checkOnServer(sql: Sql, scope: Scope, ctx: Context, fetchSize?: number): Promise<Map<string, ChainResult>> {
  const markWs: string[] = [];
  const markSeq: string[] = [];
  for (const [ws, list] of ctx.checkpoints) {
    for (const c of list) {
      markWs.push(ws);
      markSeq.push(c.seq.toString());
    }
  }
  const { rows } = await sql.query<FastRow>(serverCheckSql(scope.sql, scope.params.length), [...scope.params, textArray(markWs), textArray(markSeq)]);

  const results = new Map<string, ChainResult>();
  for (const row of rows) {
    const ws = row.workspace_id;
    const firstSeq = row.first_seq === null ? null : BigInt(row.first_seq);
    const hashesAt = new Map<bigint, Buffer>();
    if (row.marks !== null) {
      const marks = asBuffer(row.marks);
      for (let off = 0; off + 40 <= marks.length; off += 40) hashesAt.set(marks.readBigInt64BE(off), Buffer.from(marks.subarray(off + 8, off + 40)));
    }
    const result: ChainResult = {
      events: Number(row.link_n ?? row.content_n ?? 0),
      firstSeq,
      headSeq: row.head_seq === null ? null : BigInt(row.head_seq),
      problem: null,
      hashesAt,
    };
    const start = firstSeq === null ? null : chainStart(ws, firstSeq, ctx);
    const flagged =
      row.content_n !== row.link_n ||
      Number(row.altered ?? 0) > 0 ||
      Number(row.unlinked ?? 0) > 0 ||
      // A gap: the chain index holds each seq once (unique), so fewer events than seqs spanned.
      result.headSeq === null ||
      firstSeq === null ||
      BigInt(result.events) !== result.headSeq - firstSeq + 1n ||
      start === null ||
      'problem' in start ||
      row.first_prev === null ||
      !asBuffer(row.first_prev).equals(start.prev);
    if (flagged) {
      // Something is wrong: walk this workspace deep for the exact first broken link.
      const deep = (await walkDeep(sql, buildWorkspaceScope(ws), ctx, fetchSize)).get(ws);
      if (deep !== undefined) {
        Object.assign(result, { events: deep.events, firstSeq: deep.firstSeq, headSeq: deep.headSeq, hashesAt: deep.hashesAt });
        result.problem = deep.problem;
      }
      if (result.problem === null) {
        result.problem =
          row.content_n !== row.link_n
            ? `the table holds ${row.content_n ?? 0} sealed events but the chain index ${row.link_n ?? 0}: rows were removed or added behind the index`
            : `the server-side check found ${row.altered ?? 0} altered and ${row.unlinked ?? 0} unlinked events that the deep check no longer finds (changed meanwhile?)`;
      }
    }
    results.set(ws, result);
  }
  return results;
}

/** One workspace, as a scope whose parameters follow none others. */
function buildWorkspaceScope(workspaceId: string): Scope {
  return { sql: (c) => `${c} = $1::uuid`, params: [workspaceId], has: (ws) => ws === workspaceId };
}

// ---------------------------------------------------------------------------------------------

/**
 * Verifies every workspace (or one) through `db`, split over `partitions` connections by ranges of
 * workspace ids, each in its own withSystem transaction: a workspace is always checked within one
 * transaction, so it sees one consistent chain. On a server the partitions run in parallel
 * (default 2); the embedded database has one connection (default 1).
 */
export async function verifyAll(
  db: Database,
  options: Omit<VerifyOptions, 'range'> & { partitions?: number },
): Promise<VerifyReport> {
  const started = performance.now();
  const partitions = options.workspaceId !== undefined ? 1 : Math.max(1, Math.min(16, options.partitions ?? (db.kind === 'server' ? 2 : 1)));
  const bounds = Array.from({ length: partitions - 1 }, (_, i) => {
    const prefix = Math.floor(((i + 1) * 2 ** 32) / partitions).toString(16).padStart(8, '0');
    return `${prefix}-0000-0000-0000-000000000000`;
  });
  const ranges = Array.from({ length: partitions }, (_, i) => {
    const from = i === 0 ? undefined : bounds[i - 1];
    const to = bounds[i];
    return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
  });
  const rest: VerifyOptions = { ...options };
  delete (rest as { partitions?: number }).partitions;
  const reports = await Promise.all(
    ranges.map((range) => db.withSystem('audit: verify', (tx) => verifyAudit(tx, partitions === 1 ? rest : { ...rest, range }))),
  );
  const workspaces = reports.flatMap((r) => r.workspaces).sort((x, y) => x.workspaceId.localeCompare(y.workspaceId));
  return {
    ok: reports.every((r) => r.ok),
    mode: options.mode ?? 'deep',
    workspaces,
    eventsChecked: reports.reduce((n, r) => n + r.eventsChecked, 0),
    seconds: (performance.now() - started) / 1000,
  };
}
