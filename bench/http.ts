/**
 * `npm run bench -- http`: what Palisade's request path costs over HTTP, end to end.
 *
 * Two servers in this process, listening on 127.0.0.1 (random ports), loaded one after the other
 * by autocannon running in a child process (so the load generator does not share the servers'
 * event loop), with the same settings for every row:
 *   (a) bare read     plain Fastify (no logger, no plugins, no schemas) and a pg.Pool connected as
 *                     the superuser: one single-row SELECT by primary key, autocommit
 *   (b) Palisade read createApp() with the core modules plus a bench module whose route requires
 *                     `bench.read`: session cookie → app.guard.workspace → db.withRequest (BEGIN and
 *                     palisade.begin_request in one pipelined write: session, user, membership,
 *                     revocation cut-offs, access version, context) → the member's permission set
 *                     (cached) → the same SELECT under RLS → COMMIT
 *   (c) bare insert   the same plain Fastify: one single-row INSERT … RETURNING id, autocommit
 *   (d) Palisade insert  POST with cookie and X-CSRF-Token: CSRF and Origin check, app.guard.workspace
 *                     (`bench.write`), INSERT under RLS (WITH CHECK), the audit trigger writing its
 *                     event, COMMIT
 *   (m) reference     GET /api/v1/workspaces/:id/members, identity's own authenticated read
 * and, unless --no-breakdown, rows that add Palisade's layers one at a time, to show where the
 * difference goes (same settings):
 *   a+tx   bare Fastify, BEGIN; SELECT; COMMIT on the superuser pool
 *   a+ctx  bare Fastify, db.withWorkspace (palisade_app, set_context) and the SELECT under RLS
 *   a+req  bare Fastify, db.withRequest (begin_request) and the SELECT under RLS: (b) without
 *          Palisade's HTTP stack
 *   stack  Palisade's HTTP stack (createApp, the bench module's hooks and schemas) in front of
 *          the bare single SELECT
 *   c+rls  bare Fastify, db.withRequest and the INSERT into a tenant table without audit trigger
 *   c+aud  bare Fastify, db.withRequest and the INSERT into the audited table: (d) without the
 *          HTTP stack
 * Both pools have the same size. Every request carries the same cookie and headers whichever
 * server it goes to, so the client's work is the same; rows are spread over several workspaces,
 * each with its own signed-in member.
 *
 * Then sign-in throughput (POST /api/v1/auth/sign-in, argon2id at the configured defaults
 * m=19456 KiB, t=2, p=1) next to raw argon2id verifies per second in this process with as many in
 * flight as libuv has threads. Sign-in is rate-limited per client IP (20/min); autocannon cannot
 * choose its source address, so that app is built with TRUST_PROXY=true and every request carries
 * its own X-Forwarded-For.
 *
 * For each row: req/s, p50 and p99 latency, the time the handler spent in its database call, and
 * CPU per request of the server process, of this database's PostgreSQL backends and of the load
 * generator (from /proc, Linux), which on a small machine is where the throughput goes.
 *
 * Other work on the machine would disturb the figures: before each timed phase this one waits
 * until no `bench/run.ts rls|audit` runs and other processes leave the CPUs idle, and repeats (at
 * most twice) a phase during which another bench started or other processes used 0.2 cores or more;
 * a phase still disturbed after that is marked DISTURBED and does not count as meeting a target.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import pg from 'pg';
import { z } from 'zod';
import { createApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { type Database, type RequestCredentials } from '../src/db/database.ts';
import { openDatabase } from '../src/db/open.ts';
import { dropDatabase, setupServer } from '../src/db/setup.ts';
import { httpErrors } from '../src/http/errors.ts';
import { identityOptions } from '../src/identity/index.ts';
import { createPasswordHasher, type PasswordHasher } from '../src/identity/passwords.ts';
import type { IdentityOptions } from '../src/identity/service.ts';
import { hashToken } from '../src/identity/tokens.ts';
import { errorsOf } from '../src/kernel/errors.ts';
import { defineModule, type ModuleDefinition } from '../src/kernel/module.ts';
import { definePermissions } from '../src/access/catalog.ts';
import { coreModules } from '../src/modules.ts';
import {
  connectClient,
  formatMs,
  formatRatio,
  formatTable,
  machine,
  now,
  positiveInt,
  runningProcesses,
  sleep,
  timed,
  waitUntilNoneRunning,
  withDatabase,
  writeResults,
  benchAdminUrl,
  parseBenchArgs,
  summarize,
  type Stats,
} from './lib.ts';

/** Palisade read / bare read throughput at or above this (the issue's target). */
const TARGET_READ = 0.7;
/** Palisade insert / bare insert throughput at or above this. */
const TARGET_WRITE = 0.6;
/** Benches that may share this machine and server; waited for before each timed phase. */
const OTHER_BENCHES = 'bench/run.ts (rls|audit)';
/** A phase during which another bench started is measured again, at most this many times in all. */
const MAX_ATTEMPTS = 3;
/** Set in the environment of the child process that runs autocannon. */
const LOADGEN_ENV = 'PALISADE_BENCH_HTTP_LOADGEN';
/** Workspaces, each with one signed-in member whose session reads and writes its rows. */
const WORKSPACES = 10;
const ROWS_PER_WORKSPACE = 100;
/**
 * Accounts signed in to in turn. sign-in locks the account row FOR UPDATE for the whole attempt
 * (lockout counting), so attempts on one account queue behind each other; with many more accounts
 * than connections no two requests in flight share one, as with real users.
 */
const SIGN_IN_ACCOUNTS = 64;
const PASSWORD = 'Correct-Horse-Battery-9';
/**
 * Other processes on the machine (another session's compiler, tests) using more than this many
 * cores before a phase delay it, and during a phase repeat it: on 2 cores they would take a visible
 * share of the CPU that every row here is bound by.
 */
const FOREIGN_CORES_LIMIT = 0.2;
const QUIET_SAMPLE_MS = 500;
/** Waiting for a quiet machine stops after this long; the phase's own check then decides. */
const QUIET_WAIT_CAP_MS = 60_000;
/** Linux USER_HZ: /proc reports CPU time in 1/100 s on every architecture Node supports. */
const TICKS_PER_SECOND = 100;

// Identifiers below are constants: nothing from the command line reaches SQL text.
const PALISADE_TABLE = 'tenant.bench_items';
/** Same columns, keys and foreign key; no RLS, no audit trigger; owned by the superuser. */
const BARE_TABLE = 'public.bench_items_bare';
/** The production tenant policies, no audit trigger (breakdown rows only). */
const RLS_TABLE = 'tenant.bench_items_rls';
const ITEM_COLUMNS = 'id, title, amount, created_at AS "createdAt"';
const READ_PALISADE_SQL = `SELECT ${ITEM_COLUMNS} FROM ${PALISADE_TABLE} WHERE id = $1`;
const READ_BARE_SQL = `SELECT ${ITEM_COLUMNS} FROM ${BARE_TABLE} WHERE workspace_id = $1 AND id = $2`;
const insertSql = (table: string) => `INSERT INTO ${table} (workspace_id, title, amount) VALUES ($1, $2, $3) RETURNING id`;
const WRITE_BODY = JSON.stringify({ title: 'Bench item', amount: 1234.56 });
/** The session cookie as an app without @fastify/cookie finds it (plain HTTP: no __Host- prefix). */
const SESSION_COOKIE = /(?:^|;\s*)palisade_session=([A-Za-z0-9_-]{43})(?:;|$)/;

