import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import { parseArgs } from 'node:util';

/** What `npm run bench -- <name>` runs: parses its own options from `argv`. */
export interface BenchModule {
  run(argv: readonly string[]): Promise<void>;
}

/** Latency summary in milliseconds. */
export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/**
 * The p-th percentile (0–100) of sorted samples, interpolating linearly between ranks, so that
 * p50 of an even count is the usual median rather than one of the two middle samples.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (rank - lo);
}

export function summarize(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((x, y) => x - y);
  const sum = sorted.reduce((acc, x) => acc + x, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Milliseconds since an arbitrary origin, sub-microsecond resolution. */
export const now = (): number => performance.now();

/** Runs `fn` and returns how long it took in milliseconds, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = now();
  const value = await fn();
  return { ms: now() - start, value };
}

export const ratio = (value: number, baseline: number): number => value / baseline;

/** A latency for a table cell: three significant decimals below 10 ms, fewer above. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 10) return ms.toFixed(3);
  if (ms < 1000) return ms.toFixed(1);
  return ms.toFixed(0);
}

export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return r < 100 ? r.toFixed(2) : r.toFixed(0);
}

/** Rounds figures written to JSON to 0.1 µs: more digits would be noise, fewer would hide it. */
export function roundStats(s: Stats): Stats {
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  return { n: s.n, p50: r(s.p50), p95: r(s.p95), p99: r(s.p99), mean: r(s.mean), min: r(s.min), max: r(s.max) };
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned; names left-aligned. */
  align?: 'left' | 'right';
}

/** A plain-text table with a header rule, for terminals and CI logs alike. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return c.align === 'left' ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join(
    '\n',
  );
}

/** Where this run happened, so that figures from different machines are not compared blindly. */
export function machine(): { node: string; platform: string; cpus: number; cpuModel: string; memoryGb: number } {
  const list = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
  };
}

/** Writes `bench/results/<name>.json` (gitignored) and returns its path. */
export async function writeResults(name: string, data: unknown): Promise<string> {
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`, 'utf8');
  return file.pathname;
}

/** Parses a positive integer option, naming the option in the error. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Bad command-line input: the dispatcher prints the message and usage, without a stack trace. */
export class UsageError extends Error {}

/** The PostgreSQL administrator URL benches create their databases with. */
export function benchAdminUrl(): string {
  return process.env.PALISADE_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** A bench's options: strict, no positionals; parseArgs's complaints become UsageErrors. */
export function parseBenchArgs<const O extends Record<string, { type: 'string' } | { type: 'boolean' }>>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * A client that survives the server terminating it (DROP DATABASE … WITH (FORCE) on ctrl-c): an
 * unhandled 'error' event would otherwise crash the process before the drop finishes.
 */
export async function connectClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

const execFileAsync = promisify(execFile);

/**
 * Pids of processes whose command line matches `pattern` (`pgrep -f`, an extended regular
 * expression), this process excepted. execFile, not a shell: a shell's own command line, which
 * contains the pattern, would match.
 */
export async function runningProcesses(pattern: string): Promise<number[]> {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-f', pattern]);
    return stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch (error) {
    // pgrep exits 1 when nothing matches.
    if ((error as { code?: unknown }).code === 1) return [];
    throw error;
  }
}

/**
 * Waits (however long) until no process matches `pattern`, polling every 2 s; `onWait` is told
 * the matching pids at most every 30 s. Returns how long it waited (ms).
 */
export async function waitUntilNoneRunning(pattern: string, onWait: (pids: number[]) => void): Promise<number> {
  const start = now();
  let lastTold = -Infinity;
  for (;;) {
    const pids = await runningProcesses(pattern);
    if (pids.length === 0) return now() - start;
    if (now() - lastTold > 30_000) {
      onWait(pids);
      lastTold = now();
    }
    await sleep(2000);
  }
}
