import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWorkspace, openTestDatabase, sqlState, type TestDatabase } from '../../test/db.ts';
import { SessionRejected, type RequestCredentials } from './database.ts';
import type { Sql } from './types.ts';

// One connection on the server, so that every transaction here reuses the same one: what a failed
// transaction leaves behind would show in the next.
let t: TestDatabase;
let ws: string;
beforeAll(async () => {
  t = await openTestDatabase({ poolSize: 1 });
  ws = await createWorkspace(t.db);
});
afterAll(async () => t.close());

const onServer = inject('target').kind === 'server';

function credentials(tokenHash: Buffer): RequestCredentials {
  return { tokenHash, workspaceId: ws, ip: null, userAgent: null, route: null, idleTimeoutSeconds: 1800, privilegedMaxAgeSeconds: 7200 };
}

describe('ISO-2 transactions: the pipelined first round trip', () => {
  it('hands the prelude results to the callback, in order, after the role switch', async () => {
    const seen = await t.driver.transaction(
      'palisade_app',
      [
        { text: 'SELECT $1::int AS n', params: [1] },
        { text: 'SELECT $1::text AS s, current_user AS who', params: ['two'] },
      ],
      async (_tx, prelude) => prelude.map((r) => r.rows[0]),
    );
    expect(seen).toEqual([{ n: 1 }, { s: 'two', who: 'palisade_app' }]);
  });

  it('a session check that fails in the first round trip fails the request, and the connection serves the next one cleanly', async () => {
    let ran = false;
    const rejected = t.db.withRequest(credentials(randomBytes(32)), async () => {
      ran = true;
    });
    await expect(rejected).rejects.toBeInstanceOf(SessionRejected);
    await expect(t.db.withRequest(credentials(randomBytes(32)), async () => undefined)).rejects.toMatchObject({ reason: 'SESSION_INVALID' });
    expect(ran).toBe(false);
    // The same connection: no transaction left open, no role or context left behind.
    const { rows } = await t.db.query<{ who: string; ws: string | null }>(
      `SELECT current_user AS who, current_setting('palisade.workspace_id', true) AS ws`,
    );
    expect(rows[0]?.who).toBe('palisade_app');
    expect(rows[0]?.ws ?? '').toBe('');
  });

  it('a failing prelude statement aborts the statements pipelined behind it and runs no callback', async () => {
    let ran = false;
    const failing = t.driver.transaction(
      'palisade_app',
      [
        { text: 'SELECT 1 / $1::int', params: [0] },
        { text: 'SELECT $1::int AS n', params: [2] },
      ],
      async () => {
        ran = true;
      },
    );
    expect(await sqlState(failing)).toBe('22012');
    expect(ran).toBe(false);
    const after = await t.db.query<{ n: number }>('SELECT 3 AS n');
    expect(after.rows).toEqual([{ n: 3 }]);
  });
});

describe('ISO-2 transactions: a handle ends with its transaction', () => {
  it('a statement sent through the handle after the transaction ended is refused, not run in the next one', async () => {
    let kept: Sql | undefined;
    await t.db.withWorkspace({ workspaceId: ws }, async (tx) => {
      kept = tx;
      await tx.query('SELECT 1');
    });
    const other = await createWorkspace(t.db);
    const code = `STRAY${randomBytes(4).toString('hex')}`;
    // The next transaction (on the server: on the same, only connection) is open while the stray
    // statement is attempted.
    await t.db.withWorkspace({ workspaceId: other }, async () => {
      await expect(kept?.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, 'x')`, [other, code])).rejects.toThrow();
    });
    const left = await t.db.withWorkspace({ workspaceId: other }, (tx) => tx.query('SELECT 1 FROM tenant.departments WHERE code = $1', [code]));
    expect(left.rowCount).toBe(0);
  });
});

describe('ISO-2 transactions: nothing half-written', () => {
  it('a statement error the callback swallows still fails the transaction at COMMIT, and nothing is written', async () => {
    const code = `SWALLOW${randomBytes(4).toString('hex')}`;
    const swallowed = t.db.withWorkspace({ workspaceId: ws }, async (tx) => {
      await tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, 'x')`, [ws, code]);
      await tx.query('SELECT 1 / 0').catch(() => undefined);
      return 'handler finished';
    });
    expect(await sqlState(swallowed)).toBe('25P02');
    const left = await t.db.withWorkspace({ workspaceId: ws }, (tx) => tx.query('SELECT 1 FROM tenant.departments WHERE code = $1', [code]));
    expect(left.rowCount).toBe(0);
  });
});

describe.runIf(onServer)('ISO-2 transactions: one write for the first round trip (server)', () => {
  it('BEGIN, the role switch and the prelude leave in one socket write, COMMIT in another', async () => {
    await t.db.query('SELECT 1'); // a pooled connection, already open
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    const original = { write: proto._write, writev: proto._writev };
    let writes = 0;
    proto._write = function (this: Socket, ...args: unknown[]) {
      writes++;
      return original.write.apply(this, args);
    };
    proto._writev = function (this: Socket, ...args: unknown[]) {
      writes++;
      return original.writev.apply(this, args);
    };
    try {
      await t.driver.transaction('palisade_system', [{ text: 'SELECT 1', params: [] }, { text: 'SELECT 2', params: [] }], async () => undefined);
    } finally {
      proto._write = original.write;
      proto._writev = original.writev;
    }
    expect(writes).toBe(2);
  });
});