interface Options {
  adminUrl: string;
  seconds: number;
  warmup: number;
  connections: number;
  pool: number;
  breakdown: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const values = parseBenchArgs(argv, {
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    pool: { type: 'string' },
    'no-breakdown': { type: 'boolean' },
  });
  return {
    adminUrl: benchAdminUrl(),
    seconds: positiveInt('seconds', values.seconds, 10),
    warmup: positiveInt('warmup', values.warmup, 2),
    connections: positiveInt('connections', values.connections, 10),
    pool: positiveInt('pool', values.pool, 10),
    breakdown: values['no-breakdown'] !== true,
  };
}

const log = (message: string) => {
  console.log(message);
};

// ---------------------------------------------------------------------------------------------
// Load generator: a child process (this file again, with LOADGEN_ENV set) running autocannon

/** One request as the client sends it; the load generator takes them in turn. */
interface RequestTemplate {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface LoadSpec {
  url: string;
  connections: number;
  seconds: number;
  templates: readonly RequestTemplate[];
  /** Adds a distinct X-Forwarded-For to every request (sign-in behind TRUST_PROXY). */
  forwardedFor: boolean;
}

/** Latency figures of a row: the shared summary (n, p50, p95, p99, mean, min, max). */
type LatencySummary = Stats;

interface LoadResult {
  seconds: number;
  responses: number;
  ok: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Of 2xx responses, ms. */
  latency: LatencySummary;
  /** CPU the load generator used during the run, µs. */
  cpuUs: number;
}

interface LoadRequest {
  id: number;
  spec: LoadSpec;
}

type LoadReply = { id: number; result: LoadResult } | { id: number; error: string };

/** An address from 198.18.0.0/15 (RFC 2544, benchmarking): never a real client. */
function benchIp(n: number): string {
  const k = n % 2 ** 17;
  return `198.${18 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;
}


/**
 * Runs autocannon once. Latencies come from its per-response event (hrtime, fractional ms): its
 * own histogram keeps whole milliseconds, too coarse for responses of one or two.
 */
async function generateLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  // One counter for all connections: consecutive requests go to different rows and sessions.
  const setupRequest = (request: autocannon.Request): autocannon.Request => {
    const n = next++;
    const t = spec.templates[n % spec.templates.length];
    if (t === undefined) throw new Error('no request templates');
    const headers = spec.forwardedFor ? { ...t.headers, 'x-forwarded-for': benchIp(n) } : t.headers;
    return { ...request, method: t.method, path: t.path, headers, ...(t.body === undefined ? {} : { body: t.body }) };
  };
  const cpuBefore = process.cpuUsage();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: spec.url, connections: spec.connections, duration: spec.seconds, timeout: 30, requests: [{ setupRequest }] },
      (error: unknown, res) => {
        if (error !== null && error !== undefined) reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
        else resolve(res);
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const cpu = process.cpuUsage(cpuBefore);
  const responses = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    seconds: result.duration,
    responses,
    ok: latencies.length,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    latency: summarize(latencies),
    cpuUs: cpu.user + cpu.system,
  };
}

/** The child's side: one run per message, answered with its result. */
function serveLoadRequests(): void {
  // The parent went away (ended or crashed): nothing left to do.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: unknown) => {
    const { id, spec } = message as LoadRequest;
    const reply = (r: LoadReply) => process.send?.(r);
    generateLoad(spec).then(
      (result) => reply({ id, result }),
      (error: unknown) => reply({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}

/** The parent's handle on the load generator process. */
class LoadGenerator {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  #next = 0;

  constructor() {
    // execArgv is inherited, so the child runs under the same tsx loader as this process.
    this.#child = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, [LOADGEN_ENV]: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message: unknown) => {
      const reply = message as LoadReply;
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if ('result' in reply) pending.resolve(reply.result);
      else pending.reject(new Error(`load generator: ${reply.error}`));
    });
    this.#child.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) p.reject(new Error(`load generator exited (${signal ?? String(code)})`));
      this.#pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  run(spec: LoadSpec): Promise<LoadResult> {
    const id = this.#next++;
    return new Promise<LoadResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, spec } satisfies LoadRequest);
    });
  }

  close(): void {
    if (this.#child.connected) this.#child.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; elsewhere PostgreSQL and machine figures read as 0)

interface CpuSnapshot {
  at: number;
  /** This process (the servers): user + system, µs. */
  serverUs: number;
  /** Backends connected to the bench database: ticks by pid. */
  postgresTicks: Map<number, number>;
  /** All CPUs, non-idle, ticks. */
  machineBusyTicks: number;
}

/** A PostgreSQL backend's title: `postgres: 15/main: user database host(port) state`. */
const BACKEND_TITLE = /^postgres: [^:]+: \S+ (\S+) (?:\S+\(\d+\)|\[local\])/;

function ticksOf(stat: string): number {
  // Fields after "(comm) ": state ppid … utime stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
}

async function postgresTicks(database: string): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return byPid;
  }
  await Promise.all(
    pids.map(async (p) => {
      try {
        const cmdline = (await readFile(`/proc/${p}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim();
        if (BACKEND_TITLE.exec(cmdline)?.[1] !== database) return;
        byPid.set(Number(p), ticksOf(await readFile(`/proc/${p}/stat`, 'utf8')));
      } catch {
        // The process ended meanwhile.
      }
    }),
  );
  return byPid;
}

/**
 * Ticks used between two snapshots, pid by pid: a pool closes connections idle for 10 s, and the
 * whole past of a backend that exits must not count as negative use. A backend that started in
 * between counts whole; one that exited loses its last ticks (it was idle: that is why it closed).
 */
function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ticks] of after) sum += ticks - (before.get(pid) ?? 0);
  return sum;
}

async function machineBusyTicks(): Promise<number> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
    return user + nice + system + irq + softirq + steal;
  } catch {
    return 0;
  }
}

async function cpuSnapshot(database: string): Promise<CpuSnapshot> {
  const [pgTicks, busy] = await Promise.all([postgresTicks(database), machineBusyTicks()]);
  const usage = process.cpuUsage();
  return { at: now(), serverUs: usage.user + usage.system, postgresTicks: pgTicks, machineBusyTicks: busy };
}

/** CPU per request (µs) by whom, and how many cores the machine kept busy. */
interface CpuBreakdown {
  serverUs: number;
  postgresUs: number;
  clientUs: number;
  /** The rest of the machine: PostgreSQL's shared processes, the kernel, anything else. */
  otherUs: number;
  busyCores: number;
  /** Cores used by processes that are not this bench's (the "other" CPU over the run's time). */
  foreignCores: number;
}

