/**
 * `npm run bench -- rls`: what tenant isolation by RLS costs on a PostgreSQL server.
 *
 * Loads W workspaces × R rows into a tenant table that carries exactly the production policies
 * (palisade_private.enable_tenant_rls), then times, per transaction and per statement:
 *   (a) page:   the 50 newest rows of one workspace
 *   (b) lookup: one row by id
 * in four variants:
 *   explicit  baseline: a login role with BYPASSRLS (not a superuser, so the same permission
 *             checks), the same set_context() prelude, explicit `WHERE workspace_id = $1`
 *   rls       palisade_app, context through palisade.set_context(), no workspace filter in the SQL
 *   inline    a copy whose policies inline `nullif(current_setting(…), '')::uuid` without (SELECT …)
 *   fn        a copy whose policies call palisade.current_workspace() without (SELECT …)
 *   naive     a copy whose policies call a VOLATILE plpgsql `current_ws()` per row (the trap)
 * All variants run the same transaction shape (BEGIN, one parameterised round trip, query,
 * COMMIT) on their own connections, interleaved operation by operation so that drift hits them
 * alike. Three figures per query:
 *   transaction  what a request waits for, measured by the client (4 round trips)
 *   statement    the query's own round trip, measured by the client
 *   server       parse + plan + execute inside PostgreSQL (a plpgsql EXECUTE loop): no network,
 *                no client, no scheduler wake-ups, so the smallest and steadiest figure
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateDriver } from '../src/db/open.ts';
import { ServerDriver } from '../src/db/server.ts';
import { dropDatabase, setupServer } from '../src/db/setup.ts';
import { coreModules } from '../src/modules.ts';
import {
  formatMs,
  formatRatio,
  formatTable,
  machine,
  now,
  positiveInt,
  ratio,
  roundStats,
  summarize,
  timed,
  writeResults,
  type Stats,
  benchAdminUrl,
  parseBenchArgs,
} from './lib.ts';

/** rls/explicit at or under this is "RLS is free enough" (the issue's target). */
const TARGET_RATIO = 1.05;
const PAGE_SIZE = 50;
/**
 * Connections per variant, used in turn. On a small VM the latency of one connection is bimodal
 * (probably where the scheduler puts its backend relative to the client): two identical
 * connections measured p50s 15 % apart, more than the effect under test. Rotating over a few
 * averages that out.
 */
const CONNECTIONS_PER_VARIANT = 3;
/** A series whose warm-up is this many times slower than its baseline runs in a second phase. */
const SLOW_FACTOR = 5;
/** A slow variant still gets this many samples, budget or not, so p95 means something. */
const MIN_ITERATIONS = 20;
/** The server-side loop runs in this many transactions, each on another workspace. */
const SERVER_CALLS = 20;
/** Row ids per workspace that the server-side loop cycles through for lookups. */
const SERVER_IDS = 200;
/** Warm-up stops after this long even if fewer than --warmup operations ran (slow variants). */
const WARMUP_CAP_MS = 3000;
/** Distinct (workspace, row) targets cycled through; every variant sees the same sequence. */
const TARGETS = 4096;

// Identifiers below are constants: nothing from the command line reaches SQL text.
const BASE_TABLE = 'tenant.bench_items';
const NAIVE_FN = 'palisade.bench_naive_current_ws';
const LOOP_FN = 'palisade.bench_server_loop';
/**
 * The baseline's login: BYPASSRLS, so no policy applies, but not a superuser, so it pays the same
 * permission checks as palisade_app. Created for the run, dropped at the end.
 */
const BENCH_BYPASS_ROLE = 'palisade_bench_bypass';

type VariantName = 'explicit' | 'rls' | 'inline' | 'fn' | 'naive';
type QueryName = 'page' | 'lookup';

interface Variant {
  name: VariantName;
  description: string;
  table: string;
  /** Bare table name, prefix for policy and index names. */
  relname: string;
  /** `bypass` is BENCH_BYPASS_ROLE (BYPASSRLS, not superuser); `app` is palisade_app. */
  login: 'bypass' | 'app';
  /** The app policy expression of this variant's table; undefined: the production policies. */
  policy?: string;
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'explicit',
    description: `${BENCH_BYPASS_ROLE} (BYPASSRLS, not superuser), set_context, WHERE workspace_id = $1`,
    table: BASE_TABLE,
    relname: 'bench_items',
    login: 'bypass',
  },
  {
    name: 'rls',
    description: 'palisade_app, set_context, production policy workspace_id = (SELECT palisade.current_workspace())',
    table: BASE_TABLE,
    relname: 'bench_items',
    login: 'app',
  },
  {
    name: 'inline',
    description: "palisade_app, policy workspace_id = nullif(current_setting('palisade.workspace_id', true), '')::uuid",
    table: 'tenant.bench_items_inline',
    relname: 'bench_items_inline',
    login: 'app',
    policy: "workspace_id = nullif(current_setting('palisade.workspace_id', true), '')::uuid",
  },
  {
    name: 'fn',
    description: 'palisade_app, policy workspace_id = palisade.current_workspace() (inlinable STABLE SQL function, no (SELECT …))',
    table: 'tenant.bench_items_fn',
    relname: 'bench_items_fn',
    login: 'app',
    policy: 'workspace_id = palisade.current_workspace()',
  },
  {
    name: 'naive',
    description: `palisade_app, policy workspace_id = ${NAIVE_FN}() (VOLATILE plpgsql, no (SELECT …))`,
    table: 'tenant.bench_items_naive',
    relname: 'bench_items_naive',
    login: 'app',
    policy: `workspace_id = ${NAIVE_FN}()`,
  },
];

