/**
 * `npm run bench -- audit`: what the audit trail costs on a PostgreSQL server.
 *
 * 1. Writes. One single-row INSERT per transaction through the real request path,
 *    `db.withWorkspace(ctx, tx => tx.query('INSERT …'))` on a ServerDriver pool logged in as
 *    palisade_app, into three tables of the same shape, all with the production tenant policies:
 *      unaudited  no audit trigger
 *      audited    palisade_private.enable_audit(): each write also inserts its event; no sealer
 *      chained    the same, with the sealer running in this process the whole time, as `serve`
 *                 runs it (sealAll, then a 200 ms pause, again)
 *    at concurrency 1 and 8, with every write in one workspace and spread over many. Each cell
 *    runs for --seconds in four slices; the three variants of a group alternate A B C, C B A, …,
 *    so that drift over time hits them alike. Every slice starts from the same state: no unsealed
 *    events, tables vacuumed and analysed.
 * 2. Verify. Bulk-loads --events events (INSERT … SELECT generate_series as the superuser; the
 *    stamp trigger fires as for any insert), seals them with sealAll (timed), then times
 *    verifyAll (what `palisade audit verify` runs: two withSystem connections, each over half the
 *    workspace ids) in fast mode (hashes and links checked by the server; the target) and in deep
 *    mode (every canonical form sent here and hashed in Node), plus EXPLAIN ANALYZE of the fast
 *    mode's statement on one connection (its plan, and the server's time alone).
 *
 * Other work on this 2-core machine would disturb the figures: before each timed phase this bench
 * waits until no `bench/run.ts rls` process runs and other processes use less than
 * FOREIGN_CPU_LIMIT cores, and repeats a write slice or verify run that such load overlapped.
 * Options for a machine that is never quiet: --quiet-wait S (wait for quiet at most S seconds per
 * phase, 60), --attempts N (runs of a disturbed slice, 3), --seal-budget S (seconds allowed to seal
 * the verify events, 180; fewer events are loaded beyond it).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';
import { PLATFORM_WORKSPACE } from '../src/audit/chain.ts';
import { sealAll } from '../src/audit/seal.ts';
import { AuditSigner, trustedKeys } from '../src/audit/signing.ts';
import { serverCheckSql, verifyAll, type VerifyMode } from '../src/audit/verify.ts';
import { Database, type WorkspaceContext } from '../src/db/database.ts';
import { migrateDriver } from '../src/db/open.ts';
import { ServerDriver } from '../src/db/server.ts';
import { dropDatabase, setupServer } from '../src/db/setup.ts';
import { coreModules } from '../src/modules.ts';
import {
  connectClient,
  formatMs,
  formatRatio,
  formatTable,
  machine,
  now,
  percentile,
  positiveInt,
  runningProcesses,
  timed,
  UsageError,
  withDatabase,
  writeResults,
  benchAdminUrl,
  parseBenchArgs,
} from './lib.ts';


/** audited/unaudited throughput at or above this: capture in the writing transaction is cheap enough. */
const TARGET_AUDITED = 0.85;
/** chained/audited throughput at or above this: the background sealer does not starve the writers. */
const TARGET_CHAINED = 0.7;
/** verifyAll events per second at or above this (fast mode, the best run). */
const TARGET_VERIFY = 500_000;

const CONCURRENCIES = [1, 8] as const;
/** Each cell's --seconds are split in this many slices, the variants' order reversed each slice. */
const SLICES = 4;
/** What `serve` passes to the sealer by default (AUDIT_CHECKPOINT_INTERVAL_MS). */
const CHECKPOINT_AFTER_MS = 60_000;
/**
 * Pause after each sealing round, as startSealer pauses intervalMs. Busier than the 1 s default of
 * AUDIT_SEAL_INTERVAL_MS, so the sealer competes with the writers at least as hard as in `serve`.
 */
const SEAL_INTERVAL_MS = 200;
/** Sealing the bulk-loaded events may take this long at most; fewer events are loaded otherwise. */
const SEAL_BUDGET_MS = 180_000;
let sealBudgetMs = SEAL_BUDGET_MS;
/** Events loaded and sealed first to measure the sealing rate before committing to --events. */
const PILOT_EVENTS = 100_000;
/** Times verifyAll runs over the same events in fast mode; the target is judged on the best run. */
const VERIFY_RUNS = 3;
/** Deep mode is transfer-bound (~1 kB per event): timed once. */
const DEEP_RUNS = 1;
/** Connections verifyAll splits the workspaces over, as `palisade audit verify` on a server. */
const VERIFY_PARTITIONS = 2;
/** A write slice or verify run that other load overlapped is repeated at most this many times. */
const MAX_ATTEMPTS = 3;
let maxAttempts = MAX_ATTEMPTS;
/** The other benchmark that may share the server: waited for before each timed phase. */
const OTHER_BENCH = 'bench/run.ts rls';
/**
 * Other processes (tests, builds) using more than this many cores' worth of CPU during a timed
 * phase disturb it on a 2-core machine: the phase is waited for, and a write slice repeated.
 */
const FOREIGN_CPU_LIMIT = 0.15;
const QUIET_SAMPLE_MS = 1000;
/** Foreign load is waited out at most this long per phase; the bench then goes ahead and says so. */
const FOREIGN_WAIT_CAP_MS = 60_000;
let foreignWaitCapMs = FOREIGN_WAIT_CAP_MS;

// Identifiers below are constants: nothing from the command line reaches SQL text.
type VariantName = 'unaudited' | 'audited' | 'chained';
type Layout = 'one' | 'many';

interface Variant {
  name: VariantName;
  table: string;
  audited: boolean;
  sealer: boolean;
  description: string;
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'unaudited',
    table: 'tenant.bench_audit_plain',
    audited: false,
    sealer: false,
    description: 'enable_tenant_rls only, no audit trigger',
  },
  {
    name: 'audited',
    table: 'tenant.bench_audit_logged',
    audited: true,
    sealer: false,
    description: 'enable_tenant_rls + enable_audit; events stay unsealed during the slice',
  },
  {
    name: 'chained',
    table: 'tenant.bench_audit_chained',
    audited: true,
    sealer: true,
    description: `enable_tenant_rls + enable_audit; sealAll every ${SEAL_INTERVAL_MS} ms in this process throughout`,
  },
];