function cpuBreakdown(before: CpuSnapshot, after: CpuSnapshot, clientUs: number, requests: number): CpuBreakdown {
  const tickUs = 1e6 / TICKS_PER_SECOND;
  const server = after.serverUs - before.serverUs;
  const postgres = ticksBetween(before.postgresTicks, after.postgresTicks) * tickUs;
  const machineUs = (after.machineBusyTicks - before.machineBusyTicks) * tickUs;
  const per = (x: number) => (requests === 0 ? Number.NaN : x / requests);
  const other = Math.max(0, machineUs - server - postgres - clientUs);
  const elapsedMs = after.at - before.at;
  return {
    serverUs: per(server),
    postgresUs: per(postgres),
    clientUs: per(clientUs),
    otherUs: per(other),
    busyCores: machineUs / 1000 / elapsedMs,
    foreignCores: other / 1000 / elapsedMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Time each handler spent in its database call (pool wait included), ms; cleared per phase. */
interface Recorder {
  db: number[];
}

interface Item {
  id: string;
  title: string;
  amount: string;
  createdAt: Date;
}

/** What identity's service.ts builds for inWorkspace: the same fields, the same options. */
function requestCredentials(token: string, workspaceId: string, request: FastifyRequest, options: IdentityOptions): RequestCredentials {
  return {
    tokenHash: hashToken(token),
    workspaceId,
    ip: request.ip,
    userAgent: request.headers['user-agent']?.slice(0, 500) ?? null,
    route: `${request.method} ${request.routeOptions.url ?? ''}`,
    idleTimeoutSeconds: options.idleTimeoutSeconds,
    privilegedMaxAgeSeconds: options.privilegedMaxAgeSeconds,
  };
}

type ItemParams = { Params: { workspaceId: string; id: string } };
type InsertRoute = { Params: { workspaceId: string }; Body: { title: string; amount: number } };

/**
 * The baseline, (a) and (c): what an app without Palisade does. No logger, no security headers,
 * no cookie parsing, no schema validation, no transaction: one autocommit statement on a
 * superuser pool. The breakdown routes add Palisade's database layers to this same server.
 */
function bareServer(pool: pg.Pool, db: Database, options: IdentityOptions, recorder: Recorder): FastifyInstance {
  const app = Fastify({ logger: false });
  /** Times the database call; the handler's only other work is returning the result. */
  const recorded = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t0 = now();
    const value = await fn();
    recorder.db.push(now() - t0);
    return value;
  };
  const credentials = (request: FastifyRequest, workspaceId: string): RequestCredentials => {
    const token = SESSION_COOKIE.exec(request.headers.cookie ?? '')?.[1];
    if (token === undefined) throw new Error('no session cookie');
    return requestCredentials(token, workspaceId, request, options);
  };
  const item = (rows: Item[], reply: FastifyReply) => rows[0] ?? reply.code(404).send();

  app.get<ItemParams>('/bare/workspaces/:workspaceId/items/:id', async (request, reply) => {
    const { rows } = await recorded(() => pool.query<Item>(READ_BARE_SQL, [request.params.workspaceId, request.params.id]));
    return item(rows, reply);
  });
  app.post<InsertRoute>('/bare/workspaces/:workspaceId/items', async (request, reply) => {
    const { workspaceId } = request.params;
    const { rows } = await recorded(() => pool.query<{ id: string }>(insertSql(BARE_TABLE), [workspaceId, request.body.title, request.body.amount]));
    return reply.code(201).send({ id: rows[0]?.id });
  });

  // Breakdown: the same server, one database layer more at a time.
  app.get<ItemParams>('/bare/workspaces/:workspaceId/tx-items/:id', async (request, reply) => {
    const rows = await recorded(async () => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await client.query<Item>(READ_BARE_SQL, [request.params.workspaceId, request.params.id]);
        await client.query('COMMIT');
        return result.rows;
      } finally {
        client.release();
      }
    });
    return item(rows, reply);
  });
  app.get<ItemParams>('/bare/workspaces/:workspaceId/ctx-items/:id', async (request, reply) => {
    const { workspaceId, id } = request.params;
    const rows = await recorded(() => db.withWorkspace({ workspaceId }, async (tx) => (await tx.query<Item>(READ_PALISADE_SQL, [id])).rows));
    return item(rows, reply);
  });
  app.get<ItemParams>('/bare/workspaces/:workspaceId/req-items/:id', async (request, reply) => {
    const { workspaceId, id } = request.params;
    const rows = await recorded(() =>
      db.withRequest(credentials(request, workspaceId), async (tx) => (await tx.query<Item>(READ_PALISADE_SQL, [id])).rows),
    );
    return item(rows, reply);
  });
  for (const [path, table] of [
    ['rls-items', RLS_TABLE],
    ['audited-items', PALISADE_TABLE],
  ] as const) {
    app.post<InsertRoute>(`/bare/workspaces/:workspaceId/${path}`, async (request, reply) => {
      const { workspaceId } = request.params;
      const { title, amount } = request.body;
      const id = await recorded(() =>
        db.withRequest(credentials(request, workspaceId), async (tx) => (await tx.query<{ id: string }>(insertSql(table), [workspaceId, title, amount])).rows[0]?.id),
      );
      return reply.code(201).send({ id });
    });
  }
  return app;
}

const failHttp = errorsOf(httpErrors);
const ITEM = z.object({ id: z.uuid(), title: z.string(), amount: z.string(), createdAt: z.date() });

/** The bench module's permissions (ACC-1), given to the system Member role. */
const benchPermissions = definePermissions({
  'bench.read': { description: 'Read bench items' },
  'bench.write': { description: 'Create bench items' },
});

/**
 * The bench's own tenant routes, written as a module writes them: each declares its permission,
 * and `app.guard.workspace` runs the session check, the workspace context and the permission
 * check before the handler (identity's global hooks check Origin and CSRF on the POST).
 */