const COLUMNS = 'id, created_at, title, amount';

/** The SQL of one query in one variant: only the baseline names the workspace itself. */
function querySql(variant: Variant, query: QueryName): string {
  const explicit = variant.login === 'bypass';
  if (query === 'page') {
    const where = explicit ? ' WHERE workspace_id = $1' : '';
    return `SELECT ${COLUMNS} FROM ${variant.table}${where} ORDER BY created_at DESC LIMIT ${PAGE_SIZE}`;
  }
  return explicit
    ? `SELECT ${COLUMNS} FROM ${variant.table} WHERE workspace_id = $1 AND id = $2`
    : `SELECT ${COLUMNS} FROM ${variant.table} WHERE id = $1`;
}

interface Target {
  workspaceId: string;
  id: string;
}

function queryParams(variant: Variant, query: QueryName, target: Target): unknown[] {
  if (variant.login === 'bypass') return query === 'page' ? [target.workspaceId] : [target.workspaceId, target.id];
  return query === 'page' ? [] : [target.id];
}

/**
 * The round trip after BEGIN: every variant sets its context exactly as Database.withWorkspace
 * does (an app without RLS still tells its audit trail who acts), so the transactions differ only
 * in what RLS itself costs: the policies, and the missing `WHERE workspace_id` in the SQL.
 */
const PRELUDE_SQL = 'SELECT palisade.set_context($1, null, null, null, null, null, null, null, null)';

interface Options {
  adminUrl: string;
  workspaces: number;
  rows: number;
  iterations: number;
  warmup: number;
  budgetMs: number;
}

function parseOptions(argv: readonly string[]): Options {
  const values = parseBenchArgs(argv, {
    workspaces: { type: 'string' },
    rows: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    budget: { type: 'string' },
  });
  return {
    adminUrl: benchAdminUrl(),
    workspaces: positiveInt('workspaces', values.workspaces, 1000),
    rows: positiveInt('rows', values.rows, 1000),
    iterations: positiveInt('iterations', values.iterations, 2000),
    warmup: positiveInt('warmup', values.warmup, 200),
    budgetMs: positiveInt('budget', values.budget, 20) * 1000,
  };
}

/** A connection that survives the server terminating it (DROP DATABASE … WITH (FORCE) on ctrl-c). */
async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

const log = (message: string) => {
  console.log(message);
};

/**
 * One statement through the extended protocol, as src/db/server.ts sends every statement. Without
 * queryMode, pg would send a statement without parameters (the rls page) through the simple
 * protocol and the baseline (which has a parameter) through the extended one: not the same work.
 */
async function extended<R extends pg.QueryResultRow>(
  client: pg.Client,
  text: string,
  values: readonly unknown[],
): Promise<pg.QueryResult<R>> {
  // queryMode is honoured by pg ≥ 8.12 but missing from @types/pg.
  const config: pg.QueryConfig & { queryMode: 'extended' } = { text, values: [...values], queryMode: 'extended' };
  return client.query<R>(config);
}

// ---------------------------------------------------------------------------------------------
// Schema and data

/**
 * Columns only: keys, foreign key and index come after the load (see finishTable), which builds
 * them in one sort each instead of 1M random-order B-tree inserts and 1M per-row FK triggers.
 */
