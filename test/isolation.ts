import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { TENANT_SCHEMAS } from '../src/db/lint.ts';
import type { Database } from '../src/db/database.ts';
import type { Row, Sql } from '../src/db/types.ts';
import { sqlState } from './db.ts';

interface Column {
  name: string;
  type: string;
  notnull: boolean;
  hasDefault: boolean;
  fkTable: string | null;
  fkColumn: string | null;
}

export interface TenantTable {
  name: string;
  columns: Column[];
  primaryKey: string[];
}

/** Every table in the tenant schemas, read from the catalog: nothing is listed by hand. */
export async function tenantTables(sql: Sql): Promise<TenantTable[]> {
  const { rows } = await sql.query<{ tbl: string; columns: Column[]; pk: string[] | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS tbl,
            (SELECT json_agg(json_build_object(
                      'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notnull', a.attnotnull,
                      'hasDefault', a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
                      'fkTable', (SELECT format('%I.%I', fn.nspname, fc.relname) FROM pg_constraint k
                                    JOIN pg_class fc ON fc.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
                                   WHERE k.conrelid = c.oid AND k.contype = 'f' AND a.attnum = ANY(k.conkey)
                                     AND a.attname <> 'workspace_id' LIMIT 1),
                      'fkColumn', (SELECT fa.attname FROM pg_constraint k
                                     JOIN unnest(k.conkey, k.confkey) AS x(src, dst) ON x.src = a.attnum
                                     JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = x.dst
                                    WHERE k.conrelid = c.oid AND k.contype = 'f' AND a.attname <> 'workspace_id' LIMIT 1))
                    ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey, a.attnum))
               FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
              WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
      ORDER BY 1`,
    [TENANT_SCHEMAS],
  );
  return rows.map((r) => ({ name: r.tbl, columns: r.columns, primaryKey: r.pk ?? [] }));
}

/** A value of the column's type that satisfies the usual CHECKs (lower-case identifiers). */
function sampleValue(type: string): unknown {
  const word = `k${randomBytes(4).toString('hex')}`;
  if (type === 'uuid') return randomUUID();
  if (type === 'text' || type.startsWith('character')) return word;
  if (type === 'jsonb' || type === 'json') return {};
  if (['integer', 'bigint', 'smallint'].includes(type) || type.startsWith('numeric')) return 1 + Math.floor(Math.random() * 1000);
  if (type === 'boolean') return false;
  if (type.startsWith('timestamp') || type === 'date') return new Date();
  if (type === 'inet') return '192.0.2.1';
  if (type === 'bytea') return Buffer.from(word);
  throw new Error(`the isolation harness has no sample for type ${type}; pass a sample row for this table`);
}

export type Samples = Readonly<Record<string, (workspaceId: string) => Row>>;

/**
 * Inserts one row into `table` as the given workspace, through the app path, creating parent rows
 * for NOT NULL foreign keys first. Returns the row's primary key.
 */
async function insertRow(tx: Sql, tables: Map<string, TenantTable>, table: TenantTable, ws: string, samples: Samples): Promise<Row> {
  const row: Row = samples[table.name]?.(ws) ?? {};
  for (const col of table.columns) {
    if (col.name in row) continue;
    if (col.name === 'workspace_id') row[col.name] = ws;
    else if (col.fkTable !== null && col.fkColumn !== null && col.notnull && tables.has(col.fkTable)) {
      const parentTable = tables.get(col.fkTable);
      if (parentTable === undefined) continue;
      const parent = await insertRow(tx, tables, parentTable, ws, samples);
      row[col.name] = parent[col.fkColumn];
    } else if (col.notnull && (!col.hasDefault || table.primaryKey.includes(col.name))) {
      row[col.name] = sampleValue(col.type);
    }
  }
  const names = Object.keys(row);
  const text = `INSERT INTO ${table.name} (${names.map((n) => `"${n}"`).join(', ')})
                VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})
                RETURNING ${table.primaryKey.map((n) => `"${n}"`).join(', ')}`;
  const { rows } = await tx.query(text, names.map((n) => row[n]));
  const key = rows[0];
  if (key === undefined) throw new Error(`${table.name}: INSERT … RETURNING gave no row`);
  return key;
}

function where(table: TenantTable, key: Row, offset = 0): { text: string; params: unknown[] } {
  return {
    text: table.primaryKey.map((c, i) => `"${c}" = $${i + 1 + offset}`).join(' AND '),
    params: table.primaryKey.map((c) => key[c]),
  };
}

/**
 * ISO-6: for every tenant table, rows in workspaces A and B, then under A: B's rows are invisible,
 * cannot be updated or deleted, cannot be inserted into B or moved to B; with no context nothing
 * is visible and nothing can be written. Returns the tables it checked.
 */
export async function assertTenantIsolation(options: {
  db: Database;
  /** A superuser: reads the catalog, and seeds tables the app may not insert into. */
  admin: Sql;
  workspaceA: string;
  workspaceB: string;
  samples?: Samples;
}): Promise<string[]> {
  const { db, admin, workspaceA: a, workspaceB: b } = options;
  const samples = options.samples ?? {};
  const all = await tenantTables(admin);
  const byName = new Map(all.map((t) => [t.name, t]));
  for (const table of all) {
    const label = (what: string) => `${table.name}: ${what}`;
    expect(table.primaryKey.length, label('needs a primary key for the harness')).toBeGreaterThan(0);
    const can = async (privilege: string) =>
      (await admin.query<{ ok: boolean }>(`SELECT has_table_privilege('palisade_app', $1, $2) AS ok`, [table.name, privilege])).rows[0]?.ok === true;
    const [canInsert, canUpdate, canDelete] = [await can('INSERT'), await can('UPDATE'), await can('DELETE')];
    // Rows go in through the app path where the app may insert; append-only tables written only
    // by privileged routines (checkpoints, deletion certificates) are seeded by the superuser.
    const seed = (ws: string) =>
      canInsert ? db.withWorkspace({ workspaceId: ws }, (tx) => insertRow(tx, byName, table, ws, samples)) : insertRow(admin, byName, table, ws, samples);
    const keyA = await seed(a);
    const keyB = await seed(b);
    const inB = where(table, keyB);
    // Without the privilege the statement is refused outright, which is stronger than 0 rows.
    const touches = async (statement: Promise<{ rowCount: number }>, granted: boolean) =>
      granted ? (await statement).rowCount : sqlState(statement);

    await db.withWorkspace({ workspaceId: a }, async (tx) => {
      const seen = await tx.query<{ workspace_id: string }>(`SELECT DISTINCT workspace_id::text FROM ${table.name}`);
      expect(seen.rows.map((r) => r.workspace_id), label('A sees only A')).toEqual([a]);
      const direct = await tx.query(`SELECT 1 FROM ${table.name} WHERE workspace_id = $1`, [b]);
      expect(direct.rowCount, label("A cannot select B's rows by workspace_id")).toBe(0);
      const byKey = await tx.query(`SELECT 1 FROM ${table.name} WHERE ${inB.text}`, inB.params);
      expect(byKey.rowCount, label("A cannot select B's row by key")).toBe(0);
    });
    // Separate transactions: a refused statement aborts its transaction.
    const updated = await touches(
      db.withWorkspace({ workspaceId: a }, (tx) => tx.query(`UPDATE ${table.name} SET workspace_id = workspace_id WHERE ${inB.text}`, inB.params)),
      canUpdate,
    );
    expect(updated, label("A's UPDATE of B's row touches nothing")).toBe(canUpdate ? 0 : '42501');
    const deleted = await touches(
      db.withWorkspace({ workspaceId: a }, (tx) => tx.query(`DELETE FROM ${table.name} WHERE ${inB.text}`, inB.params)),
      canDelete,
    );
    expect(deleted, label("A's DELETE of B's row touches nothing")).toBe(canDelete ? 0 : '42501');
    const intoB = db.withWorkspace({ workspaceId: a }, (tx) => insertRow(tx, byName, table, b, samples));
    expect(await sqlState(intoB), label("A cannot INSERT with B's workspace_id")).toBe('42501');
    const inA = where(table, keyA, 1);
    const moveToB = db.withWorkspace({ workspaceId: a }, (tx) =>
      tx.query(`UPDATE ${table.name} SET workspace_id = $1 WHERE ${inA.text}`, [b, ...inA.params]),
    );
    expect(await sqlState(moveToB), label("A cannot move its row into B")).toBe('42501');

    const none = await db.query(`SELECT 1 FROM ${table.name}`);
    expect(none.rowCount, label('no context sees no rows')).toBe(0);
    // Database.query is a plain statement as palisade_app with no workspace: the forgotten scope.
    const noContextInsert = insertRow(db, byName, table, a, samples);
    expect(await sqlState(noContextInsert), label('no context cannot write')).toBe('42501');

    await db.withWorkspace({ workspaceId: b }, async (tx) => {
      const still = await tx.query(`SELECT 1 FROM ${table.name} WHERE ${inB.text}`, inB.params);
      expect(still.rowCount, label("B's row is intact")).toBe(1);
    });
  }
  return all.map((t) => t.name);
}