function benchModule(recorder: Recorder, barePool: pg.Pool): ModuleDefinition {
  return defineModule({
    id: 'bench',
    permissions: benchPermissions,
    roles: [{ key: 'member', permissions: ['bench.read', 'bench.write'] }],
    async routes(app) {
      const r = app.withTypeProvider<ZodTypeProvider>();
      const itemParams = z.object({ workspaceId: z.uuid(), id: z.uuid() });

      r.get(
        '/api/v1/workspaces/:workspaceId/bench/:id',
        { config: { access: 'bench.read' }, schema: { params: itemParams, response: { 200: ITEM } } },
        async (request) => {
          const t0 = now();
          const item = await app.guard.workspace(request, async (tx) => (await tx.query<Item>(READ_PALISADE_SQL, [request.params.id])).rows[0]);
          recorder.db.push(now() - t0);
          if (item === undefined) throw failHttp('NOT_FOUND');
          return item;
        },
      );

      // Breakdown "stack": this stack in front of the bare server's single SELECT, no session check.
      r.get(
        '/api/v1/workspaces/:workspaceId/bench-bare/:id',
        { config: { access: 'signed-in' }, schema: { params: itemParams, response: { 200: ITEM } } },
        async (request) => {
          const t0 = now();
          const { rows } = await barePool.query<Item>(READ_BARE_SQL, [request.params.workspaceId, request.params.id]);
          recorder.db.push(now() - t0);
          const item = rows[0];
          if (item === undefined) throw failHttp('NOT_FOUND');
          return item;
        },
      );

      r.post(
        '/api/v1/workspaces/:workspaceId/bench',
        {
          config: { access: 'bench.write' },
          schema: {
            params: z.object({ workspaceId: z.uuid() }),
            body: z.strictObject({ title: z.string().min(1).max(200), amount: z.number().min(0).max(1e9) }),
            response: { 201: z.object({ id: z.uuid() }) },
          },
        },
        async (request, reply) => {
          const { workspaceId } = request.params;
          const t0 = now();
          // workspace_id comes from the route; RLS's WITH CHECK refuses any other than the context's.
          const id = await app.guard.workspace(request, async (tx) => {
            const { rows } = await tx.query<{ id: string }>(insertSql(PALISADE_TABLE), [workspaceId, request.body.title, request.body.amount]);
            return rows[0]?.id;
          });
          recorder.db.push(now() - t0);
          if (id === undefined) throw new Error('insert returned no id');
          return reply.code(201).send({ id });
        },
      );
    },
  });
}

/**
 * A production configuration (argon2id at its OWASP defaults, which production refuses to
 * lower), logging off so that log writing does not dominate what is measured.
 */
