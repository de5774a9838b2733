import { mkdir } from 'node:fs/promises';
import type { DatabaseConfig } from '../config.ts';
import type { ModuleDefinition } from '../kernel/module.ts';
import { Database } from './database.ts';
import { EmbeddedDriver } from './embedded.ts';
import { migrate, readMigrations, type Migration } from './migrate.ts';
import { ServerDriver } from './server.ts';
import { setupScripts } from './setup.ts';
import type { Driver } from './types.ts';

/** All migrations of the given modules, module by module, each module's files in order. */
export async function collectMigrations(modules: readonly ModuleDefinition[]): Promise<Migration[]> {
  const all: Migration[] = [];
  for (const module of modules) {
    if (module.migrations !== undefined) all.push(...(await readMigrations(module.id, module.migrations)));
  }
  return all;
}

/**
 * Creates the roles and hardens the embedded database; idempotent, run at every start. PGlite's
 * single session is a superuser, which is what this needs and why the app handle is guarded.
 */
export async function bootstrapEmbedded(driver: EmbeddedDriver): Promise<void> {
  const admin = driver.admin();
  const { rows } = await admin.query<{ name: string }>('SELECT current_database() AS name');
  const scripts = await setupScripts(rows[0]?.name ?? 'postgres');
  await admin.script(scripts.roles);
  await admin.script(scripts.database);
}

/** Applies the modules' pending migrations through an owner session. */
export async function migrateDriver(driver: Driver, modules: readonly ModuleDefinition[]): Promise<string[]> {
  const migrations = await collectMigrations(modules);
  const owner = await driver.owner();
  try {
    return await migrate(owner, migrations);
  } finally {
    await owner.release();
  }
}

/** Opens the configured database, brings it up to date, and returns it ready for requests. */
export async function openDatabase(options: {
  config: DatabaseConfig;
  modules: readonly ModuleDefinition[];
}): Promise<{ db: Database; applied: string[] }> {
  const { config, modules } = options;
  let driver: Driver;
  if (config.kind === 'embedded') {
    // The folder holds every workspace's data: owner-only, whatever the umask.
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const embedded = await EmbeddedDriver.open({ dataDir: config.dataDir });
    await bootstrapEmbedded(embedded);
    driver = embedded;
  } else {
    driver = new ServerDriver({ url: config.url, ownerUrl: config.ownerUrl, max: config.poolSize });
  }
  try {
    const applied = await migrateDriver(driver, modules);
    return { db: await Database.open(driver), applied };
  } catch (error) {
    await driver.close();
    throw error;
  }
}