/** The request every transaction carries: the audit trigger records all of it. */
const ACTOR: Omit<WorkspaceContext, 'workspaceId'> = {
  userId: randomUUID(),
  userEmail: 'bench@example.com',
  userRole: 'member',
  ip: '203.0.113.7',
  userAgent: 'palisade-bench/1 (audit)',
  route: 'POST /api/v1/workspaces/:workspaceId/items',
};

const insertSql = (table: string) => `INSERT INTO ${table} (workspace_id, title, amount) VALUES ($1, $2, $3)`;

interface Options {
  adminUrl: string;
  seconds: number;
  warmupMs: number;
  workspaces: number;
  events: number;
}

function parseOptions(argv: readonly string[]): Options {
  const values = parseBenchArgs(argv, {
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    workspaces: { type: 'string' },
    events: { type: 'string' },
    'quiet-wait': { type: 'string' },
    attempts: { type: 'string' },
    'seal-budget': { type: 'string' },
  });
  const seconds = positiveInt('seconds', values.seconds, 8);
  if (seconds < SLICES) throw new UsageError(`--seconds must be at least ${SLICES} (one per slice)`);
  // For a machine that is never quiet: how long to wait for other load per phase, how often to
  // repeat a disturbed slice, how long sealing the verify events may take (defaults as documented).
  foreignWaitCapMs = values['quiet-wait'] === undefined ? FOREIGN_WAIT_CAP_MS : Number(values['quiet-wait']) * 1000;
  if (!Number.isFinite(foreignWaitCapMs) || foreignWaitCapMs < 0) throw new UsageError('--quiet-wait must be a number of seconds');
  maxAttempts = positiveInt('attempts', values.attempts, MAX_ATTEMPTS);
  sealBudgetMs = positiveInt('seal-budget', values['seal-budget'], SEAL_BUDGET_MS / 1000) * 1000;
  return {
    adminUrl: benchAdminUrl(),
    seconds,
    warmupMs: positiveInt('warmup', values.warmup, 500),
    workspaces: positiveInt('workspaces', values.workspaces, 100),
    events: positiveInt('events', values.events, 1_000_000),
  };
}

const log = (message: string) => {
  console.log(message);
};

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

// ---------------------------------------------------------------------------------------------
// Other work on the machine

/** Pids of other benches matching OTHER_BENCH. */
const otherBenches = (): Promise<number[]> => runningProcesses(OTHER_BENCH);

/** CPU ticks (1/100 s) used so far by each process that is not part of this bench. */
interface CpuSnapshot {
  at: number;
  byPid: Map<number, { ticks: number; name: string }>;
}

/** A PostgreSQL backend's title: `postgres: 15/main: user database host(port) state`. */
const BACKEND_TITLE = /^postgres: [^:]+: \S+ (\S+) (?:\S+\(\d+\)|\[local\])/;

/**
 * Reads /proc (Linux; elsewhere nothing is counted). Not counted: this process and its parent
 * (the tsx launcher), PostgreSQL backends of this bench's database, and PostgreSQL's shared
 * processes (postmaster, WAL writer, checkpointer), which work for every database alike.
 * Everything else, other databases' backends included, is someone else's load.
 */
async function foreignCpu(database: string): Promise<CpuSnapshot> {
  const byPid = new Map<number, { ticks: number; name: string }>();
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return { at: now(), byPid };
  }
  await Promise.all(
    pids.map(async (p) => {
      const pid = Number(p);
      if (pid === process.pid || pid === process.ppid) return;
      try {
        const [stat, cmdline] = await Promise.all([readFile(`/proc/${p}/stat`, 'utf8'), readFile(`/proc/${p}/cmdline`, 'utf8')]);
        const title = cmdline.replaceAll('\0', ' ').trim();
        if (title.startsWith('postgres') || title.includes('/bin/postgres')) {
          const backend = BACKEND_TITLE.exec(title);
          if (backend === null || backend[1] === database) return;
        }
        // Fields after "(comm) ": state ppid … utime stime are the 12th and 13th.
        const close = stat.lastIndexOf(')');
        const fields = stat.slice(close + 2).split(' ');
        const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
        byPid.set(pid, { ticks, name: title === '' ? stat.slice(stat.indexOf('(') + 1, close) : title.slice(0, 60) });
      } catch {
        // The process ended meanwhile.
      }
    }),
  );
  return { at: now(), byPid };
}

/** Cores' worth of foreign CPU between two snapshots, and the busiest foreign process. */
function foreignCores(a: CpuSnapshot, b: CpuSnapshot): { cores: number; top: string } {
  let total = 0;
  let top = { ticks: 0, name: '' };
  for (const [pid, cur] of b.byPid) {
    const used = cur.ticks - (a.byPid.get(pid)?.ticks ?? 0);
    total += used;
    if (used > top.ticks) top = { ticks: used, name: cur.name };
  }
  return { cores: total / 100 / Math.max(0.001, (b.at - a.at) / 1000), top: top.name };
}

/**
 * Waits until no other bench runs (however long) and until other processes use less than
 * FOREIGN_CPU_LIMIT of a core for a second (at most FOREIGN_WAIT_CAP_MS; then goes ahead, and the
 * slice's own check decides). Returns how long it waited (ms).
 */
async function waitForQuiet(database: string, label: string): Promise<number> {
  const start = now();
  let lastLog = -Infinity;
  for (;;) {
    const pids = await otherBenches();
    if (pids.length > 0) {
      if (now() - lastLog > 30_000) {
        log(`  [${label}] waiting: "${OTHER_BENCH}" is running (pid ${pids.join(', ')})`);
        lastLog = now();
      }
      await sleep(2000);
      continue;
    }
    const before = await foreignCpu(database);
    await sleep(QUIET_SAMPLE_MS);
    const load = foreignCores(before, await foreignCpu(database));
    if (load.cores < FOREIGN_CPU_LIMIT || now() - start > foreignWaitCapMs) return now() - start;
    if (now() - lastLog > 30_000) {
      log(`  [${label}] waiting: other processes use ${load.cores.toFixed(2)} cores (busiest: ${load.top})`);
      lastLog = now();
    }
  }
}