async function createTables(owner: pg.Client): Promise<void> {
  await owner.query(`
    CREATE TABLE ${BASE_TABLE} (
      workspace_id uuid NOT NULL,
      id           uuid NOT NULL DEFAULT gen_random_uuid(),
      created_at   timestamptz NOT NULL DEFAULT now(),
      title        text NOT NULL,
      amount       numeric(12, 2) NOT NULL
    );
    SELECT palisade_private.enable_tenant_rls('${BASE_TABLE}');

    -- What a developer writes without knowing the trap: plpgsql (never inlined), default
    -- volatility VOLATILE (so it may not become an index condition), called per row by the policy.
    -- A LANGUAGE sql body would be inlined by the planner and escape the trap, hence plpgsql.
    CREATE FUNCTION ${NAIVE_FN}() RETURNS uuid LANGUAGE plpgsql AS $$
    BEGIN
      RETURN nullif(current_setting('palisade.workspace_id', true), '')::uuid;
    END
    $$;
    GRANT EXECUTE ON FUNCTION ${NAIVE_FN}() TO palisade_app;

    -- Times one query n times inside the server, as the caller (SECURITY INVOKER, so the app's
    -- policies apply). EXECUTE parses and plans afresh each time, like the unnamed statements the
    -- driver sends. explicit: $1 is the workspace and $2 the row id; otherwise $1 is the row id.
    -- FOR … IN EXECUTE reads every row (EXECUTE … INTO would stop after two).
    CREATE FUNCTION ${LOOP_FN}(query text, ws uuid, ids uuid[], explicit boolean, expected int, n int)
      RETURNS float8[] LANGUAGE plpgsql AS $$
    DECLARE
      times float8[] := '{}';
      started timestamptz;
      r record;
      got int;
      target uuid;
    BEGIN
      FOR i IN 1..n LOOP
        target := ids[1 + (i - 1) % array_length(ids, 1)];
        got := 0;
        started := clock_timestamp();
        IF explicit THEN
          FOR r IN EXECUTE query USING ws, target LOOP got := got + 1; END LOOP;
        ELSE
          FOR r IN EXECUTE query USING target, ws LOOP got := got + 1; END LOOP;
        END IF;
        times := times || (extract(epoch FROM clock_timestamp() - started)::float8 * 1000);
        IF got <> expected THEN
          RAISE EXCEPTION 'expected % rows, got %', expected, got;
        END IF;
      END LOOP;
      RETURN times;
    END
    $$;
    GRANT EXECUTE ON FUNCTION ${LOOP_FN}(text, uuid, uuid[], boolean, int, int) TO palisade_app, ${BENCH_BYPASS_ROLE};
    GRANT USAGE ON SCHEMA palisade, tenant TO ${BENCH_BYPASS_ROLE};
    GRANT SELECT ON ${BASE_TABLE} TO ${BENCH_BYPASS_ROLE};
    GRANT EXECUTE ON FUNCTION palisade.set_context(uuid, uuid, text, text, text, text, text, text, text) TO ${BENCH_BYPASS_ROLE};`);
  for (const v of VARIANTS) {
    if (v.policy === undefined) continue;
    const commands = [
      ['select', 'FOR SELECT', `USING (${v.policy})`],
      ['insert', 'FOR INSERT', `WITH CHECK (${v.policy})`],
      ['update', 'FOR UPDATE', `USING (${v.policy}) WITH CHECK (${v.policy})`],
      ['delete', 'FOR DELETE', `USING (${v.policy})`],
    ] as const;
    await owner.query(`
      CREATE TABLE ${v.table} (LIKE ${BASE_TABLE} INCLUDING DEFAULTS);
      ALTER TABLE ${v.table} ENABLE ROW LEVEL SECURITY;
      ALTER TABLE ${v.table} FORCE ROW LEVEL SECURITY;
      ${commands
        .map(([cmd, forCmd, clause]) => `CREATE POLICY ${v.relname}_app_${cmd} ON ${v.table} ${forCmd} TO palisade_app ${clause};`)
        .join('\n')}
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${v.table} TO palisade_app;`);
  }
}

async function finishTable(owner: pg.Client, v: Variant): Promise<void> {
  await owner.query(`
    ALTER TABLE ${v.table}
      ADD PRIMARY KEY (workspace_id, id),
      ADD FOREIGN KEY (workspace_id) REFERENCES central.workspaces (id) ON DELETE CASCADE;
    CREATE INDEX ${v.relname}_recent ON ${v.table} (workspace_id, created_at DESC);`);
}

/**
 * Loads the data as the superuser (which bypasses the forced RLS). Row s belongs to workspace
 * s mod W and was created s seconds after a fixed start, so workspaces interleave on disk as when
 * written over time: a page of one workspace's newest rows touches many heap pages, as in
 * production, instead of one contiguous run.
 */
