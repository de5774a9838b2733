import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const USAGE = /^Usage: npm run palisade -- <command> \[options\]$/m;

/** Settings of the test run itself (CI exports the database URLs) that the CLI must not inherit. */
const FROM_THE_TEST_RUN = new Set(['DATABASE_URL', 'DATABASE_OWNER_URL', 'NODE_ENV', 'PORT', 'LOG_LEVEL', 'BODY_LIMIT']);

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'palisade-cli-'));
});
afterAll(async () => rm(dataDir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `palisade <args>` as a user would, in a clean environment: no database URLs from the test
 * run, an empty temporary data folder, plus `env`.
 */
function palisade(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !FROM_THE_TEST_RUN.has(name)));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT,
      env: { ...base, PALISADE_DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // A hung command is killed; generous, since concurrent runs on a loaded 2-core CI machine each
    // compile with tsx and start a database (a slow start is not a failure of the CLI).
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.concurrent('palisade CLI', { timeout: 150_000 }, () => {
  it('with no command prints the usage on stderr and exits 2', async () => {
    const run = await palisade([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(USAGE);
    expect(run.stderr).toMatch(/^ {2}migrate /m);
    expect(run.stdout).toBe('');
  });

  it('help prints the usage and exits 0', async () => {
    const run = await palisade(['help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(USAGE);
    expect(run.stderr).toBe('');
  });

  it('an unknown command prints the usage on stderr and exits 2', async () => {
    const run = await palisade(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^palisade: unknown command "frobnicate"$/m);
    expect(run.stderr).toMatch(USAGE);
    expect(run.stdout).toBe('');
  });

  it('db without setup exits 2', async () => {
    const run = await palisade(['db']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^palisade: db: the only subcommand is "setup"$/m);
    expect(run.stderr).toMatch(USAGE);
  });

  it('db setup with an unknown option exits 2', async () => {
    const run = await palisade(['db', 'setup', '--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^palisade: Unknown option '--bogus'/m);
  });

  it('db setup without --admin-url exits 2', async () => {
    const run = await palisade(['db', 'setup']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^palisade: db setup: --admin-url is required$/m);
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['DATABASE_OWNER_URL', { DATABASE_URL: 'postgres://palisade_app@127.0.0.1:1/palisade' }],
    ['DATABASE_URL', { NODE_ENV: 'production' }],
  ])('migrate with a bad %s exits 1 naming it, before touching the data folder', async (variable, env) => {
    // A bad setting must stop the process before it opens or creates any database.
    const run = await palisade(['migrate'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^palisade: invalid configuration:$/m);
    expect(run.stderr).toMatch(new RegExp(`^ {2}${variable}: `, 'm'));
    expect(run.stdout).toBe('');
    expect(await readdir(dataDir)).toEqual([]);
  });
});

describe('AUD-5 audit commands, end to end on an embedded data folder', () => {
  // A superuser edit of a sealed event, made while no Palisade process runs, is reported by
  // `audit verify` with exit code 1; the untouched trail verifies with exit code 0.
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'palisade-audit-cli-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  const env = () => ({ PALISADE_DATA_DIR: dir });

  it('seals, exports checkpoints, verifies, then detects a superuser edit', async () => {
    const sealed = await palisade(['audit', 'seal'], env());
    expect(sealed.stderr).toBe('');
    expect(sealed.code).toBe(0);
    expect(sealed.stdout).toMatch(/^sealed \d+ events in 1 workspace\(s\)$/m);

    const file = join(dir, 'checkpoints.json');
    const exported = await palisade(['audit', 'checkpoints', '--out', file], env());
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^wrote 1 checkpoint\(s\) to /m);

    const clean = await palisade(['audit', 'verify', '--checkpoints', file], env());
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/against the exported checkpoints: OK$/m);

    const { EmbeddedDriver } = await import('./db/embedded.ts');
    const driver = await EmbeddedDriver.open({ dataDir: dir });
    try {
      await driver.admin().script(`
        BEGIN;
        ALTER TABLE tenant.audit_events DISABLE TRIGGER audit_immutable;
        UPDATE tenant.audit_events SET reason = 'nothing to see' WHERE seq = 2;
        ALTER TABLE tenant.audit_events ENABLE ALWAYS TRIGGER audit_immutable;
        COMMIT;`);
    } finally {
      await driver.close();
    }
    const tampered = await palisade(['audit', 'verify'], env());
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/✗ seq 2 was altered: its content no longer matches its hash/);
    expect(tampered.stdout).toMatch(/TAMPERING DETECTED$/m);
  }, 150_000);

  it('refuses unknown subcommands and malformed workspace ids with exit code 2', async () => {
    const [bogus, badId, noOut] = await Promise.all([
      palisade(['audit', 'bogus'], env()),
      palisade(['audit', 'verify', '--workspace', "x' OR 1=1"], env()),
      palisade(['audit', 'checkpoints'], env()),
    ]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/audit: the subcommands are verify, seal, checkpoints and purge/);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/--workspace must be a workspace id/);
    expect(noOut.code).toBe(2);
  });
});

describe('AUTH-11 palisade bootstrap', () => {
  it('creates a workspace and prints its owner invitation link; refuses a second one with the same address', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'palisade-bootstrap-'));
    try {
      const first = await palisade(['bootstrap', '--email', 'Owner@Acme.example', '--workspace', 'Acme Corp'], { PALISADE_DATA_DIR: dir });
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^workspace Acme Corp \([0-9a-f-]{36}\) created\./m);
      expect(first.stdout).toMatch(/\/accept-invitation#workspace=[0-9a-f-]{36}&token=[A-Za-z0-9_-]{43}$/m);
      const again = await palisade(['bootstrap', '--email', 'owner@acme.example', '--workspace', 'Acme Corp'], { PALISADE_DATA_DIR: dir });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/workspace address is taken/);
      const bad = await palisade(['bootstrap', '--email', 'a@x.example,b@y.example', '--workspace', 'Other'], { PALISADE_DATA_DIR: dir });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/exactly one e-mail address/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