function palisadeConfig(urls: { appUrl: string; ownerUrl: string }, pool: number, trustProxy: boolean): Config {
  return loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: urls.appUrl,
    DATABASE_OWNER_URL: urls.ownerUrl,
    DATABASE_POOL_SIZE: String(pool),
    LOG_LEVEL: 'silent',
    TRUST_PROXY: trustProxy ? 'true' : 'false',
    AUDIT_SEAL_INTERVAL_MS: '0',
    // Production requires the setting; the file is never read, as the sealer does not run.
    AUDIT_SIGNING_KEY_FILE: join(tmpdir(), 'palisade-bench-http-unused.pem'),
  });
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${(address satisfies AddressInfo).port}`;
}

// ---------------------------------------------------------------------------------------------
// Data

async function createTables(owner: pg.Client, admin: pg.Client): Promise<void> {
  await owner.query(`
    CREATE TABLE ${PALISADE_TABLE} (
      workspace_id uuid NOT NULL REFERENCES central.workspaces (id) ON DELETE CASCADE,
      id           uuid NOT NULL DEFAULT gen_random_uuid(),
      created_at   timestamptz NOT NULL DEFAULT now(),
      title        text NOT NULL,
      amount       numeric(12, 2) NOT NULL,
      PRIMARY KEY (workspace_id, id)
    );
    SELECT palisade_private.enable_tenant_rls('${PALISADE_TABLE}');
    SELECT palisade_private.enable_audit('${PALISADE_TABLE}');
    CREATE TABLE ${RLS_TABLE} (LIKE ${PALISADE_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
    ALTER TABLE ${RLS_TABLE} ADD FOREIGN KEY (workspace_id) REFERENCES central.workspaces (id) ON DELETE CASCADE;
    SELECT palisade_private.enable_tenant_rls('${RLS_TABLE}');`);
  await admin.query(`
    CREATE TABLE ${BARE_TABLE} (LIKE ${PALISADE_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
    ALTER TABLE ${BARE_TABLE} ADD FOREIGN KEY (workspace_id) REFERENCES central.workspaces (id) ON DELETE CASCADE;`);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function inPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** An account with its own argon2id hash (production parameters) and an active membership. */
async function createAccount(db: Database, hasher: PasswordHasher, workspaceId: string, email: string): Promise<string> {
  const hash = await hasher.hash(PASSWORD);
  return db.withSystem('bench: account and membership', async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      'INSERT INTO central.users (email, email_normalized, password_hash) VALUES ($1, $1, $2) RETURNING id',
      [email, hash],
    );
    const id = rows[0]?.id;
    if (id === undefined) throw new Error('user insert returned nothing');
    await tx.query('INSERT INTO tenant.members (workspace_id, user_id, role) VALUES ($1, $2, $3)', [workspaceId, id, 'member']);
    return id;
  });
}

/** A signed-in browser: its cookie and the CSRF token the sign-in answered with. */
interface Browser {
  workspaceId: string;
  cookie: string;
  csrf: string;
}

async function signInBrowser(app: FastifyInstance, workspaceId: string, email: string, ip: string): Promise<Browser> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { email, password: PASSWORD }, remoteAddress: ip });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const cookie = res.cookies.find((c) => c.name === 'palisade_session');
  if (cookie === undefined) throw new Error('no session cookie set');
  return { workspaceId, cookie: cookie.value, csrf: res.json<{ csrfToken: string }>().csrfToken };
}

// ---------------------------------------------------------------------------------------------
// Phases

type RowKey = 'a' | 'b' | 'c' | 'd' | 'm' | 'signin' | BreakdownKey;
type BreakdownKey = 'a+tx' | 'a+ctx' | 'a+req' | 'stack' | 'c+rls' | 'c+aud';

interface HttpPhase {
  key: RowKey;
  label: string;
  url: string;
  templates: RequestTemplate[];
  forwardedFor: boolean;
}

interface HttpRow {
  key: HttpPhase['key'];
  label: string;
  attempts: number;
  waitedMs: number;
  reqPerSec: number;
  latency: LatencySummary;
  /** Handler's database call, ms (not for sign-in and the members reference). */
  db: LatencySummary | null;
  cpu: CpuBreakdown;
  load: Omit<LoadResult, 'latency'>;
  /** Every response 2xx, no connection errors. */
  valid: boolean;
  /** Why the figures may be disturbed (after the last attempt), or null. */
  disturbed: string | null;
}

interface Context {
  options: Options;
  database: string;
  loadgen: LoadGenerator;
  recorder: Recorder;
}

async function waitForOtherBenches(label: string): Promise<number> {
  return waitUntilNoneRunning(OTHER_BENCHES, (pids) => {
    log(`  [${label}] waiting: "${OTHER_BENCHES}" is running (pid ${pids.join(', ')})`);
  });
}

/**
 * Waits until no other bench runs and, while everything of this bench is idle, the machine is
 * busy less than FOREIGN_CORES_LIMIT (for at most QUIET_WAIT_CAP_MS). Returns the ms waited.
 */
async function waitForQuiet(label: string): Promise<number> {
  const start = now();
  let lastTold = now();
  for (;;) {
    await waitForOtherBenches(label);
    const before = await machineBusyTicks();
    const t0 = now();
    await sleep(QUIET_SAMPLE_MS);
    const cores = ((await machineBusyTicks()) - before) / TICKS_PER_SECOND / ((now() - t0) / 1000);
    if (cores < FOREIGN_CORES_LIMIT || now() - start > QUIET_WAIT_CAP_MS) return now() - start;
    if (now() - lastTold > 15_000) {
      log(`  [${label}] waiting: other processes keep ${cores.toFixed(2)} cores busy`);
      lastTold = now();
    }
  }
}

/** Why a phase's figures are not to be trusted, or null. */
async function disturbance(foreignCores: number): Promise<string | null> {
  const others = await runningProcesses(OTHER_BENCHES);
  if (others.length > 0) return `another bench started (pid ${others.join(', ')})`;
  if (foreignCores >= FOREIGN_CORES_LIMIT) return `other processes used ${foreignCores.toFixed(2)} cores`;
  return null;
}

/**
 * Warm-up (unmeasured: JIT, pool connections, plan caches), then the measured run. Repeated when
 * another bench is found running at its end.
 */
async function runPhase(ctx: Context, phase: HttpPhase): Promise<HttpRow> {
  const { options, loadgen, recorder, database } = ctx;
  const spec = (seconds: number): LoadSpec => ({
    url: phase.url,
    connections: options.connections,
    seconds,
    templates: phase.templates,
    forwardedFor: phase.forwardedFor,
  });
  let waitedMs = 0;
  for (let attempt = 1; ; attempt++) {
    waitedMs += await waitForQuiet(phase.label);
    await loadgen.run(spec(options.warmup));
    recorder.db = [];
    const before = await cpuSnapshot(database);
    const load = await loadgen.run(spec(options.seconds));
    const after = await cpuSnapshot(database);
    const dbSamples = recorder.db;
    recorder.db = [];
    const cpu = cpuBreakdown(before, after, load.cpuUs, load.responses);
    const disturbed = await disturbance(cpu.foreignCores);
    if (disturbed !== null && attempt < MAX_ATTEMPTS) {
      log(`  ${phase.label}: ${disturbed}; measuring again`);
      continue;
    }
    const { latency, ...rest } = load;
    const row: HttpRow = {
      key: phase.key,
      label: phase.label,
      attempts: attempt,
      waitedMs: Math.round(waitedMs),
      reqPerSec: load.ok / load.seconds,
      latency,
      db: dbSamples.length === 0 ? null : summarize(dbSamples),
      cpu,
      load: rest,
      valid: load.ok === load.responses && load.errors === 0 && load.responses > 0,
      disturbed,
    };
    log(
      `  ${phase.label.padEnd(44)} ${row.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${formatMs(latency.p50)} ms  ` +
        `p99 ${formatMs(latency.p99)} ms${attempt > 1 ? `  (attempt ${attempt})` : ''}` +
        (row.valid ? '' : `  INVALID: statuses ${JSON.stringify(load.statuses)}, ${load.errors} errors`) +
        (disturbed === null ? '' : `  DISTURBED: ${disturbed}`),
    );
    return row;
  }
}

interface Argon2Result {
  inFlight: number;
  params: { memoryCost: number; timeCost: number; parallelism: number };
  verifies: number;
  seconds: number;
  perSecond: number;
  latency: LatencySummary;
  /** CPU of this process per verify, ms. */
  cpuMsEach: number;
  attempts: number;
  disturbed: string | null;
}

/**
 * argon2id verifies in this process, `inFlight` at a time (libuv's pool size: @node-rs/argon2
 * runs each on a pool thread), with the hasher the identity module builds from the config.
 */
async function measureArgon2(options: Options, hasher: PasswordHasher, inFlight: number): Promise<Argon2Result> {
  const hash = await hasher.hash(PASSWORD);
  const loop = async (ms: number): Promise<{ samples: number[]; seconds: number }> => {
    const samples: number[] = [];
    const start = now();
    const deadline = start + ms;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (now() < deadline) {
          const t0 = now();
          if (!(await hasher.verify(hash, PASSWORD))) throw new Error('verify failed');
          samples.push(now() - t0);
        }
      }),
    );
    // Until the last verify ended: every counted verify lies inside the interval.
    return { samples, seconds: (now() - start) / 1000 };
  };
  for (let attempt = 1; ; attempt++) {
    await waitForQuiet('argon2id');
    await loop(options.warmup * 1000);
    const cpuBefore = process.cpuUsage();
    const busyBefore = await machineBusyTicks();
    const { samples, seconds } = await loop(options.seconds * 1000);
    const busyUs = ((await machineBusyTicks()) - busyBefore) * (1e6 / TICKS_PER_SECOND);
    const cpu = process.cpuUsage(cpuBefore);
    const disturbed = await disturbance(Math.max(0, busyUs - cpu.user - cpu.system) / 1e6 / seconds);
    if (disturbed !== null && attempt < MAX_ATTEMPTS) {
      log(`  argon2id: ${disturbed}; measuring again`);
      continue;
    }
    const latency = summarize(samples);
    log(
      `  ${'argon2id verify in-process'.padEnd(44)} ${(samples.length / seconds).toFixed(1).padStart(6)} /s     ` +
        `p50 ${formatMs(latency.p50)} ms${disturbed === null ? '' : `  DISTURBED: ${disturbed}`}`,
    );
    return {
      inFlight,
      params: { ...hasher.params },
      verifies: samples.length,
      seconds,
      perSecond: samples.length / seconds,
      latency,
      cpuMsEach: (cpu.user + cpu.system) / 1000 / samples.length,
      attempts: attempt,
      disturbed,
    };
  }
}

// ---------------------------------------------------------------------------------------------

export async function run(argv: readonly string[]): Promise<void> {
  const options = parseOptions(argv);
  const database = `palisade_bench_http_${randomBytes(4).toString('hex')}`;
  const started = now();
  const cleanups: (() => Promise<void>)[] = [];

  // One drop, whoever asks first: the normal end, a failure, or ctrl-c.
  let dropping: Promise<void> | undefined;
  const drop = (): Promise<void> =>
    (dropping ??= dropDatabase(options.adminUrl, database).catch((error: unknown) => {
      console.error(`could not drop database ${database}: ${String(error)}`);
    }));
  let loadgen: LoadGenerator | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: dropping database ${database}`);
    loadgen?.close();
    // WITH (FORCE) ends our own sessions too; exit without waiting for the interrupted work.
    void drop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Setup loads the machine too (migrations, 74 argon2id hashes): not while another bench measures.
    await waitForOtherBenches('setup');
    log(`http bench: database ${database}`);
    const setup = await timed(async () => {
      const urls = await setupServer({ adminUrl: options.adminUrl, database });
      const config = palisadeConfig(urls, options.pool, false);
      const signInConfig = palisadeConfig(urls, options.pool, true);
      if (config.database.kind !== 'server') throw new Error('expected a server database');
      // The production open path: migrations, then the pool of DATABASE_POOL_SIZE as palisade_app.
      const { db } = await openDatabase({ config: config.database, modules: coreModules });
      cleanups.push(() => db.close());
      const adminDbUrl = withDatabase(options.adminUrl, database);
      const admin = await connectClient(adminDbUrl);
      cleanups.push(() => admin.end());
      const owner = await connectClient(urls.ownerUrl);
      try {
        await createTables(owner, admin);
      } finally {
        await owner.end();
      }

      const { rows: wsRows } = await admin.query<{ id: string }>(
        `INSERT INTO central.workspaces (slug, name)
         SELECT 'bench-' || g, 'Bench workspace ' || g FROM generate_series(1, $1::int) g RETURNING id`,
        [WORKSPACES],
      );
      const workspaceIds = wsRows.map((r) => r.id);
      // Rows go in through the request path's own transaction shape, so the audit trigger and RLS
      // checks they pass are the production ones; the bare table gets the very same rows.
      for (const workspaceId of workspaceIds) {
        await db.withWorkspace({ workspaceId }, (tx) =>
          tx.query(
            `INSERT INTO ${PALISADE_TABLE} (workspace_id, title, amount)
             SELECT $1, 'Item ' || g, g * 1.25 FROM generate_series(1, $2::int) g`,
            [workspaceId, ROWS_PER_WORKSPACE],
          ),
        );
      }
      await admin.query(`INSERT INTO ${BARE_TABLE} SELECT workspace_id, id, created_at, title, amount FROM ${PALISADE_TABLE}`);
      await admin.query(`VACUUM (ANALYZE) ${PALISADE_TABLE}`);
      await admin.query(`VACUUM (ANALYZE) ${BARE_TABLE}`);
      // A fixed pseudo-random order: consecutive requests hit different workspaces and pages.
      const { rows: targets } = await admin.query<{ workspace_id: string; id: string }>(
        `SELECT workspace_id, id FROM ${BARE_TABLE} ORDER BY md5(id::text)`,
      );

      // The hasher the identity module builds from this config (password-service.ts).
      const hasher = createPasswordHasher({ ...config.identity.argon2, parallelism: 1 });
      const browsingEmails = workspaceIds.map((_, i) => `reader-${i}@bench.example.com`);
      const signInEmails = Array.from({ length: SIGN_IN_ACCOUNTS }, (_, i) => `signin-${i}@bench.example.com`);
      await inPool([...browsingEmails, ...signInEmails], 4, (email, i) =>
        createAccount(db, hasher, workspaceIds[i % workspaceIds.length] ?? '', email),
      );
      const server = await admin.query<{ version: string; shared_buffers: string; max_connections: string }>(
        `SELECT version(), current_setting('shared_buffers') AS shared_buffers, current_setting('max_connections') AS max_connections`,
      );
      return { urls, config, signInConfig, db, admin, adminDbUrl, workspaceIds, targets, hasher, browsingEmails, signInEmails, server: server.rows[0] };
    });
    const { config, signInConfig, db, adminDbUrl, workspaceIds, targets, hasher, browsingEmails, signInEmails } = setup.value;
    log(`  setup, migrations, ${WORKSPACES * ROWS_PER_WORKSPACE} rows, ${browsingEmails.length + signInEmails.length} accounts: ${(setup.ms / 1000).toFixed(1)} s`);

    const recorder: Recorder = { db: [] };
    const barePool = new pg.Pool({ connectionString: adminDbUrl, max: options.pool });
    // An idle client that errors (the drop on ctrl-c) must not crash the process.
    barePool.on('error', () => undefined);
    cleanups.push(() => barePool.end());
    const bare = bareServer(barePool, db, identityOptions(config), recorder);
    cleanups.push(() => bare.close());
    const palisade = await createApp({ config, db, modules: [...coreModules, benchModule(recorder, barePool)] });
    cleanups.push(() => palisade.close());
    const signInApp = await createApp({ config: signInConfig, db, modules: coreModules });
    cleanups.push(() => signInApp.close());
    // Idle listeners cost nothing; each is loaded only in its own phase.
    const bareUrl = await listen(bare);
    const palisadeUrl = await listen(palisade);
    const signInUrl = await listen(signInApp);

    const browsers = new Map<string, Browser>();
    for (const [i, workspaceId] of workspaceIds.entries()) {
      browsers.set(workspaceId, await signInBrowser(palisade, workspaceId, browsingEmails[i] ?? '', `192.0.2.${i + 1}`));
    }
    const browserOf = (workspaceId: string): Browser => {
      const b = browsers.get(workspaceId);
      if (b === undefined) throw new Error(`no browser for ${workspaceId}`);
      return b;
    };
    // The same headers to both servers: the client's work and the bytes on the wire match.
    const readHeaders = (b: Browser) => ({ cookie: `palisade_session=${b.cookie}`, 'user-agent': 'palisade-bench' });
    const writeHeaders = (b: Browser) => ({ ...readHeaders(b), 'x-csrf-token': b.csrf, 'content-type': 'application/json' });
    const reads = (path: (t: { workspace_id: string; id: string }) => string): RequestTemplate[] =>
      targets.map((t) => ({ method: 'GET', path: path(t), headers: readHeaders(browserOf(t.workspace_id)) }));
    const writes = (path: (workspaceId: string) => string): RequestTemplate[] =>
      workspaceIds.map((w) => ({ method: 'POST', path: path(w), headers: writeHeaders(browserOf(w)), body: WRITE_BODY }));

    const bareRead = (route: string) => reads((t) => `/bare/workspaces/${t.workspace_id}/${route}/${t.id}`);
    const bareWrite = (route: string) => writes((w) => `/bare/workspaces/${w}/${route}`);
    // The four rows the targets compare come first, close together in time.
    const main: HttpPhase[] = [
      { key: 'a', label: '(a) bare read', url: bareUrl, templates: bareRead('items'), forwardedFor: false },
      {
        key: 'b',
        label: '(b) Palisade read',
        url: palisadeUrl,
        templates: reads((t) => `/api/v1/workspaces/${t.workspace_id}/bench/${t.id}`),
        forwardedFor: false,
      },
      { key: 'c', label: '(c) bare insert', url: bareUrl, templates: bareWrite('items'), forwardedFor: false },
      {
        key: 'd',
        label: '(d) Palisade insert (audited)',
        url: palisadeUrl,
        templates: writes((w) => `/api/v1/workspaces/${w}/bench`),
        forwardedFor: false,
      },
    ];
    const breakdown: HttpPhase[] = [
      { key: 'a+tx', label: 'a+tx  BEGIN; SELECT; COMMIT', url: bareUrl, templates: bareRead('tx-items'), forwardedFor: false },
      { key: 'a+ctx', label: 'a+ctx withWorkspace, RLS', url: bareUrl, templates: bareRead('ctx-items'), forwardedFor: false },
      { key: 'a+req', label: 'a+req withRequest, RLS', url: bareUrl, templates: bareRead('req-items'), forwardedFor: false },
      {
        key: 'stack',
        label: 'stack Palisade HTTP + bare SELECT',
        url: palisadeUrl,
        templates: reads((t) => `/api/v1/workspaces/${t.workspace_id}/bench-bare/${t.id}`),
        forwardedFor: false,
      },
      { key: 'c+rls', label: 'c+rls withRequest, RLS, no audit', url: bareUrl, templates: bareWrite('rls-items'), forwardedFor: false },
      { key: 'c+aud', label: 'c+aud withRequest, RLS, audit', url: bareUrl, templates: bareWrite('audited-items'), forwardedFor: false },
    ];
    const rest: HttpPhase[] = [
      {
        key: 'm',
        label: '(m) GET …/members (reference)',
        url: palisadeUrl,
        templates: workspaceIds.map((w) => ({ method: 'GET', path: `/api/v1/workspaces/${w}/members`, headers: readHeaders(browserOf(w)) })),
        forwardedFor: false,
      },
      {
        key: 'signin',
        label: 'sign-in (argon2id, X-Forwarded-For varies)',
        url: signInUrl,
        templates: signInEmails.map((email) => ({
          method: 'POST',
          path: '/api/v1/auth/sign-in',
          headers: { 'content-type': 'application/json', 'user-agent': 'palisade-bench' },
          body: JSON.stringify({ email, password: PASSWORD }),
        })),
        forwardedFor: true,
      },
    ];
    const phases = [...main, ...(options.breakdown ? breakdown : []), ...rest];

    loadgen = new LoadGenerator();
    const generator = loadgen;
    cleanups.push(async () => {
      generator.close();
    });
    const ctx: Context = { options, database, loadgen, recorder };
    log(`measuring: ${options.connections} connections, ${options.warmup} s warm-up + ${options.seconds} s per row, pool ${options.pool}`);
    const rows: HttpRow[] = [];
    for (const phase of phases) rows.push(await runPhase(ctx, phase));
    const threadpool = positiveInt('UV_THREADPOOL_SIZE', process.env.UV_THREADPOOL_SIZE, 4);
    const argon2 = await measureArgon2(options, hasher, threadpool);

    const report = printReport(rows, argon2, options);
    const file = await writeResults('http', {
      bench: 'http',
      finishedAt: new Date().toISOString(),
      machine: machine(),
      postgres: setup.value.server,
      options: {
        seconds: options.seconds,
        warmupSeconds: options.warmup,
        connections: options.connections,
        poolSize: options.pool,
        workspaces: WORKSPACES,
        rowsPerWorkspace: ROWS_PER_WORKSPACE,
        signInAccounts: SIGN_IN_ACCOUNTS,
        uvThreadpoolSize: threadpool,
        breakdown: options.breakdown,
      },
      notes: {
        latency: 'ms, 2xx responses, per-response hrtime from autocannon',
        db: "ms the handler spent in its database call (pool wait + round trips), as the server saw it",
        cpu: 'µs of CPU per request: server process, this database’s PostgreSQL backends, load generator, rest of the machine',
        signIn: 'TRUST_PROXY=true and a distinct X-Forwarded-For (198.18.0.0/15) per request, so the per-IP limit (20/min) does not apply',
      },
      sql: {
        readBare: READ_BARE_SQL,
        readPalisade: READ_PALISADE_SQL,
        insertBare: insertSql(BARE_TABLE),
        insertPalisade: insertSql(PALISADE_TABLE),
        insertRlsOnly: insertSql(RLS_TABLE),
      },
      timingsMs: { setup: Math.round(setup.ms), total: Math.round(now() - started) },
      rows,
      argon2,
      ratios: report,
    });
    log(`\nfigures written to ${file}`);
    log(`total ${((now() - started) / 1000).toFixed(0)} s`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface PairRatio {
  pair: string;
  reqPerSec: number;
  p50: number;
  p99: number;
  target: number;
  met: boolean;
}

/** One layer of the breakdown: what it adds in CPU per request (µs) and what that does to req/s. */
interface Step {
  from: RowKey;
  to: RowKey;
  what: string;
  reqPerSec: { from: number; to: number };
  deltaUs: { total: number; server: number; postgres: number; clientAndOther: number };
}

const READ_STEPS: readonly { from: RowKey; to: RowKey; what: string }[] = [
  { from: 'a', to: 'a+tx', what: 'a transaction: BEGIN; SELECT; COMMIT (3 round trips for 1)' },
  { from: 'a+tx', to: 'a+ctx', what: 'palisade_app, set_context round trip, RLS policy' },
  { from: 'a+ctx', to: 'a+req', what: 'session check: begin_request in place of set_context' },
  { from: 'a+req', to: 'b', what: "Palisade's HTTP stack (helmet, cookie, zod, ids, …)" },
];
const STACK_ALONE = { from: 'a', to: 'stack', what: 'cross-check: the HTTP stack alone, on the bare SELECT' } as const;
const WRITE_STEPS: readonly { from: RowKey; to: RowKey; what: string }[] = [
  { from: 'c', to: 'c+rls', what: 'withRequest: BEGIN, begin_request, INSERT under RLS, COMMIT' },
  { from: 'c+rls', to: 'c+aud', what: 'audit trigger: the event row in the same transaction' },
  { from: 'c+aud', to: 'd', what: "Palisade's HTTP stack, CSRF check, zod body" },
];

const cpuTotal = (c: CpuBreakdown) => c.serverUs + c.postgresUs + c.clientUs + c.otherUs;

function printReport(
  rows: readonly HttpRow[],
  argon2: Argon2Result,
  options: Options,
): { pairs: PairRatio[]; steps: Step[]; signInToArgon2: number } {
  const find = (key: RowKey): HttpRow | undefined => rows.find((x) => x.key === key);
  const row = (key: RowKey): HttpRow => {
    const r = find(key);
    if (r === undefined) throw new Error(`no row ${key}`);
    return r;
  };
  const us = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  const rps = (x: number) => x.toFixed(x < 100 ? 1 : 0);
  log(
    `\n${options.connections} connections, ${options.seconds} s per row after ${options.warmup} s warm-up; ` +
      `pool ${options.pool} for bare and Palisade; LOG_LEVEL silent, bare server without logger`,
  );
  log('p50/p99: 2xx latency as the client saw it; db: the handler’s database call (pool wait included), ms;');
  log('µs: CPU per request of the server process, the database’s backends, the load generator, the rest; cores: machine busy');
  log(
    formatTable(
      [
        { header: 'row', align: 'left' },
        { header: 'req/s' },
        { header: 'p50 ms' },
        { header: 'p99 ms' },
        { header: 'db p50' },
        { header: 'db p99' },
        { header: 'server µs' },
        { header: 'postgres µs' },
        { header: 'client µs' },
        { header: 'other µs' },
        { header: 'cores' },
        { header: 'ok', align: 'left' },
      ],
      rows.map((r) => [
        r.label,
        rps(r.reqPerSec),
        formatMs(r.latency.p50),
        formatMs(r.latency.p99),
        r.db === null ? '-' : formatMs(r.db.p50),
        r.db === null ? '-' : formatMs(r.db.p99),
        us(r.cpu.serverUs),
        us(r.cpu.postgresUs),
        us(r.cpu.clientUs),
        us(r.cpu.otherUs),
        r.cpu.busyCores.toFixed(2),
        (r.valid ? 'yes' : `NO ${JSON.stringify(r.load.statuses)}`) +
          (r.attempts > 1 ? ` (attempt ${r.attempts})` : '') +
          (r.disturbed === null ? '' : ` DISTURBED: ${r.disturbed}`),
      ]),
    ),
  );

  const pairs: PairRatio[] = [
    { num: row('b'), den: row('a'), target: TARGET_READ, pair: 'b/a read' },
    { num: row('d'), den: row('c'), target: TARGET_WRITE, pair: 'd/c insert' },
  ].map(({ num, den, target, pair }) => {
    const r = num.reqPerSec / den.reqPerSec;
    return {
      pair,
      reqPerSec: r,
      p50: num.latency.p50 / den.latency.p50,
      p99: num.latency.p99 / den.latency.p99,
      target,
      met: r >= target && num.valid && den.valid && num.disturbed === null && den.disturbed === null,
    };
  });
  log('\nPalisade / bare, same run (req/s: higher is better; latency: × the bare figure)');
  log(
    formatTable(
      [{ header: '', align: 'left' }, { header: 'req/s' }, { header: 'p50 ×' }, { header: 'p99 ×' }, { header: 'target', align: 'left' }],
      pairs.map((p) => [p.pair, formatRatio(p.reqPerSec), formatRatio(p.p50), formatRatio(p.p99), `≥ ${p.target}  ${p.met ? 'met' : 'MISSED'}`]),
    ),
  );

  // The machine is CPU-bound in every row, so req/s ≈ busy cores / CPU per request: the CPU each
  // layer adds per request is what it costs in throughput.
  const steps: Step[] = [];
  const stepOf = (s: { from: RowKey; to: RowKey; what: string }): Step | null => {
    const a = find(s.from);
    const b = find(s.to);
    if (a === undefined || b === undefined) return null;
    const d = (f: (c: CpuBreakdown) => number) => f(b.cpu) - f(a.cpu);
    return {
      ...s,
      reqPerSec: { from: a.reqPerSec, to: b.reqPerSec },
      deltaUs: {
        total: d(cpuTotal),
        server: d((c) => c.serverUs),
        postgres: d((c) => c.postgresUs),
        clientAndOther: d((c) => c.clientUs + c.otherUs),
      },
    };
  };
  const stepTable = (group: readonly { from: RowKey; to: RowKey; what: string }[], base: HttpRow, top: HttpRow) => {
    const list = group.map(stepOf).filter((s): s is Step => s !== null);
    steps.push(...list);
    const totalDelta = cpuTotal(top.cpu) - cpuTotal(base.cpu);
    log(
      formatTable(
        [
          { header: 'layer', align: 'left' },
          { header: 'req/s' },
          { header: 'Δ µs/req' },
          { header: 'server' },
          { header: 'postgres' },
          { header: 'client+other' },
          { header: 'share' },
        ],
        list.map((s) => [
          `${s.from} → ${s.to}: ${s.what}`,
          `${rps(s.reqPerSec.from)} → ${rps(s.reqPerSec.to)}`,
          us(s.deltaUs.total),
          us(s.deltaUs.server),
          us(s.deltaUs.postgres),
          us(s.deltaUs.clientAndOther),
          `${((100 * s.deltaUs.total) / totalDelta).toFixed(0)} %`,
        ]),
      ),
    );
    log(`  total: ${us(cpuTotal(base.cpu))} → ${us(cpuTotal(top.cpu))} µs CPU per request (${base.key} → ${top.key})`);
  };
  if (options.breakdown) {
    log('\nwhere the difference goes: CPU per request each layer adds (all rows CPU-bound, so req/s ≈ cores / CPU per request)');
    stepTable(READ_STEPS, row('a'), row('b'));
    const alone = stepOf(STACK_ALONE);
    if (alone !== null) {
      steps.push(alone);
      log(
        `  ${STACK_ALONE.what}: +${us(alone.deltaUs.total)} µs (server ${us(alone.deltaUs.server)}), ` +
          `${rps(alone.reqPerSec.from)} → ${rps(alone.reqPerSec.to)} req/s`,
      );
    }
    log('');
    stepTable(WRITE_STEPS, row('c'), row('d'));
  } else {
    log('\nwhere the difference goes (CPU per request, Palisade minus bare, µs; --no-breakdown: no per-layer rows):');
    for (const [num, den] of [
      [row('b'), row('a')],
      [row('d'), row('c')],
    ] as const) {
      const d = (f: (c: CpuBreakdown) => number) => f(num.cpu) - f(den.cpu);
      log(
        `  ${num.key}−${den.key}: server ${us(d((c) => c.serverUs))}, postgres ${us(d((c) => c.postgresUs))}, ` +
          `client+other ${us(d((c) => c.clientUs + c.otherUs))}; total ${us(cpuTotal(num.cpu))} vs ${us(cpuTotal(den.cpu))}`,
      );
    }
  }

  const signIn = row('signin');
  const signInToArgon2 = signIn.reqPerSec / argon2.perSecond;
  log(
    `\nsign-in: built with TRUST_PROXY=true and sent a distinct X-Forwarded-For (198.18.0.0/15) per request, so the ` +
      `per-IP limit (20/min) does not apply; ${SIGN_IN_ACCOUNTS} accounts in turn`,
  );
  log(
    formatTable(
      [
        { header: '', align: 'left' },
        { header: 'per s' },
        { header: 'p50 ms' },
        { header: 'p99 ms' },
        { header: 'CPU ms each' },
        { header: 'in flight', align: 'left' },
      ],
      [
        [
          'POST /api/v1/auth/sign-in',
          rps(signIn.reqPerSec),
          formatMs(signIn.latency.p50),
          formatMs(signIn.latency.p99),
          `${formatMs(signIn.cpu.serverUs / 1000)} + pg ${formatMs(signIn.cpu.postgresUs / 1000)}`,
          `${options.connections} connections`,
        ],
        [
          `argon2id verify in-process (m=${argon2.params.memoryCost}, t=${argon2.params.timeCost}, p=${argon2.params.parallelism})`,
          rps(argon2.perSecond),
          formatMs(argon2.latency.p50),
          formatMs(argon2.latency.p99),
          formatMs(argon2.cpuMsEach),
          `${argon2.inFlight} (libuv threadpool)`,
        ],
      ],
    ),
  );
  log(`  sign-in / raw argon2id: ${formatRatio(signInToArgon2)}`);
  for (const [what, disturbed] of [
    ['sign-in', signIn.disturbed],
    ['argon2id', argon2.disturbed],
  ] as const) {
    if (disturbed !== null) log(`  ${what} DISTURBED: ${disturbed}`);
  }
  return { pairs, steps, signInToArgon2 };
}

// The load generator process: this file, forked with LOADGEN_ENV set (never set in the parent).
if (process.env[LOADGEN_ENV] === '1' && process.send !== undefined) serveLoadRequests();