describe.runIf(onServer)('ISO-2 transactions: automatic prepared statements (server)', () => {
  const prepared = (text: string) =>
    t.db.query<{ n: string }>('SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1', [text]).then((r) => Number(r.rows[0]?.n));

  it('a statement that succeeded twice is prepared once on the connection and then only executed', async () => {
    const text = `SELECT $1::int + ${randomBytes(2).readUInt16BE()} AS n`;
    expect(await prepared(text)).toBe(0);
    await t.db.query(text, [1]);
    await t.db.query(text, [1]);
    expect(await prepared(text)).toBe(0);
    const third = await t.db.query<{ n: number }>(text, [5]);
    expect(await prepared(text)).toBe(1);
    const fourth = await t.db.query<{ n: number }>(text, [6]);
    expect(await prepared(text)).toBe(1);
    expect((fourth.rows[0]?.n ?? 0) - (third.rows[0]?.n ?? 0)).toBe(1);
  });

  it('ISO-1 a statement prepared under the bypass role and run again by the app role sees only the app\'s workspace', async () => {
    const other = await createWorkspace(t.db);
    const mark = `PREP${randomBytes(4).toString('hex')}`;
    for (const w of [ws, other]) {
      await t.db.withWorkspace({ workspaceId: w }, (tx) => tx.query(`INSERT INTO tenant.departments (workspace_id, code, name) VALUES ($1, $2, 'x')`, [w, mark]));
    }
    const text = `SELECT count(*)::int AS n FROM tenant.departments WHERE code = $1`;
    // Prepared (and planned) on the one pooled connection as palisade_system, which sees both.
    for (let i = 0; i < 3; i++) {
      const { rows } = await t.db.withSystem('test: prepare as the bypass', (tx) => tx.query<{ n: number }>(text, [mark]));
      expect(rows).toEqual([{ n: 2 }]);
    }
    expect(await prepared(text)).toBe(1);
    const inWs = await t.db.withWorkspace({ workspaceId: ws }, (tx) => tx.query<{ n: number }>(text, [mark]));
    expect(inWs.rows).toEqual([{ n: 1 }]);
    const noContext = await t.db.query<{ n: number }>(text, [mark]);
    expect(noContext.rows).toEqual([{ n: 0 }]);
    const backToSystem = await t.db.withSystem('test: the bypass again', (tx) => tx.query<{ n: number }>(text, [mark]));
    expect(backToSystem.rows).toEqual([{ n: 2 }]);
  });

  it('a connection whose prepared statements were deallocated is destroyed, not reused', async () => {
    const text = `SELECT $1::int * ${1 + randomBytes(2).readUInt16BE()} AS n`;
    for (let i = 0; i < 3; i++) await t.db.query(text, [1]);
    const pid = (await t.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const failing = t.driver.transaction('palisade_app', [], async (tx) => {
      await tx.query('DEALLOCATE ALL');
      return tx.query(text, [2]);
    });
    expect(await sqlState(failing)).toBe('26000');
    const next = await t.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(next.rows[0]?.pid).not.toBe(pid);
    const again = await t.db.query<{ n: number }>(text, [0]);
    expect(again.rows).toEqual([{ n: 0 }]);
  });

  it('a parameter that cannot be encoded for a prepared statement costs that call only, not the next request on the connection', async () => {
    const text = `SELECT $1::jsonb ->> 'a' AS a, ${randomBytes(2).readUInt16BE()} AS k`;
    for (let i = 0; i < 3; i++) await t.db.query(text, [{ a: 'x' }]);
    expect(await prepared(text)).toBe(1);
    // pg fails to encode a BigInt inside an object (JSON.stringify) after it has decided to bind
    // the prepared statement; it closes the statement on the server while still counting it.
    await expect(t.db.query(text, [{ a: 1n }])).rejects.toThrow(TypeError);
    const next = await t.db.query<{ a: string }>(text, [{ a: 'y' }]);
    expect(next.rows[0]?.a).toBe('y');
  });

  it('a prepared plan whose result type changed (a migration) fails once, then the statement is prepared anew', async () => {
    const table = `palisade_test_shape_${randomBytes(4).toString('hex')}`;
    await t.admin.script(`CREATE TABLE public.${table} (a int); INSERT INTO public.${table} VALUES (1); GRANT SELECT ON public.${table} TO palisade_app`);
    try {
      // SELECT * on purpose: a new column changes the prepared plan's result type (0A000).
      const text = `SELECT * FROM public.${table}`;
      for (let i = 0; i < 3; i++) await t.db.query(text);
      await t.admin.script(`ALTER TABLE public.${table} ADD COLUMN b int DEFAULT 2`);
      expect(await sqlState(t.db.query(text))).toBe('0A000');
      const { rows } = await t.db.query(text);
      expect(rows).toEqual([{ a: 1, b: 2 }]);
    } finally {
      await t.admin.script(`DROP TABLE public.${table}`);
    }
  });
});
