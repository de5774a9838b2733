import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freshDriver } from '../../test/db.ts';
import { coreModules } from '../modules.ts';
import { migrate, MigrationError, readMigrations, type Migration } from './migrate.ts';
import { collectMigrations, migrateDriver } from './open.ts';
import type { Driver } from './types.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fresh(): Promise<Awaited<ReturnType<typeof freshDriver>>> {
  const f = await freshDriver();
  cleanups.push(() => f.drop());
  return f;
}

async function scratchModule(files: Record<string, string>): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), 'palisade-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return pathToFileURL(`${dir}/`);
}

async function run(driver: Driver, migrations: Migration[]): Promise<string[]> {
  const owner = await driver.owner();
  try {
    return await migrate(owner, migrations);
  } finally {
    await owner.release();
  }
}

async function tableExists(driver: Driver, name: string): Promise<boolean> {
  const owner = await driver.owner();
  try {
    const { rows } = await owner.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
    return rows[0]?.ok === true;
  } finally {
    await owner.release();
  }
}

describe('migrations: numbered, checksummed, frozen', () => {
  it('applies every module in order once; a second run applies nothing', async () => {
    const { driver } = await fresh();
    const all = (await collectMigrations(coreModules)).map((m) => m.id);
    expect(await migrateDriver(driver, coreModules)).toEqual(all);
    expect(await migrateDriver(driver, coreModules)).toEqual([]);
  });

  it('refuses a migration that changed after it was applied, naming it', async () => {
    const { driver } = await fresh();
    const dir = await scratchModule({ '0001_one.sql': 'CREATE TABLE palisade_private.scratch_one (id int);' });
    await run(driver, await readMigrations('scratch', dir));
    await writeFile(new URL('0001_one.sql', dir), 'CREATE TABLE palisade_private.scratch_one (id bigint);');
    const error = await run(driver, await readMigrations('scratch', dir)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(/scratch\/0001_one\.sql was changed after it was applied/);
  });

  it('refuses when an applied migration is no longer shipped', async () => {
    const { driver } = await fresh();
    const dir = await scratchModule({ '0001_one.sql': 'SELECT 1;' });
    await run(driver, await readMigrations('scratch', dir));
    await expect(run(driver, [])).rejects.toThrow(/scratch\/0001_one\.sql was applied but is no longer shipped/);
  });

  it('a failing migration leaves nothing half-applied', async () => {
    const { driver } = await fresh();
    const dir = await scratchModule({
      '0001_ok.sql': 'CREATE TABLE palisade_private.scratch_ok (id int);',
      '0002_bad.sql': 'CREATE TABLE palisade_private.scratch_half (id int); SELECT no_such_function();',
    });
    await expect(run(driver, await readMigrations('scratch', dir))).rejects.toThrow(/scratch\/0002_bad\.sql failed/);
    expect(await tableExists(driver, 'palisade_private.scratch_ok')).toBe(true);
    expect(await tableExists(driver, 'palisade_private.scratch_half')).toBe(false);
    // Fixed in place (it never applied), it now goes through.
    await writeFile(new URL('0002_bad.sql', dir), 'CREATE TABLE palisade_private.scratch_half (id int);');
    expect(await run(driver, await readMigrations('scratch', dir))).toEqual(['scratch/0002_bad.sql']);
  });

  it('refuses badly named files and duplicate ids', async () => {
    const dir = await scratchModule({ 'one.sql': 'SELECT 1;' });
    await expect(readMigrations('scratch', dir)).rejects.toThrow(/must be named NNNN_name\.sql/);
    const { driver } = await fresh();
    const m = { id: 'scratch/0001_a.sql', sql: 'SELECT 1;', checksum: 'x' };
    await expect(run(driver, [m, m])).rejects.toThrow(/listed twice/);
  });

  it('concurrent runs apply each migration exactly once (advisory lock)', async () => {
    const f = await fresh();
    // Embedded: one process owns the data folder, so "concurrent" means interleaved calls on it;
    // on a server these are two independent connections racing for the lock.
    const other = f.second?.() ?? f.driver;
    const [first, second] = await Promise.all([migrateDriver(f.driver, coreModules), migrateDriver(other, coreModules)]);
    const all = (await collectMigrations(coreModules)).map((m) => m.id);
    expect([...first, ...second].sort()).toEqual([...all].sort());
  });
});
