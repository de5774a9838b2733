import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Database } from '../db/database.ts';
import { EmbeddedDriver } from '../db/embedded.ts';
import { openTestDatabase, type AdminSql } from '../../test/db.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs the burst writer until it has reported `commits` commits, then kills it with SIGKILL. */
async function burstAndKill(args: string[], commits: number): Promise<{ ws: string; committed: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/write-burst.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let ws = '';
  const committed: string[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let buffer = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('ws ')) ws = line.slice(3);
        if (line.startsWith('committed ')) committed.push(line.slice(10));
      }
      if (committed.length >= commits) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the writer exited early (${code ?? signal}): ${stderr}`));
    });
  });
  await new Promise((resolve) => child.once('close', resolve));
  return { ws, committed };
}

/** Every change has its audit row and every audit row its change; every reported commit is there. */
async function assertConsistent(admin: AdminSql, ws: string, committed: string[]): Promise<void> {
  const { rows } = await admin.query<{ rows: string; events: string; orphans: string; missing: string; dupes: string }>(
    `SELECT (SELECT count(*) FROM tenant.departments WHERE workspace_id = $1) AS rows,
            (SELECT count(*) FROM tenant.audit_events WHERE workspace_id = $1 AND event_type = 'data.created'
                AND table_name = 'tenant.departments') AS events,
            (SELECT count(*) FROM tenant.audit_events e WHERE e.workspace_id = $1 AND e.table_name = 'tenant.departments'
                AND NOT EXISTS (SELECT FROM tenant.departments d WHERE d.workspace_id = $1 AND d.id::text = e.record_id)) AS orphans,
            (SELECT count(*) FROM tenant.departments d WHERE d.workspace_id = $1
                AND NOT EXISTS (SELECT FROM tenant.audit_events e WHERE e.workspace_id = $1 AND e.record_id = d.id::text)) AS missing,
            (SELECT count(*) FROM (SELECT record_id FROM tenant.audit_events WHERE workspace_id = $1 AND table_name = 'tenant.departments'
                GROUP BY record_id HAVING count(*) > 1) x) AS dupes`,
    [ws],
  );
  const r = rows[0];
  expect(r).toMatchObject({ orphans: '0', missing: '0', dupes: '0' });
  expect(r?.events).toBe(r?.rows);
  const present = await admin.query<{ n: string }>(
    'SELECT count(*) AS n FROM tenant.departments WHERE workspace_id = $1 AND id = ANY($2::uuid[])',
    [ws, `{${committed.join(',')}}`],
  );
  expect(Number(present.rows[0]?.n)).toBe(committed.length);
  expect(Number(r?.rows)).toBeGreaterThanOrEqual(committed.length);
}

describe('AUD-3 a crash mid-burst leaves no change without its audit row, and no row without its change', () => {
  it('kill -9 of the writing process', async () => {
    const target = inject('target');
    if (target.kind === 'server') {
      const { ws, committed } = await burstAndKill(['server', target.appUrl ?? '', target.ownerUrl ?? ''], 200);
      const t = await openTestDatabase();
      cleanups.push(() => t.close());
      await assertConsistent(t.admin, ws, committed);
      return;
    }
    // Embedded: the killed process held the data folder; reopening it runs PostgreSQL's recovery.
    const dir = await mkdtemp(join(tmpdir(), 'palisade-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { ws, committed } = await burstAndKill(['embedded', dir], 100);
    const driver = await EmbeddedDriver.open({ dataDir: dir });
    const db = await Database.open(driver);
    cleanups.push(() => db.close());
    await assertConsistent(driver.admin(), ws, committed);
  });
});
