import { readFile } from 'node:fs/promises';
import pg from 'pg';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

async function sqlFile(name: 'roles.sql' | 'database.sql', database: string): Promise<string> {
  if (!IDENTIFIER.test(database)) {
    throw new Error(`database name must match ${IDENTIFIER.source}, got ${JSON.stringify(database)}`);
  }
  const text = await readFile(new URL(`./sql/${name}`, import.meta.url), 'utf8');
  return text.replaceAll(':"database"', `"${database}"`);
}

/** The SQL an administrator runs once per cluster (roles) and once per database (hardening). */
export async function setupScripts(database: string): Promise<{ roles: string; database: string }> {
  return { roles: await sqlFile('roles.sql', database), database: await sqlFile('database.sql', database) };
}

export interface ServerSetupOptions {
  /** A superuser (or CREATEROLE + CREATEDB) connection string, any database. */
  adminUrl: string;
  /** @default 'palisade' */
  database?: string;
  /** Passwords to set on the login roles; left unchanged when undefined (trust/peer auth). */
  appPassword?: string | undefined;
  ownerPassword?: string | undefined;
}

/**
 * Creates (or repairs) the roles and the database on a PostgreSQL server. Idempotent.
 * @returns the connection strings the app and the migrations use, without passwords
 */
export async function setupServer(options: ServerSetupOptions): Promise<{ appUrl: string; ownerUrl: string }> {
  const database = options.database ?? 'palisade';
  const scripts = await setupScripts(database);
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  try {
    await admin.query(scripts.roles);
    await admin.query('ALTER ROLE palisade_owner LOGIN');
    await admin.query('ALTER ROLE palisade_app LOGIN');
    for (const [role, password] of [
      ['palisade_app', options.appPassword],
      ['palisade_owner', options.ownerPassword],
    ] as const) {
      if (password === undefined) continue;
      // ALTER ROLE takes no bind parameters; quote_literal on the server builds the statement.
      const { rows } = await admin.query<{ stmt: string }>(
        `SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text) AS stmt`,
        [role, password],
      );
      await admin.query(rows[0]?.stmt ?? '');
    }
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database}" OWNER palisade_owner`);
  } finally {
    await admin.end();
  }
  const target = new URL(options.adminUrl);
  target.pathname = `/${database}`;
  const dbAdmin = new pg.Client({ connectionString: target.toString() });
  await dbAdmin.connect();
  try {
    await dbAdmin.query(scripts.database);
  } finally {
    await dbAdmin.end();
  }
  const url = (user: string) => {
    const u = new URL(target.toString());
    u.username = user;
    u.password = '';
    return u.toString();
  };
  return { appUrl: url('palisade_app'), ownerUrl: url('palisade_owner') };
}

/** Drops a database created for a test or CI run (roles are shared by the cluster and kept). */
export async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  if (!IDENTIFIER.test(database)) throw new Error(`bad database name ${JSON.stringify(database)}`);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
