import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { OwnerSession } from './types.ts';

export interface Migration {
  /** `<module>/<file>`, e.g. `tenancy/0001_kernel.sql`. */
  id: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {}

const FILE = /^\d{4}_[a-z0-9_]+\.sql$/;

/** Reads a module's numbered `.sql` files in order. */
export async function readMigrations(moduleId: string, dir: URL): Promise<Migration[]> {
  const files = (await readdir(fileURLToPath(dir))).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    if (!FILE.test(file)) {
      throw new MigrationError(`migration file ${moduleId}/${file} must be named NNNN_name.sql`);
    }
    const sql = await readFile(new URL(file, dir), 'utf8');
    migrations.push({ id: `${moduleId}/${file}`, sql, checksum: sha256(sql) });
  }
  return migrations;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Any key works as long as every Palisade process uses the same one. */
const LOCK_KEY = 0x70616c69; // "pali"

/**
 * Applies pending migrations in order, each in its own transaction, under a session advisory lock
 * so that concurrent runs (two servers starting at once) apply each file exactly once. A file that
 * was applied and has since changed is refused: released migrations are frozen.
 *
 * @returns the ids applied by this run
 */
export async function migrate(owner: OwnerSession, migrations: readonly Migration[]): Promise<string[]> {
  const ids = new Set<string>();
  for (const m of migrations) {
    if (ids.has(m.id)) throw new MigrationError(`migration ${m.id} is listed twice`);
    ids.add(m.id);
  }
  await owner.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
  try {
    await owner.script(`
      CREATE SCHEMA IF NOT EXISTS palisade_private;
      CREATE TABLE IF NOT EXISTS palisade_private.migrations (
        id         text PRIMARY KEY,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );`);
    const applied = new Map(
      (await owner.query<{ id: string; checksum: string }>('SELECT id, checksum FROM palisade_private.migrations'))
        .rows.map((r) => [r.id, r.checksum]),
    );
    for (const [id] of applied) {
      if (!ids.has(id)) throw new MigrationError(`migration ${id} was applied but is no longer shipped`);
    }
    const done: string[] = [];
    for (const m of migrations) {
      const checksum = applied.get(m.id);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) {
          throw new MigrationError(
            `migration ${m.id} was changed after it was applied (checksum ${checksum.slice(0, 12)}… in the ` +
              `database, ${m.checksum.slice(0, 12)}… on disk): released migrations are frozen, add a new file`,
          );
        }
        continue;
      }
      await owner.script('BEGIN');
      try {
        await owner.script(m.sql);
        await owner.query('INSERT INTO palisade_private.migrations (id, checksum) VALUES ($1, $2)', [m.id, m.checksum]);
        await owner.script('COMMIT');
      } catch (error) {
        await owner.script('ROLLBACK');
        const message = error instanceof Error ? error.message : String(error);
        throw new MigrationError(`migration ${m.id} failed: ${message}`, { cause: error });
      }
      done.push(m.id);
    }
    return done;
  } finally {
    await owner.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
  }
}