/** Why a measurement since `since` is not to be trusted, or null. */
async function disturbance(database: string, since: CpuSnapshot): Promise<string | null> {
  const pids = await otherBenches();
  if (pids.length > 0) return `"${OTHER_BENCH}" started (pid ${pids.join(', ')})`;
  const load = foreignCores(since, await foreignCpu(database));
  return load.cores >= FOREIGN_CPU_LIMIT ? `other processes used ${load.cores.toFixed(2)} cores (busiest: ${load.top})` : null;
}

// ---------------------------------------------------------------------------------------------
// Schema

/** The three tables: one shape, the production tenant policies, a foreign key like every tenant table. */
async function createTables(owner: pg.Client): Promise<void> {
  for (const v of VARIANTS) {
    await owner.query(`
      CREATE TABLE ${v.table} (
        workspace_id uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
        id           uuid NOT NULL DEFAULT gen_random_uuid(),
        created_at   timestamptz NOT NULL DEFAULT now(),
        title        text NOT NULL,
        amount       numeric(12, 2) NOT NULL,
        PRIMARY KEY (workspace_id, id)
      );
      SELECT palisade_private.enable_tenant_rls('${v.table}');
      ${v.audited ? `SELECT palisade_private.enable_audit('${v.table}');` : ''}`);
  }
}

/** Creates the workspaces as the superuser (which bypasses the forced RLS); returns their ids. */
async function createWorkspaces(admin: pg.Client, count: number): Promise<string[]> {
  const { rows } = await admin.query<{ id: string }>(
    `INSERT INTO central.workspaces (slug, name)
     SELECT 'bench-' || g, 'Bench workspace ' || g FROM generate_series(0, $1::int - 1) g
     RETURNING id`,
    [count],
  );
  return rows.map((r) => r.id);
}

/**
 * Between slices. This server may run with autovacuum off (this one does); production would not,
 * and a queue index full of dead entries would slow the sealer for the wrong reason.
 */
async function vacuum(admin: pg.Client): Promise<void> {
  for (const v of VARIANTS) await admin.query(`VACUUM (ANALYZE) ${v.table}`);
  await admin.query('VACUUM (ANALYZE) tenant.audit_events');
  await admin.query('VACUUM (ANALYZE) tenant.audit_checkpoints');
}

// ---------------------------------------------------------------------------------------------
// Writes

interface Drive {
  latencies: number[];
  elapsedMs: number;
}

/**
 * `concurrency` workers, each running one request-shaped transaction after another until the
 * deadline; workspaces are taken in turn from `workspaces`. Returns once every worker has finished
 * its last transaction, so the elapsed time covers all the counted work.
 */
