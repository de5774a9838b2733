/**
 * `npm run bench -- <name> [options]`: runs one benchmark. Benches are imported lazily, so that a
 * typo prints the list without first loading drivers or touching a database.
 */
import { UsageError, type BenchModule } from './lib.ts';

interface BenchEntry {
  description: string;
  options: readonly string[];
  load: () => Promise<BenchModule>;
}

const benches: Readonly<Record<string, BenchEntry>> = {
  rls: {
    description: 'RLS-scoped tenant queries vs. an explicit workspace filter (PostgreSQL server)',
    options: [
      '--workspaces N   workspaces to create (1000; 10000 for the large run)',
      '--rows N         rows per workspace (1000)',
      '--iterations N   measured operations per variant and query (2000)',
      '--warmup N       warm-up operations per variant and query (200, at most 3 s)',
      '--budget S       seconds allowed per slow variant and query; fewer iterations then (20)',
      'env PALISADE_BENCH_ADMIN_URL   superuser URL (postgres://postgres@127.0.0.1:5432/postgres)',
    ],
    load: () => import('./rls.ts'),
  },
  audit: {
    description: 'audit trail cost: write throughput unaudited/audited/chained, sealing and verify speed (PostgreSQL server)',
    options: [
      '--seconds N      measured seconds per cell, in 4 alternating slices (8)',
      '--warmup MS      unmeasured warm-up before each slice, milliseconds (500)',
      '--workspaces N   workspaces of the "many" layout and of the verify events (100)',
      '--events N       events to seal and verify; fewer if sealing would exceed 180 s (1000000)',
      'env PALISADE_BENCH_ADMIN_URL   superuser URL (postgres://postgres@127.0.0.1:5432/postgres)',
    ],
    load: () => import('./audit.ts'),
  },
  http: {
    description: 'HTTP throughput and latency: bare Fastify + pg vs. Palisade\'s full request path; sign-in vs. raw argon2id (PostgreSQL server)',
    options: [
      '--seconds N      measured seconds per row (10)',
      '--warmup N       unmeasured warm-up seconds before each row (2)',
      '--connections N  autocannon connections (10)',
      '--pool N         database pool size, bare and Palisade alike (10)',
      '--no-breakdown   skip the rows that add Palisade\'s layers one at a time (6 rows fewer)',
      'env PALISADE_BENCH_ADMIN_URL   superuser URL (postgres://postgres@127.0.0.1:5432/postgres)',
    ],
    load: () => import('./http.ts'),
  },
  authz: {
    description: 'authorization decisions per second and per-decision p50/p99, RBAC and RBAC+ABAC (expense approval), beside CASL on the same rules and inputs (no database)',
    options: [
      '--rounds N       measured rounds; engines alternate every 20 batches within a round (5)',
      '--decisions N    decisions per engine per round (1000000)',
      '--batch N        decisions per timed batch; per-decision p50/p99 come from batch times (1000)',
      '--warmup N       unmeasured decisions per engine before the rounds (500000)',
      '--members N      members, each with a system role and 0-3 predefined roles (1000)',
      '--seed N         seed of the generated members, claims and inputs (1)',
    ],
    load: () => import('./authz.ts'),
  },
};

function usage(): string {
  const names = Object.keys(benches);
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.flatMap((name) => {
    const entry = benches[name];
    if (entry === undefined) return [];
    return [`  ${name.padEnd(width)}  ${entry.description}`, ...entry.options.map((o) => `  ${' '.repeat(width)}    ${o}`)];
  });
  return ['usage: npm run bench -- <name> [options]', '', 'benches:', ...lines].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  // Object.hasOwn: a name like "constructor" must not resolve through the prototype.
  const entry = name !== undefined && Object.hasOwn(benches, name) ? benches[name] : undefined;
  if (name === undefined || entry === undefined) {
    console.error(name === undefined ? 'no bench given' : `unknown bench ${JSON.stringify(name)}`);
    console.error(usage());
    return 2;
  }
  const bench = await entry.load();
  try {
    await bench.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      console.error(usage());
      return 2;
    }
    throw error;
  }
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
