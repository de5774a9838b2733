import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { Database } from '../src/db/database.ts';
import { EmbeddedDriver } from '../src/db/embedded.ts';
import { bootstrapEmbedded } from '../src/db/open.ts';
import { ServerDriver } from '../src/db/server.ts';
import { dropDatabase, setupServer } from '../src/db/setup.ts';
import type { Driver, OwnerSession, QueryResult, Row, Sql } from '../src/db/types.ts';

/** A superuser session on the test database: plays the database administrator (or attacker). */
export interface AdminSql extends Sql {
  script(text: string): Promise<void>;
}

export interface TestDatabase {
  kind: 'embedded' | 'server';
  db: Database;
  driver: Driver;
  admin: AdminSql;
  owner(): Promise<OwnerSession>;
  /**
   * A raw, long-lived session as palisade_app with no helper around it, like a forgotten
   * `pool.query()` on a pooled connection. Embedded: the single PGlite session after
   * `SET ROLE palisade_app` (closing it resets the role).
   */
  rawAppSession(): Promise<Sql & { close(): Promise<void> }>;
  close(): Promise<void>;
}

/**
 * Opens the run's database for one test file (see test/global-setup.ts).
 * @param options.poolSize server connections for requests @default 4
 */
export async function openTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const target = inject('target');
  if (target.kind === 'embedded') {
    if (target.template === undefined) throw new Error('global setup did not provide the embedded template');
    const blob = new Blob([await readFile(target.template)]);
    const driver = await EmbeddedDriver.open({ loadDataDir: blob });
    const db = await Database.open(driver);
    const admin = driver.admin();
    return {
      kind: 'embedded',
      db,
      driver,
      admin,
      owner: () => driver.owner(),
      async rawAppSession() {
        await admin.script('SET ROLE palisade_app');
        return {
          query: (text, params) => admin.query(text, params),
          close: () => admin.script('RESET ROLE'),
        };
      },
      close: () => db.close(),
    };
  }
  if (target.appUrl === undefined || target.ownerUrl === undefined) throw new Error('global setup did not provide URLs');
  const appUrl = target.appUrl;
  const driver = new ServerDriver({ url: appUrl, ownerUrl: target.ownerUrl, max: options.poolSize ?? 4 });
  const db = await Database.open(driver);
  const adminUrl = new URL(target.adminUrl);
  adminUrl.pathname = new URL(appUrl).pathname;
  const adminClient = new pg.Client({ connectionString: adminUrl.toString() });
  await adminClient.connect();
  const admin: AdminSql = {
    query: async <R extends object = Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
      const r = await adminClient.query<R>(text, [...params]);
      return { rows: r.rows, rowCount: r.rowCount ?? r.rows.length };
    },
    script: async (text) => {
      await adminClient.query(text);
    },
  };
  return {
    kind: 'server',
    db,
    driver,
    admin,
    owner: () => driver.owner(),
    async rawAppSession() {
      const client = new pg.Client({ connectionString: appUrl });
      await client.connect();
      return {
        query: async <R extends object = Row>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
          const r = await client.query<R>(text, [...params]);
          return { rows: r.rows, rowCount: r.rowCount ?? r.rows.length };
        },
        close: () => client.end(),
      };
    },
    async close() {
      await adminClient.end();
      await db.close();
    },
  };
}

/** A unique slug, so that test files sharing a server database never collide. */
export function uniqueSlug(prefix = 'ws'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** Creates a workspace through the guarded bypass, as the first-run setup will. */
export async function createWorkspace(db: Database, name = 'Test workspace'): Promise<string> {
  const id = randomUUID();
  await db.withSystem('test: create workspace', (tx) =>
    tx.query('INSERT INTO central.workspaces (id, slug, name) VALUES ($1, $2, $3)', [id, uniqueSlug(), name]),
  );
  return id;
}

/** Creates an account (no password) through the guarded bypass; returns its id. */
export async function createUser(db: Database, email = `${uniqueSlug('user')}@example.com`): Promise<string> {
  const { rows } = await db.withSystem('test: create user', (tx) =>
    tx.query<{ id: string }>('INSERT INTO central.users (email, email_normalized) VALUES ($1, $1) RETURNING id', [email]),
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('user insert returned nothing');
  return id;
}

/** The SQLSTATE of a rejected promise, or a failure if it resolved. */
export async function sqlState(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : `not a database error: ${String(error)}`;
  }
  throw new Error('expected the statement to fail, but it succeeded');
}

/**
 * An empty, unmigrated database of the run's kind (roles and hardening applied), for tests that
 * exercise migrations themselves. Server: a new database, dropped by `drop()`.
 */
export async function freshDriver(): Promise<{ driver: Driver; drop(): Promise<void>; second?: () => Driver }> {
  const target = inject('target');
  if (target.kind === 'embedded') {
    const driver = await EmbeddedDriver.open({});
    await bootstrapEmbedded(driver);
    return { driver, drop: () => driver.close() };
  }
  const name = `palisade_fresh_${randomBytes(4).toString('hex')}`;
  const { appUrl, ownerUrl } = await setupServer({ adminUrl: target.adminUrl, database: name });
  const drivers: Driver[] = [];
  const make = () => {
    const d = new ServerDriver({ url: appUrl, ownerUrl, max: 2 });
    drivers.push(d);
    return d;
  };
  return {
    driver: make(),
    second: make,
    async drop() {
      for (const d of drivers) await d.close();
      await dropDatabase(target.adminUrl, name);
    },
  };
}