async function drive(db: Database, table: string, workspaces: readonly string[], concurrency: number, ms: number): Promise<Drive> {
  const sql = insertSql(table);
  const latencies: number[] = [];
  let next = 0;
  const started = now();
  const deadline = started + ms;
  const worker = async () => {
    while (now() < deadline) {
      const n = next++;
      const workspaceId = workspaces[n % workspaces.length];
      if (workspaceId === undefined) throw new Error('no workspaces');
      const t0 = now();
      await db.withWorkspace({ workspaceId, ...ACTOR }, (tx) => tx.query(sql, [workspaceId, `Item ${n}`, '1234.56']));
      latencies.push(now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, elapsedMs: now() - started };
}

interface Round {
  start: number;
  end: number;
  /** What the round sealed of the platform trail; the workspaces' share is counted in the table instead. */
  platformSealed: number;
}

interface BackgroundSealer {
  rounds: Round[];
  errors: string[];
  stop(): Promise<void>;
}

/**
 * The server's sealer loop (src/audit/seal.ts startSealer), kept here only to count what each
 * round sealed: sealAll, then a pause, again, on the same Database (and so the same pool) as the
 * writers.
 */
function startSealer(db: Database, signer: AuditSigner): BackgroundSealer {
  const rounds: Round[] = [];
  const errors: string[] = [];
  let stopped = false;
  // Read through a call: the flag changes in stop() while a round awaits, which narrowing cannot see.
  const isStopped = () => stopped;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!isStopped()) {
      const start = now();
      let platformSealed = 0;
      try {
        for (const r of await sealAll(db, signer, { checkpointAfterMs: CHECKPOINT_AFTER_MS })) {
          if (r.workspaceId === PLATFORM_WORKSPACE) platformSealed += r.sealed;
        }
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
      rounds.push({ start, end: now(), platformSealed });
      if (isStopped()) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SEAL_INTERVAL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    rounds,
    errors,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

/** Milliseconds of [from, to] during which a sealing round was running. */
function busyWithin(rounds: readonly Round[], from: number, to: number): number {
  return rounds.reduce((ms, r) => ms + Math.max(0, Math.min(r.end, to) - Math.max(r.start, from)), 0);
}

async function unsealedOf(admin: pg.Client, table: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    'SELECT count(*) AS n FROM tenant.audit_events WHERE seq IS NULL AND table_name = $1',
    [table],
  );
  return Number(rows[0]?.n ?? 0);
}

interface SliceResult {
  transactions: number;
  elapsedMs: number;
  /** Chained only. */
  sealer?: {
    /** Events of this variant's table sealed during the slice: unsealed at start + written − unsealed at end. */
    sealed: number;
    /** The platform trail's own events (withSystem bypass records) sealed by the rounds that overlapped the slice. */
    platformSealed: number;
    rounds: number;
    busyMs: number;
    unsealedAtStart: number;
    unsealedAtEnd: number;
    errors: string[];
  };
  attempts: number;
  waitedMs: number;
  /** Why the kept measurement may be disturbed (after MAX_ATTEMPTS), or null. */
  disturbed: string | null;
}

interface Cell {
  layout: Layout;
  concurrency: number;
  variant: Variant;
  latencies: number[];
  slices: SliceResult[];
}

interface Context {
  db: Database;
  signer: AuditSigner;
  admin: pg.Client;
  options: Options;
  /** The bench's database: its backends are this bench's own load. */
  database: string;
  workspacesOf: Record<Layout, readonly string[]>;
}

/**
 * One slice of one cell. Starts from an empty sealing queue and freshly vacuumed tables, warms up
 * (unmeasured; the chained sealer already runs), then measures. Repeated when another bench or
 * other processes' load overlapped the measured window.
 */
async function runSlice(ctx: Context, cell: Cell, sliceMs: number): Promise<void> {
  const { db, signer, admin, options, database } = ctx;
  const workspaces = ctx.workspacesOf[cell.layout];
  const label = `${cell.layout}/${cell.concurrency}/${cell.variant.name}`;
  let waitedMs = 0;
  for (let attempt = 1; ; attempt++) {
    waitedMs += await waitForQuiet(database, label);
    await sealAll(db, signer, { checkpointAfterMs: CHECKPOINT_AFTER_MS });
    await vacuum(admin);
    const sealer = cell.variant.sealer ? startSealer(db, signer) : null;
    let result: Drive;
    let disturbed: string | null;
    let sealerResult: SliceResult['sealer'];
    try {
      await drive(db, cell.variant.table, workspaces, cell.concurrency, options.warmupMs);
      const unsealedAtStart = sealer === null ? 0 : await unsealedOf(admin, cell.variant.table);
      const cpu = await foreignCpu(database);
      const windowStart = now();
      result = await drive(db, cell.variant.table, workspaces, cell.concurrency, sliceMs);
      const windowEnd = now();
      disturbed = await disturbance(database, cpu);
      if (sealer !== null) {
        const unsealedAtEnd = await unsealedOf(admin, cell.variant.table);
        await sealer.stop();
        const overlapping = sealer.rounds.filter((r) => r.end > windowStart && r.start < windowEnd);
        sealerResult = {
          sealed: unsealedAtStart + result.latencies.length - unsealedAtEnd,
          platformSealed: overlapping.reduce((n, r) => n + r.platformSealed, 0),
          rounds: overlapping.length,
          busyMs: busyWithin(sealer.rounds, windowStart, windowEnd),
          unsealedAtStart,
          unsealedAtEnd,
          errors: sealer.errors,
        };
      }
    } finally {
      await sealer?.stop();
    }
    if (disturbed !== null && attempt < maxAttempts) {
      log(`  ${label}: ${disturbed} during the slice; repeating it`);
      continue;
    }
    if (disturbed !== null) log(`  ${label}: ${disturbed} during the slice; kept after ${attempt} attempts`);
    cell.latencies.push(...result.latencies);
    cell.slices.push({
      transactions: result.latencies.length,
      elapsedMs: result.elapsedMs,
      ...(sealerResult === undefined ? {} : { sealer: sealerResult }),
      attempts: attempt,
      waitedMs,
      disturbed,
    });
    return;
  }
}

async function measureWrites(ctx: Context): Promise<Cell[]> {
  const sliceMs = (ctx.options.seconds * 1000) / SLICES;
  const cells: Cell[] = [];
  for (const layout of ['one', 'many'] as const) {
    for (const concurrency of CONCURRENCIES) {
      const group = VARIANTS.map((variant): Cell => ({ layout, concurrency, variant, latencies: [], slices: [] }));
      cells.push(...group);
      for (let slice = 0; slice < SLICES; slice++) {
        for (const cell of slice % 2 === 0 ? group : [...group].reverse()) await runSlice(ctx, cell, sliceMs);
      }
      const line = group.map((c) => `${c.variant.name} ${throughput(c).toFixed(0)}/s`).join(', ');
      log(`  ${layout.padEnd(4)} × ${String(concurrency).padStart(2)}: ${line}`);
    }
  }
  return cells;
}

/**
 * Transactions per second of a cell: the median of its slices' rates. On a shared 2-core machine
 * one slice can still be hit by a burst the guard did not see; the median shrugs that off, where
 * pooling all slices would carry a quarter of it into the ratios.
 */
function throughput(cell: Cell): number {
  const rates = cell.slices.map((s) => (s.transactions * 1000) / s.elapsedMs).sort((a, b) => a - b);
  return percentile(rates, 50);
}

/** All transactions over all slices' time: the plain figure, kept in the JSON beside the median. */
function pooledThroughput(cell: Cell): number {
  const ms = cell.slices.reduce((t, s) => t + s.elapsedMs, 0);
  return (cell.slices.reduce((n, s) => n + s.transactions, 0) * 1000) / ms;
}

// ---------------------------------------------------------------------------------------------
// Bulk events, sealing, verify

/**
 * `count` events spread round-robin over `workspaces` (interleaved on disk, as events written over
 * time are), each shaped like what the row trigger records for a small insert. Inserted as the
 * superuser, with the actor settings the stamp trigger copies into every row.
 */
async function loadEvents(admin: pg.Client, workspaces: readonly string[], from: number, count: number): Promise<void> {
  await admin.query('BEGIN');
  try {
    await admin.query(
      `SELECT set_config('palisade.user_id', $1, true), set_config('palisade.user_email', $2, true),
              set_config('palisade.user_role', $3, true), set_config('palisade.ip', $4, true),
              set_config('palisade.user_agent', $5, true), set_config('palisade.route', $6, true)`,
      [ACTOR.userId, ACTOR.userEmail, ACTOR.userRole, ACTOR.ip, ACTOR.userAgent, ACTOR.route],
    );
    await admin.query(
      `INSERT INTO tenant.audit_events (workspace_id, event_type, action, table_name, record_id, new_values)
       SELECT s.ws, 'data.created', 'CREATE', 'tenant.bench_items', s.rid::text,
              jsonb_build_object('workspace_id', s.ws, 'id', s.rid, 'created_at', clock_timestamp(),
                                 'title', 'Item ' || s.g, 'amount', ((s.g * 7919) % 100000) / 100.0)
         FROM (SELECT g, ($1::uuid[])[(g % cardinality($1::uuid[]))::int + 1] AS ws, gen_random_uuid() AS rid
                 FROM generate_series($2::bigint, $3::bigint) g) s`,
      [workspaces, from, from + count - 1],
    );
    await admin.query('COMMIT');
  } catch (error) {
    await admin.query('ROLLBACK');
    throw error;
  }
}

/** Seals everything pending, as the server's sealer would; returns the events sealed. */
async function sealEverything(db: Database, signer: AuditSigner): Promise<number> {
  const results = await sealAll(db, signer, { checkpointAfterMs: CHECKPOINT_AFTER_MS });
  return results.reduce((n, r) => n + r.sealed, 0);
}

interface Breakdown {
  /** EXPLAIN ANALYZE of the fast mode's statement over every workspace, on one connection. */
  serverMs: number;
  rows: number;
  plan: string[];
}

/**
 * The fast mode's statement as the server runs it for the whole table on one connection (no
 * transfer: one summary row per workspace): its plan shows the table's sequential scan (hashes)
 * and the chain index's index-only scan (links).
 */
async function verifyBreakdown(admin: pg.Client): Promise<Breakdown> {
  await admin.query('BEGIN');
  try {
    await admin.query('SET LOCAL jit = off');
    const { rows } = await admin.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, BUFFERS) ${serverCheckSql(() => 'true', 0)}`,
      ['{}', '{}'],
    );
    const plan = rows.map((r) => r['QUERY PLAN']);
    const line = plan.find((l) => l.startsWith('Execution Time'));
    const counted = await admin.query<{ n: string }>('SELECT count(*) AS n FROM tenant.audit_events WHERE seq IS NOT NULL');
    return { serverMs: Number(/([\d.]+) ms/.exec(line ?? '')?.[1] ?? Number.NaN), rows: Number(counted.rows[0]?.n ?? 0), plan };
  } finally {
    await admin.query('ROLLBACK');
  }
}

interface VerifyPhase {
  requested: number;
  loaded: number;
  capped: boolean;
  loadMs: number;
  seal: { events: number; ms: number };
  sealRate: number;
  pilotSealRate: number;
  vacuumMs: number;
  tableSize: string;
  runs: { mode: VerifyMode; ms: number; eventsChecked: number; workspaces: number; ok: boolean; rate: number; waitedMs: number; disturbed: string | null }[];
  breakdown: Breakdown;
  problems: string[];
  /** Steps that other load overlapped, with the reason. */
  disturbed: string[];
}

/**
 * Runs one timed step once the machine is quiet; repeats it (up to `attempts` times) while
 * another bench or other processes' load overlapped it. Only repeatable steps pass attempts > 1.
 */
async function guarded<T>(
  database: string,
  label: string,
  attempts: number,
  fn: () => Promise<T>,
): Promise<{ ms: number; value: T; waitedMs: number; disturbed: string | null }> {
  let waitedMs = 0;
  for (let attempt = 1; ; attempt++) {
    waitedMs += await waitForQuiet(database, label);
    const cpu = await foreignCpu(database);
    const { ms, value } = await timed(fn);
    const disturbed = await disturbance(database, cpu);
    if (disturbed !== null && attempt < attempts) {
      log(`  [${label}] ${disturbed}; repeating`);
      continue;
    }
    if (disturbed !== null) log(`  [${label}] ${disturbed}; figure kept, marked disturbed`);
    return { ms, value, waitedMs, disturbed };
  }
}

async function measureVerify(ctx: Context): Promise<VerifyPhase> {
  const { db, signer, admin, options, database } = ctx;
  const workspaces = ctx.workspacesOf.many;
  const disturbed: string[] = [];
  const note = (step: string, reason: string | null) => {
    if (reason !== null) disturbed.push(`${step}: ${reason}`);
  };
  // Whatever the write phase left unsealed is sealed first, so the timed sealing is only the bulk.
  await sealAll(db, signer, { checkpointAfterMs: CHECKPOINT_AFTER_MS });

  // A pilot measures the sealing rate; the rest is loaded only if it can be sealed in budget.
  const pilot = Math.min(PILOT_EVENTS, options.events);
  const load1 = await guarded(database, 'load', 1, () => loadEvents(admin, workspaces, 0, pilot));
  note('load', load1.disturbed);
  log(`  loaded ${pilot} events in ${(load1.ms / 1000).toFixed(1)} s (${rate(pilot, load1.ms)} events/s)`);
  await vacuum(admin);
  const seal1 = await guarded(database, 'seal', 1, () => sealEverything(db, signer));
  note('seal', seal1.disturbed);
  const pilotSealRate = (seal1.value * 1000) / seal1.ms;
  log(`  sealed ${seal1.value} events in ${(seal1.ms / 1000).toFixed(1)} s (${pilotSealRate.toFixed(0)} events/s)`);

  let rest = options.events - pilot;
  const fits = Math.floor(((sealBudgetMs - seal1.ms) * pilotSealRate) / 1000);
  const capped = rest > fits;
  if (capped) {
    const wanted = rest;
    rest = Math.max(0, fits);
    log(
      `  sealing ${options.events} events would take ~${(options.events / pilotSealRate).toFixed(0)} s at ` +
        `${pilotSealRate.toFixed(0)} events/s, over the ${sealBudgetMs / 1000} s budget: ` +
        `loading ${pilot + rest} events instead of ${pilot + wanted}`,
    );
  }
  let loadMs = load1.ms;
  let seal = { events: seal1.value, ms: seal1.ms };
  if (rest > 0) {
    const load2 = await guarded(database, 'load', 1, () => loadEvents(admin, workspaces, pilot, rest));
    note('load', load2.disturbed);
    loadMs += load2.ms;
    log(`  loaded ${rest} more events in ${(load2.ms / 1000).toFixed(1)} s (${rate(rest, load2.ms)} events/s)`);
    await vacuum(admin);
    const seal2 = await guarded(database, 'seal', 1, () => sealEverything(db, signer));
    note('seal', seal2.disturbed);
    log(`  sealed ${seal2.value} events in ${(seal2.ms / 1000).toFixed(1)} s (${rate(seal2.value, seal2.ms)} events/s)`);
    seal = { events: seal.events + seal2.value, ms: seal.ms + seal2.ms };
  }
  // Sealing rewrote every row once; a live table would have been vacuumed since.
  const vacuumed = await timed(() => vacuum(admin));
  const size = await admin.query<{ size: string }>(
    "SELECT pg_size_pretty(pg_total_relation_size('tenant.audit_events')) AS size",
  );

  const keys = trustedKeys(signer.publicKey);
  const runs: VerifyPhase['runs'] = [];
  let problems: string[] = [];
  const plan: VerifyMode[] = [...Array.from({ length: VERIFY_RUNS }, (): VerifyMode => 'fast'), ...Array.from({ length: DEEP_RUNS }, (): VerifyMode => 'deep')];
  for (const [i, mode] of plan.entries()) {
    const { ms, value: report, waitedMs, disturbed: why } = await guarded(database, `verify ${mode}`, maxAttempts, () =>
      verifyAll(db, { keys, mode, partitions: VERIFY_PARTITIONS }),
    );
    note(`verify run ${i + 1} (${mode})`, why);
    runs.push({
      mode,
      ms,
      eventsChecked: report.eventsChecked,
      workspaces: report.workspaces.length,
      ok: report.ok,
      rate: (report.eventsChecked * 1000) / ms,
      waitedMs,
      disturbed: why,
    });
    problems = [...problems, ...report.workspaces.flatMap((w) => w.problems.map((p) => `${mode} ${w.workspaceId}: ${p}`))];
    log(
      `  verify run ${i + 1} (${mode}): ${report.eventsChecked} events in ${(ms / 1000).toFixed(2)} s ` +
        `(${rate(report.eventsChecked, ms)} events/s), ${report.ok ? 'ok' : 'BROKEN'}`,
    );
  }
  const breakdown = await guarded(database, 'breakdown', maxAttempts, () => verifyBreakdown(admin));
  note('breakdown', breakdown.disturbed);
  return {
    requested: options.events,
    loaded: pilot + rest,
    capped,
    loadMs,
    seal,
    sealRate: (seal.events * 1000) / seal.ms,
    pilotSealRate,
    vacuumMs: vacuumed.ms,
    tableSize: size.rows[0]?.size ?? '?',
    runs,
    breakdown: breakdown.value,
    problems,
    disturbed,
  };
}

const rate = (n: number, ms: number) => ((n * 1000) / ms).toFixed(0);

// ---------------------------------------------------------------------------------------------

export async function run(argv: readonly string[]): Promise<void> {
  const options = parseOptions(argv);
  const database = `palisade_bench_audit_${randomBytes(4).toString('hex')}`;
  const clients: pg.Client[] = [];
  let db: Database | undefined;

  // One drop, whoever asks first: the normal end, a failure, or ctrl-c.
  let dropping: Promise<void> | undefined;
  const drop = (): Promise<void> =>
    (dropping ??= dropDatabase(options.adminUrl, database).catch((error: unknown) => {
      console.error(`could not drop database ${database}: ${String(error)}`);
    }));
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: dropping database ${database}`);
    // The drop terminates this bench's pool connections, some of them mid-query, and pg emits
    // that on clients with no listener: expected now, and no reason to die before the drop ends.
    process.on('uncaughtException', (error) => {
      if ((error as { code?: unknown }).code === '57P01') return;
      console.error(error);
      process.exit(1);
    });
    // WITH (FORCE) ends our own sessions too; exit without waiting for the interrupted work.
    void drop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = now();
  try {
    log(
      `audit bench: ${options.seconds} s per cell after ${options.warmupMs} ms warm-up per slice, ` +
        `${options.workspaces} workspaces, ${options.events} events to verify, database ${database}`,
    );
    const setup = await timed(async () => {
      const urls = await setupServer({ adminUrl: options.adminUrl, database });
      const driver = new ServerDriver({ url: urls.appUrl, ownerUrl: urls.ownerUrl, max: 1 });
      try {
        await migrateDriver(driver, coreModules);
      } finally {
        await driver.close();
      }
      return urls;
    });
    log(`  setup and migrations ${(setup.ms / 1000).toFixed(1)} s`);
    const admin = await connectClient(withDatabase(options.adminUrl, database));
    clients.push(admin);
    const owner = await connectClient(setup.value.ownerUrl);
    clients.push(owner);
    await createTables(owner);
    const ids = await createWorkspaces(admin, options.workspaces + 1);
    const [single, ...many] = ids;
    if (single === undefined) throw new Error('no workspace');
    const server = await admin.query<Record<string, string>>(
      `SELECT version(), current_setting('shared_buffers') AS shared_buffers, current_setting('synchronous_commit') AS synchronous_commit,
              current_setting('fsync') AS fsync, current_setting('autovacuum') AS autovacuum, current_setting('jit') AS jit,
              current_setting('work_mem') AS work_mem, current_setting('max_wal_size') AS max_wal_size`,
    );

    // The app's pool: every writer gets a connection, and the sealer one more, as in `serve`.
    const driver = new ServerDriver({ url: setup.value.appUrl, ownerUrl: setup.value.ownerUrl, max: Math.max(...CONCURRENCIES) + 4 });
    db = await Database.open(driver);
    const signer = AuditSigner.generate();
    const ctx: Context = { db, signer, admin, options, database, workspacesOf: { one: [single], many } };

    log('\nwrites');
    const writeStart = now();
    const cells = await measureWrites(ctx);
    const writeMs = now() - writeStart;

    log('\nverify');
    const verifyStart = now();
    const verify = await measureVerify(ctx);
    const verifyMs = now() - verifyStart;

    const report = printReport(cells, verify, options);
    const file = await writeResults('audit', {
      bench: 'audit',
      finishedAt: new Date().toISOString(),
      machine: machine(),
      postgres: server.rows[0],
      options: {
        secondsPerCell: options.seconds,
        slicesPerCell: SLICES,
        warmupMsPerSlice: options.warmupMs,
        workspaces: options.workspaces,
        eventsRequested: options.events,
        concurrencies: CONCURRENCIES,
        sealIntervalMs: SEAL_INTERVAL_MS,
        checkpointAfterMs: CHECKPOINT_AFTER_MS,
        poolSize: Math.max(...CONCURRENCIES) + 4,
        foreignCpuLimitCores: FOREIGN_CPU_LIMIT,
        maxAttemptsPerSlice: maxAttempts,
        foreignWaitCapSeconds: foreignWaitCapMs / 1000,
      },
      variants: Object.fromEntries(VARIANTS.map((v) => [v.name, { table: v.table, description: v.description, sql: insertSql(v.table) }])),
      writes: report.writes,
      verify: {
        eventsRequested: verify.requested,
        eventsLoaded: verify.loaded,
        cappedBySealBudget: verify.capped,
        sealBudgetSeconds: sealBudgetMs / 1000,
        loadSeconds: round(verify.loadMs / 1000),
        seal: {
          events: verify.seal.events,
          seconds: round(verify.seal.ms / 1000),
          eventsPerSecond: Math.round(verify.sealRate),
          pilotEventsPerSecond: Math.round(verify.pilotSealRate),
        },
        vacuumSeconds: round(verify.vacuumMs / 1000),
        auditEventsTableSize: verify.tableSize,
        runs: verify.runs.map((r) => ({ ...r, ms: Math.round(r.ms), rate: Math.round(r.rate) })),
        partitions: VERIFY_PARTITIONS,
        breakdown: {
          fastStatementOneConnectionSeconds: round(verify.breakdown.serverMs / 1000),
          rows: verify.breakdown.rows,
          plan: verify.breakdown.plan,
        },
        problems: verify.problems.slice(0, 20),
        disturbed: verify.disturbed,
      },
      targets: report.targets,
      timingsSeconds: {
        setup: round(setup.ms / 1000),
        writes: round(writeMs / 1000),
        verify: round(verifyMs / 1000),
        total: round((now() - started) / 1000),
      },
    });
    log(`\nfigures written to ${file}`);
    log(`total ${((now() - started) / 1000).toFixed(0)} s`);
    if (!report.verifyOk) {
      console.error('FAIL: verifyAudit reported problems on an untouched trail');
      for (const p of verify.problems.slice(0, 10)) console.error(`  ${p}`);
      process.exitCode = 1;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await db?.close().catch(() => undefined);
    for (const client of clients) await client.end().catch(() => undefined);
    await drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

interface WriteRow {
  layout: Layout;
  concurrency: number;
  variant: VariantName;
  transactions: number;
  seconds: number;
  /** Median of the slices' rates; the ratios use it. */
  txPerSecond: number;
  txPerSecondPooled: number;
  latencyMs: { p50: number; p99: number; mean: number; max: number };
  ratioToUnaudited: number;
  ratioToAudited: number;
  sealer?: {
    sealedPerSecond: number;
    busyFraction: number;
    rounds: number;
    platformEventsSealed: number;
    unsealedAtSliceEnd: number[];
    errors: string[];
  };
  slices: { transactions: number; seconds: number; txPerSecond: number; attempts: number; waitedSeconds: number; disturbed: string | null }[];
}

interface Target {
  name: string;
  target: string;
  value: number | boolean;
  met: boolean;
}

function printReport(
  cells: readonly Cell[],
  verify: VerifyPhase,
  options: Options,
): { writes: WriteRow[]; targets: Target[]; verifyOk: boolean } {
  const find = (c: Cell, name: VariantName) => cells.find((x) => x.layout === c.layout && x.concurrency === c.concurrency && x.variant.name === name);
  const writes: WriteRow[] = cells.map((c) => {
    const sorted = [...c.latencies].sort((a, b) => a - b);
    const seconds = c.slices.reduce((t, s) => t + s.elapsedMs, 0) / 1000;
    const base = find(c, 'unaudited');
    const audited = find(c, 'audited');
    const sealerSlices = c.slices.flatMap((s) => (s.sealer === undefined ? [] : [s.sealer]));
    const row: WriteRow = {
      layout: c.layout,
      concurrency: c.concurrency,
      variant: c.variant.name,
      transactions: sorted.length,
      seconds: round(seconds),
      txPerSecond: round(throughput(c), 1),
      txPerSecondPooled: round(pooledThroughput(c), 1),
      latencyMs: {
        p50: round(percentile(sorted, 50), 4),
        p99: round(percentile(sorted, 99), 4),
        mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 4),
        max: round(sorted[sorted.length - 1] ?? Number.NaN, 4),
      },
      ratioToUnaudited: base === undefined ? Number.NaN : round(throughput(c) / throughput(base)),
      ratioToAudited: audited === undefined ? Number.NaN : round(throughput(c) / throughput(audited)),
      slices: c.slices.map((s) => ({
        transactions: s.transactions,
        seconds: round(s.elapsedMs / 1000),
        txPerSecond: round((s.transactions * 1000) / s.elapsedMs, 1),
        attempts: s.attempts,
        waitedSeconds: round(s.waitedMs / 1000, 1),
        disturbed: s.disturbed,
      })),
    };
    if (sealerSlices.length > 0) {
      row.sealer = {
        sealedPerSecond: round(sealerSlices.reduce((n, s) => n + s.sealed, 0) / seconds, 1),
        busyFraction: round(sealerSlices.reduce((t, s) => t + s.busyMs, 0) / (seconds * 1000)),
        rounds: sealerSlices.reduce((n, s) => n + s.rounds, 0),
        platformEventsSealed: sealerSlices.reduce((n, s) => n + s.platformSealed, 0),
        unsealedAtSliceEnd: sealerSlices.map((s) => s.unsealedAtEnd),
        errors: sealerSlices.flatMap((s) => s.errors),
      };
    }
    return row;
  });

  log(`\nwrites: one INSERT per db.withWorkspace transaction (BEGIN, set_context, INSERT, COMMIT), palisade_app pool`);
  log(
    `${options.seconds} s per cell in ${SLICES} alternating slices; tx/s is the median slice's rate; ` +
      `"one" = 1 workspace, "many" = ${options.workspaces} in turn`,
  );
  for (const v of VARIANTS) log(`  ${v.name.padEnd(9)} ${v.table}: ${v.description}`);
  log(
    formatTable(
      [
        { header: 'layout', align: 'left' },
        { header: 'conc' },
        { header: 'variant', align: 'left' },
        { header: 'tx' },
        { header: 'tx/s' },
        { header: 'p50 ms' },
        { header: 'p99 ms' },
        { header: '×unaud' },
        { header: '×audited' },
        { header: 'sealed/s' },
        { header: 'sealer busy' },
        { header: 'unsealed at end' },
      ],
      writes.map((w) => [
        w.layout,
        String(w.concurrency),
        w.slices.some((x) => x.disturbed !== null) ? `${w.variant} *` : w.variant,
        String(w.transactions),
        w.txPerSecond.toFixed(0),
        formatMs(w.latencyMs.p50),
        formatMs(w.latencyMs.p99),
        formatRatio(w.ratioToUnaudited),
        w.variant === 'unaudited' ? '' : formatRatio(w.ratioToAudited),
        w.sealer === undefined ? '' : w.sealer.sealedPerSecond.toFixed(0),
        w.sealer === undefined ? '' : `${(w.sealer.busyFraction * 100).toFixed(0)} %`,
        w.sealer === undefined ? '' : w.sealer.unsealedAtSliceEnd.join(' / '),
      ]),
    ),
  );
  if (writes.some((w) => w.slices.some((x) => x.disturbed !== null))) {
    log(`* a slice of this cell stayed disturbed by other load after ${maxAttempts} attempts (see the JSON)`);
  }
  const sealerErrors = writes.flatMap((w) => w.sealer?.errors ?? []);
  if (sealerErrors.length > 0) log(`sealer errors: ${sealerErrors.length}, first: ${sealerErrors[0] ?? ''}`);
  const platform = writes.reduce((n, w) => n + (w.sealer?.platformEventsSealed ?? 0), 0);
  log(`platform-trail events (withSystem bypass records) sealed alongside by the chained sealer: ${platform}`);

  const targets: Target[] = [];
  const ratioRows: string[][] = [];
  for (const w of writes.filter((x) => x.variant === 'audited')) {
    const chained = writes.find((x) => x.layout === w.layout && x.concurrency === w.concurrency && x.variant === 'chained');
    const a = w.ratioToUnaudited;
    const c = chained?.ratioToAudited ?? Number.NaN;
    const cell = `${w.layout}/${w.concurrency}`;
    targets.push({ name: `audited/unaudited ${cell}`, target: `≥ ${TARGET_AUDITED}`, value: a, met: a >= TARGET_AUDITED });
    targets.push({ name: `chained/audited ${cell}`, target: `≥ ${TARGET_CHAINED}`, value: c, met: c >= TARGET_CHAINED });
    ratioRows.push([
      w.layout,
      String(w.concurrency),
      `${formatRatio(a)} ${a >= TARGET_AUDITED ? 'ok' : 'MISSED'}`,
      `${formatRatio(c)} ${c >= TARGET_CHAINED ? 'ok' : 'MISSED'}`,
    ]);
  }
  log('\nthroughput ratios, same run:');
  log(
    formatTable(
      [
        { header: 'layout', align: 'left' },
        { header: 'conc' },
        { header: `audited/unaudited (≥ ${TARGET_AUDITED})`, align: 'left' },
        { header: `chained/audited (≥ ${TARGET_CHAINED})`, align: 'left' },
      ],
      ratioRows,
    ),
  );

  const bestOf = (mode: VerifyMode) => verify.runs.filter((r) => r.mode === mode).reduce((b, r) => (r.rate > b ? r.rate : b), 0);
  const best = bestOf('fast');
  const verifyOk = verify.runs.every((r) => r.ok);
  targets.push({ name: 'verify events/s, fast mode (best run)', target: `≥ ${TARGET_VERIFY}`, value: Math.round(best), met: best >= TARGET_VERIFY });
  targets.push({ name: 'verify report ok (both modes)', target: 'ok', value: verifyOk, met: verifyOk });
  const b = verify.breakdown;
  log(`\nverify: ${verify.loaded} bulk-loaded events over ${options.workspaces} workspaces${verify.capped ? ` (CAPPED from ${verify.requested}: sealing budget ${sealBudgetMs / 1000} s)` : ''}, audit_events ${verify.tableSize}`);
  log(
    formatTable(
      [{ header: 'step', align: 'left' }, { header: 'events' }, { header: 'seconds' }, { header: 'events/s' }, { header: '', align: 'left' }],
      [
        ['bulk load (INSERT … SELECT, stamp trigger)', String(verify.loaded), (verify.loadMs / 1000).toFixed(1), rate(verify.loaded, verify.loadMs), ''],
        [
          'seal (sealAll, batches of 2000)',
          String(verify.seal.events),
          (verify.seal.ms / 1000).toFixed(1),
          verify.sealRate.toFixed(0),
          `pilot ${verify.pilotSealRate.toFixed(0)}/s`,
        ],
        ...verify.runs.map((r, i) => [
          `verifyAll run ${i + 1}, ${r.mode} (${VERIFY_PARTITIONS} connections)`,
          String(r.eventsChecked),
          (r.ms / 1000).toFixed(2),
          r.rate.toFixed(0),
          `${r.ok ? 'ok' : 'BROKEN'}${r.disturbed === null ? '' : ', disturbed'}`,
        ]),
        ['fast statement on 1 connection (server only)', String(b.rows), (b.serverMs / 1000).toFixed(2), rate(b.rows, b.serverMs), 'EXPLAIN ANALYZE'],
      ],
    ),
  );
  for (const d of verify.disturbed) log(`disturbed: ${d}`);
  log(`fast plan: ${b.plan.filter((l) => /Scan|Sort|Execution Time/.test(l)).map((l) => l.trim()).join(' | ')}`);
  log(`deep mode (best run): ${bestOf('deep').toFixed(0)} events/s`);

  log('\ntargets:');
  log(
    formatTable(
      [{ header: 'target', align: 'left' }, { header: 'wanted', align: 'left' }, { header: 'measured' }, { header: '', align: 'left' }],
      targets.map((t) => [
        t.name,
        t.target,
        typeof t.value === 'boolean' ? (t.value ? 'ok' : 'BROKEN') : t.value >= 100 ? String(t.value) : formatRatio(t.value),
        t.met ? 'pass' : 'FAIL',
      ]),
    ),
  );
  return { writes, targets, verifyOk };
}