async function load(admin: pg.Client, owner: pg.Client, options: Options): Promise<Record<string, number>> {
  const timings: Record<string, number> = {};
  const step = async (name: string, fn: () => Promise<unknown>) => {
    const { ms } = await timed(fn);
    timings[name] = Math.round(ms);
    log(`  ${name.padEnd(36)} ${(ms / 1000).toFixed(1)} s`);
  };
  await step('tables and policies', () => createTables(owner));
  await step(`${options.workspaces} workspaces`, () =>
    admin.query(
      `INSERT INTO central.workspaces (id, slug, name)
       SELECT gen_random_uuid(), 'bench-' || g, 'Bench workspace ' || g FROM generate_series(1, $1::int) g`,
      [options.workspaces],
    ),
  );
  await step(`${options.workspaces * options.rows} rows`, () =>
    admin.query(
      `INSERT INTO ${BASE_TABLE} (workspace_id, id, created_at, title, amount)
       SELECT ws.ids[(s % ws.n)::int + 1],
              gen_random_uuid(),
              timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => s),
              'Item ' || (s / ws.n + 1),
              ((s * 7919) % 100000) / 100.0
         FROM (SELECT array_agg(id ORDER BY slug) AS ids, count(*)::int AS n FROM central.workspaces) ws,
              generate_series(0::bigint, $1::bigint - 1) s`,
      [options.workspaces * options.rows],
    ),
  );
  const copies = VARIANTS.filter((v) => v.table !== BASE_TABLE);
  for (const v of copies) {
    await step(`copy to ${v.relname}`, () => admin.query(`INSERT INTO ${v.table} (workspace_id, id, created_at, title, amount) SELECT workspace_id, id, created_at, title, amount FROM ${BASE_TABLE}`));
  }
  const tables = [...new Map(VARIANTS.map((v) => [v.table, v])).values()];
  for (const v of tables) await step(`keys and index ${v.relname}`, () => finishTable(owner, v));
  // VACUUM sets hint bits and the visibility map, as on a table that has lived a while.
  await step('vacuum analyze', async () => {
    for (const v of tables) await admin.query(`VACUUM (ANALYZE) ${v.table}`);
    await admin.query('VACUUM (ANALYZE) central.workspaces');
  });
  return timings;
}

/** A random sample of existing rows; the same list, in the same order, for every variant. */
async function sampleTargets(admin: pg.Client): Promise<Target[]> {
  const { rows } = await admin.query<{ workspace_id: string; id: string }>(
    `SELECT workspace_id, id FROM ${BASE_TABLE} ORDER BY random() LIMIT $1`,
    [TARGETS],
  );
  return rows.map((r) => ({ workspaceId: r.workspace_id, id: r.id }));
}

// ---------------------------------------------------------------------------------------------
// Measurement

type Metric = 'tx' | 'statement' | 'server';
const METRICS: readonly Metric[] = ['tx', 'statement', 'server'];

interface Series {
  variant: Variant;
  query: QueryName;
  clients: readonly pg.Client[];
  sql: string;
  expectedRows: number;
  /** Mean warm-up latency in ms, from the second half of the warm-up. */
  estimate: number;
  /** Measured iterations, decided after warm-up from --iterations and --budget. */
  planned: number;
  /** Interleaved with the others, or run after them for being too slow (see SLOW_FACTOR). */
  phase: 'interleaved' | 'after';
  cursor: number;
  samples: Record<Metric, number[]>;
}

/** A connection of the series, taken in turn. */
function clientOf(series: Series, op: number): pg.Client {
  const client = series.clients[op % series.clients.length];
  if (client === undefined) throw new Error('no connection');
  return client;
}

/** One request-shaped transaction; returns its total time and the query statement's own time. */
async function runOnce(series: Series, target: Target, op: number): Promise<{ tx: number; statement: number }> {
  const { variant } = series;
  const client = clientOf(series, op);
  const t0 = now();
  await client.query('BEGIN');
  await extended(client, PRELUDE_SQL, [target.workspaceId]);
  const t1 = now();
  const result = await extended(client, series.sql, queryParams(variant, series.query, target));
  const t2 = now();
  await client.query('COMMIT');
  const t3 = now();
  // A variant that sees no rows would be fast for the wrong reason.
  if (result.rows.length !== series.expectedRows) {
    throw new Error(
      `${variant.name}/${series.query}: expected ${series.expectedRows} rows, got ${result.rows.length} ` +
        `(workspace ${target.workspaceId})`,
    );
  }
  return { tx: t3 - t0, statement: t2 - t1 };
}

/**
 * Warms a series up (plans, caches, the client's JIT) and sizes its measured run: a variant too
 * slow for --iterations within --budget gets what fits, at least MIN_ITERATIONS.
 */
async function warmUp(series: Series, targets: readonly Target[], options: Options): Promise<void> {
  const start = now();
  const times: number[] = [];
  // Warm-up walks the targets backwards so the measured run does not start on just-cached rows.
  for (let i = 0; i < options.warmup && (i < 3 || now() - start < WARMUP_CAP_MS); i++) {
    const target = targets[targets.length - 1 - (i % targets.length)];
    if (target === undefined) throw new Error('no targets');
    times.push((await runOnce(series, target, i)).tx);
  }
  const tail = times.slice(Math.floor(times.length / 2));
  series.estimate = tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length);
  series.planned = itemsWithin(options.budgetMs, series.estimate, options.iterations);
}

/** How many operations of `estimate` ms fit in `budget` ms, between `min` and `max`. */
function itemsWithin(budget: number, estimate: number, max: number, min = MIN_ITERATIONS): number {
  return Math.min(max, Math.max(min, Math.floor(budget / estimate)));
}

/** Progress on one line in a terminal; one line per phase in a log. */
function progress(label: string): (done: number, total: number) => void {
  let shown = -1;
  return (done, total) => {
    const percent = Math.floor((done * 100) / Math.max(1, total));
    if (percent === shown || (percent % 10 !== 0 && done !== total)) return;
    shown = percent;
    if (process.stdout.isTTY) process.stdout.write(`\r  ${label}: ${percent} %${done === total ? '\n' : ''}`);
    else if (done === total) log(`  ${label}: done`);
  };
}

/**
 * Runs the series' planned iterations interleaved one operation at a time (rotating the order
 * each round), so that noise over time lands on every series alike; a series with fewer planned
 * iterations is spread evenly over the rounds. Every series walks the same target sequence.
 */
async function measure(label: string, group: readonly Series[], targets: readonly Target[]): Promise<void> {
  const rounds = Math.max(0, ...group.map((s) => s.planned));
  const report = progress(label);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < group.length; k++) {
      const series = group[(round + k) % group.length];
      if (series === undefined) continue;
      const goal = Math.round((series.planned * (round + 1)) / rounds);
      while (series.samples.tx.length < goal) {
        const op = series.cursor++;
        const target = targets[op % targets.length];
        if (target === undefined) throw new Error('no targets');
        const { tx, statement } = await runOnce(series, target, op);
        series.samples.tx.push(tx);
        series.samples.statement.push(statement);
      }
    }
    report(round + 1, rounds);
  }
}

interface ServerWorkspace {
  workspaceId: string;
  ids: string[];
}

/** SERVER_CALLS workspaces of the sample, each with some of its row ids. */
async function serverWorkspaces(admin: pg.Client, targets: readonly Target[]): Promise<ServerWorkspace[]> {
  const chosen = [...new Set(targets.map((t) => t.workspaceId))].slice(0, SERVER_CALLS);
  const { rows } = await admin.query<{ workspace_id: string; ids: string[] }>(
    `SELECT w.workspace_id, array(SELECT i.id FROM ${BASE_TABLE} i WHERE i.workspace_id = w.workspace_id
                                   ORDER BY i.id LIMIT $2) AS ids
       FROM unnest($1::uuid[]) AS w (workspace_id)`,
    [chosen, SERVER_IDS],
  );
  return rows.map((r) => ({ workspaceId: r.workspace_id, ids: r.ids }));
}

/**
 * The server-side figure: each series runs its query in LOOP_FN, SERVER_CALLS transactions of
 * n / SERVER_CALLS executions, each transaction with the context (or the baseline's stand-in) of
 * another workspace, series interleaved call by call. Slow series get a quarter of the budget
 * and as few as 5 executions: their cost is all server time, so the client figures already tell
 * the same story.
 */
async function measureServer(all: readonly Series[], workspaces: readonly ServerWorkspace[], options: Options): Promise<void> {
  const report = progress('server-side');
  const calls = workspaces.length;
  for (let call = 0; call < calls; call++) {
    const ws = workspaces[call];
    if (ws === undefined) continue;
    for (let k = 0; k < all.length; k++) {
      const series = all[(call + k) % all.length];
      if (series === undefined) continue;
      const total =
        series.phase === 'after'
          ? itemsWithin(options.budgetMs / 4, series.estimate, options.iterations, SERVER_CALLS / 4)
          : options.iterations;
      const n = Math.round((total * (call + 1)) / calls) - Math.round((total * call) / calls);
      if (n === 0) continue;
      const client = clientOf(series, call);
      await client.query('BEGIN');
      try {
        await extended(client, PRELUDE_SQL, [ws.workspaceId]);
        const { rows } = await extended<{ times: number[] }>(
          client,
          `SELECT ${LOOP_FN}($1, $2, $3, $4, $5, $6) AS times`,
          [series.sql, ws.workspaceId, ws.ids, series.variant.login === 'bypass', series.expectedRows, n],
        );
        series.samples.server.push(...(rows[0]?.times ?? []));
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    report(call + 1, calls);
  }
}

/** EXPLAIN ANALYZE of one query as the variant's role, with its context set, then rolled back. */
async function explain(series: Series, target: Target): Promise<string[]> {
  const client = clientOf(series, 0);
  await client.query('BEGIN');
  try {
    await extended(client, PRELUDE_SQL, [target.workspaceId]);
    const { rows } = await extended<{ 'QUERY PLAN': string }>(
      client,
      `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${series.sql}`,
      queryParams(series.variant, series.query, target),
    );
    return rows.map((r) => r['QUERY PLAN']);
  } finally {
    await client.query('ROLLBACK');
  }
}

const KEY_LINE = /Scan|Index Cond|Filter|InitPlan|Execution Time/;
const INDEX_COND_ON_WORKSPACE = /Index Cond: \(.*workspace_id = /;

// ---------------------------------------------------------------------------------------------

export async function run(argv: readonly string[]): Promise<void> {
  const options = parseOptions(argv);
  const database = `palisade_bench_rls_${randomBytes(4).toString('hex')}`;
  const clients: pg.Client[] = [];

  // One drop, whoever asks first: the normal end, a failure, or ctrl-c.
  let dropping: Promise<void> | undefined;
  const drop = (): Promise<void> =>
    (dropping ??= dropDatabase(options.adminUrl, database)
      .then(async () => {
        // Another bench database may still use the role: then it stays for that run to drop.
        const c = await connect(options.adminUrl);
        await c.query(`DROP ROLE IF EXISTS ${BENCH_BYPASS_ROLE}`).catch(() => undefined);
        await c.end();
      })
      .catch((error: unknown) => {
        console.error(`could not drop database ${database}: ${String(error)}`);
      }));
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: dropping database ${database}`);
    // WITH (FORCE) ends our own sessions too; exit without waiting for the interrupted work.
    void drop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = now();
  try {
    log(`rls bench: ${options.workspaces} workspaces × ${options.rows} rows, database ${database}`);
    const setup = await timed(async () => {
      const urls = await setupServer({ adminUrl: options.adminUrl, database });
      const roleAdmin = await connect(options.adminUrl);
      try {
        await roleAdmin.query(`DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${BENCH_BYPASS_ROLE}') THEN
            CREATE ROLE ${BENCH_BYPASS_ROLE} LOGIN BYPASSRLS NOSUPERUSER NOINHERIT;
          END IF;
        END $$`);
        await roleAdmin.query(`GRANT CONNECT ON DATABASE "${database}" TO ${BENCH_BYPASS_ROLE}`);
      } finally {
        await roleAdmin.end();
      }
      const driver = new ServerDriver({ url: urls.appUrl, ownerUrl: urls.ownerUrl, max: 1 });
      try {
        await migrateDriver(driver, coreModules);
      } finally {
        await driver.close();
      }
      return urls;
    });
    const { appUrl, ownerUrl } = setup.value;
    const adminDbUrl = withDatabase(options.adminUrl, database);
    const bypassUrl = (() => {
      const u = new URL(adminDbUrl);
      u.username = BENCH_BYPASS_ROLE;
      u.password = '';
      return u.toString();
    })();
    log(`  ${'setup and migrations'.padEnd(36)} ${(setup.ms / 1000).toFixed(1)} s`);

    const admin = await connect(adminDbUrl);
    clients.push(admin);
    const owner = await connect(ownerUrl);
    clients.push(owner);
    const loadStart = now();
    const loadTimings = await load(admin, owner, options);
    const loadMs = now() - loadStart;

    const server = await admin.query<{ version: string; shared_buffers: string; jit: string; work_mem: string }>(
      `SELECT version(), current_setting('shared_buffers') AS shared_buffers,
              current_setting('jit') AS jit, current_setting('work_mem') AS work_mem`,
    );
    const targets = await sampleTargets(admin);
    const workspaces = await serverWorkspaces(admin, targets);

    // Each variant has its own few connections; its requests share them as requests share a
    // pool, one transaction at a time per connection.
    const all: Series[] = [];
    for (const variant of VARIANTS) {
      const pool: pg.Client[] = [];
      for (let i = 0; i < CONNECTIONS_PER_VARIANT; i++) {
        const client = await connect(variant.login === 'bypass' ? bypassUrl : appUrl);
        clients.push(client);
        pool.push(client);
      }
      for (const query of ['page', 'lookup'] as const) {
        all.push({
          variant,
          query,
          clients: pool,
          sql: querySql(variant, query),
          expectedRows: query === 'page' ? Math.min(PAGE_SIZE, options.rows) : 1,
          estimate: Number.NaN,
          planned: options.iterations,
          phase: 'interleaved',
          cursor: 0,
          samples: { tx: [], statement: [], server: [] },
        });
      }
    }

    log('warm-up');
    for (const series of all) {
      await warmUp(series, targets, options);
      log(
        `  ${series.variant.name.padEnd(8)} ${series.query.padEnd(6)} ~${formatMs(series.estimate)} ms → ` +
          `${series.planned} iterations`,
      );
    }
    // The trap variants cost hundreds of times more per operation; interleaved with the others
    // they would churn CPU caches and the scheduler between every fast sample, so they run after.
    const baselineEstimate = (query: QueryName) =>
      all.find((s) => s.query === query && s.variant.name === 'explicit')?.estimate ?? Number.NaN;
    for (const s of all) if (s.estimate > SLOW_FACTOR * baselineEstimate(s.query)) s.phase = 'after';
    const measureStart = now();
    log('measuring');
    await measure('interleaved', all.filter((s) => s.phase === 'interleaved'), targets);
    const slow = all.filter((s) => s.phase === 'after');
    if (slow.length > 0) {
      await measure(`after (${slow.map((s) => `${s.variant.name}/${s.query}`).join(', ')})`, slow, targets);
    }
    await measureServer(all, workspaces, options);
    const measureMs = now() - measureStart;

    const planTarget = targets[0];
    if (planTarget === undefined) throw new Error('no targets');
    const plans: Partial<Record<VariantName, { page: string[]; lookup: string[] }>> = {};
    for (const variant of VARIANTS) {
      const page = all.find((s) => s.variant === variant && s.query === 'page');
      const lookup = all.find((s) => s.variant === variant && s.query === 'lookup');
      if (page === undefined || lookup === undefined) continue;
      plans[variant.name] = { page: await explain(page, planTarget), lookup: await explain(lookup, planTarget) };
    }

    const report = printReport(all, plans, options);
    const file = await writeResults('rls', {
      bench: 'rls',
      finishedAt: new Date().toISOString(),
      machine: machine(),
      postgres: server.rows[0],
      options: {
        workspaces: options.workspaces,
        rowsPerWorkspace: options.rows,
        totalRows: options.workspaces * options.rows,
        iterations: options.iterations,
        warmup: options.warmup,
        budgetSeconds: options.budgetMs / 1000,
        connectionsPerVariant: CONNECTIONS_PER_VARIANT,
        serverCalls: workspaces.length,
        pageSize: PAGE_SIZE,
      },
      variants: Object.fromEntries(
        VARIANTS.map((v) => [
          v.name,
          {
            description: v.description,
            sql: { prelude: PRELUDE_SQL, page: querySql(v, 'page'), lookup: querySql(v, 'lookup') },
          },
        ]),
      ),
      metrics: {
        tx: 'whole transaction as the client sees it: BEGIN, prelude, query, COMMIT',
        statement: 'the query round trip alone, as the client sees it',
        server: `parse + plan + execute inside PostgreSQL, timed by ${LOOP_FN}`,
      },
      unit: 'ms',
      timingsMs: {
        setup: Math.round(setup.ms),
        load: Math.round(loadMs),
        loadSteps: loadTimings,
        measure: Math.round(measureMs),
        total: Math.round(now() - started),
      },
      results: report.results,
      target: report.target,
      plans: Object.fromEntries(
        Object.entries(plans).map(([name, p]) => [
          name,
          { ...p, pageIndexCondOnWorkspace: p.page.some((l) => INDEX_COND_ON_WORKSPACE.test(l)) },
        ]),
      ),
    });
    log(`\nfigures written to ${file}`);
    log(`total ${((now() - started) / 1000).toFixed(0)} s`);
    if (!report.rlsKeepsIndex) {
      // The design's central promise (ARCHITECTURE.md, Escalation): fail loudly if it is broken.
      console.error('FAIL: the rls plan for (a) has no Index Cond on workspace_id');
      process.exitCode = 1;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const client of clients) await client.end().catch(() => undefined);
    await drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface Ratios {
  p50: number;
  p95: number;
  mean: number;
}

interface ResultRow {
  variant: VariantName;
  query: QueryName;
  phase: Series['phase'];
  stats: Record<Metric, Stats>;
  ratioToExplicit: Record<Metric, Ratios>;
}

function ratios(s: Stats, base: Stats): Ratios {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { p50: r(ratio(s.p50, base.p50)), p95: r(ratio(s.p95, base.p95)), mean: r(ratio(s.mean, base.mean)) };
}

const METRIC_TITLES: Record<Metric, string> = {
  tx: 'whole transaction, client-side (BEGIN, set_context or SELECT $1::uuid, query, COMMIT)',
  statement: 'query statement alone, client-side',
  server: 'query inside PostgreSQL (parse + plan + execute, no network or client)',
};

function printReport(
  all: readonly Series[],
  plans: Partial<Record<VariantName, { page: string[]; lookup: string[] }>>,
  options: Options,
): {
  results: ResultRow[];
  target: { ratio: number; metric: string; rlsPage: Ratios; rlsLookup: Ratios; met: boolean };
  rlsKeepsIndex: boolean;
} {
  const results: ResultRow[] = [];
  for (const query of ['page', 'lookup'] as const) {
    const base = all.find((s) => s.query === query && s.variant.name === 'explicit');
    if (base === undefined) throw new Error('no baseline series');
    const summaries = (s: Series): Record<Metric, Stats> => ({
      tx: summarize(s.samples.tx),
      statement: summarize(s.samples.statement),
      server: summarize(s.samples.server),
    });
    const baseStats = summaries(base);
    for (const s of all.filter((x) => x.query === query)) {
      const stats = summaries(s);
      results.push({
        variant: s.variant.name,
        query,
        phase: s.phase,
        stats: { tx: roundStats(stats.tx), statement: roundStats(stats.statement), server: roundStats(stats.server) },
        ratioToExplicit: {
          tx: ratios(stats.tx, baseStats.tx),
          statement: ratios(stats.statement, baseStats.statement),
          server: ratios(stats.server, baseStats.server),
        },
      });
    }
  }

  const columns = [
    { header: 'query', align: 'left' as const },
    { header: 'variant', align: 'left' as const },
    { header: 'n' },
    { header: 'p50 ms' },
    { header: 'p95 ms' },
    { header: 'mean ms' },
    { header: 'p50 ×' },
    { header: 'p95 ×' },
    { header: 'mean ×' },
  ];
  const table = (metric: Metric) =>
    formatTable(
      columns,
      results.map((r) => [
        r.query === 'page' ? '(a) page' : '(b) lookup',
        r.variant,
        String(r.stats[metric].n),
        formatMs(r.stats[metric].p50),
        formatMs(r.stats[metric].p95),
        formatMs(r.stats[metric].mean),
        formatRatio(r.ratioToExplicit[metric].p50),
        formatRatio(r.ratioToExplicit[metric].p95),
        formatRatio(r.ratioToExplicit[metric].mean),
      ]),
    );

  log(`\n${options.workspaces} workspaces × ${options.rows} rows; × = ratio to explicit (the baseline, same run)`);
  log('\nvariants:');
  for (const v of VARIANTS) log(`  ${v.name.padEnd(8)} ${v.description}`);
  for (const metric of METRICS) {
    log(`\n${METRIC_TITLES[metric]}`);
    log(table(metric));
  }

  const find = (variant: VariantName, query: QueryName) => results.find((r) => r.variant === variant && r.query === query);
  log(`\nratio to explicit, p50 (p95, mean); target for rls ≤ ${TARGET_RATIO}:`);
  log(
    formatTable(
      [{ header: '', align: 'left' }, { header: '', align: 'left' }, ...METRICS.map((m) => ({ header: m, align: 'left' as const }))],
      (['rls', 'inline', 'fn', 'naive'] as const).flatMap((variant) =>
        (['page', 'lookup'] as const).map((query) => {
          const r = find(variant, query);
          return [
            `${variant}/explicit`,
            query,
            ...METRICS.map((m) => {
              const x = r?.ratioToExplicit[m];
              if (x === undefined) return '-';
              const mark = variant === 'rls' ? (x.p50 <= TARGET_RATIO ? ' ok' : ' over') : '';
              return `${formatRatio(x.p50)} (${formatRatio(x.p95)}, ${formatRatio(x.mean)})${mark}`;
            }),
          ];
        }),
      ),
    ),
  );

  log('\nEXPLAIN (ANALYZE) of (a) page, context set, key lines:');
  for (const v of VARIANTS) {
    const lines = plans[v.name]?.page.filter((l) => KEY_LINE.test(l)) ?? [];
    log(`  ${v.name} (${v.login === 'app' ? 'palisade_app' : BENCH_BYPASS_ROLE}):`);
    for (const line of lines) log(`    ${line.trim()}`);
  }
  const rlsKeepsIndex = plans.rls?.page.some((l) => INDEX_COND_ON_WORKSPACE.test(l)) ?? false;

  const rlsPage = find('rls', 'page')?.ratioToExplicit.tx;
  const rlsLookup = find('rls', 'lookup')?.ratioToExplicit.tx;
  if (rlsPage === undefined || rlsLookup === undefined) throw new Error('no rls results');
  return {
    results,
    target: {
      ratio: TARGET_RATIO,
      metric: 'rls/explicit, whole transaction, p50',
      rlsPage,
      rlsLookup,
      met: rlsPage.p50 <= TARGET_RATIO && rlsLookup.p50 <= TARGET_RATIO,
    },
    rlsKeepsIndex,
  };
}
