import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditScene, eventsOfType, giveRole, pause, person, query, seed, truth, type AuditScene, type Person } from '../../test/audit-search.ts';
import { parseCsv, parseCsvObjects } from '../../test/csv.ts';
import type { TestApp } from '../../test/http.ts';
import { call, identityApp, type Browser } from '../../test/identity.ts';
import { uniqueSlug } from '../../test/db.ts';
import type { Sql } from '../db/types.ts';
import { isFormulaLike } from '../kernel/csv.ts';
import { EXPORT_COLUMNS, ExportInterrupted, ExportStream, exportEvents, type ExportSink } from './export.ts';

let h: TestApp;
beforeAll(async () => {
  h = await identityApp();
});
afterAll(async () => h.close());

const exportUrl = (ws: string, params: Record<string, string | number | undefined> = {}) => `/api/v1/workspaces/${ws}/audit/export.csv${query(params)}`;
const exportCsv = (b: Browser, ws: string, params: Record<string, string | number | undefined> = {}) => call(h.app, b, 'GET', exportUrl(ws, params));
const as = (ws: string, p: Person, extra: Record<string, string> = {}) => ({ workspaceId: ws, userId: p.userId, userEmail: p.email, userRole: 'member', ...extra });

/** The first characters a spreadsheet would run as a formula (OWASP), for an independent check. */
const FORMULA_FIRST = new Set(['=', '+', '-', '@', '\t', '\r', '\n', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20']);
function startsDangerously(cell: string): boolean {
  const first = cell[0];
  if (first === '\t' || first === '\r' || first === '\n') return true;
  const trimmed = cell.trimStart();
  return trimmed.length > 0 && FORMULA_FIRST.has(trimmed[0] ?? '');
}

describe('AUD-6 CSV export over HTTP', () => {
  it('a Compliance Officer exports the filtered trail as RFC 4180 CSV, newest first, every value as recorded', async () => {
    const s = await auditScene(h);
    for (let i = 0; i < 12; i += 1) {
      await seed(h, as(s.ws, i % 2 === 0 ? s.owner : s.officer, { ip: '198.51.100.7', userAgent: 'Agent/1.0', deviceId: `d-${i}` }), {
        eventType: i % 3 === 0 ? 'test.exp.a' : 'test.exp.b',
        action: i % 2 === 0 ? 'CREATE' : 'UPDATE',
        tableName: 'tenant.things',
        recordId: `t-${i}`,
        ...(i % 2 === 0 ? {} : { oldValues: { n: i - 1 } }),
        newValues: { n: i, nested: { list: [1, 'two', null] } },
        reason: `reason ${i}`,
      });
    }
    const expected = await truth(h, s.ws);
    const res = await exportCsv(s.officer.browser, s.ws);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="audit-${s.ws}-\\d{8}T\\d{6}Z\\.csv"$`));
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body.endsWith('\r\n')).toBe(true);
    const { header, rows } = parseCsvObjects(res.body);
    expect(header).toEqual([...EXPORT_COLUMNS]);
    expect(rows.map((r) => r.id)).toEqual(expected);
    // Every cell equals the stored value (read independently, as the superuser).
    const { rows: stored } = await h.t.admin.query<Record<string, unknown>>(
      `SELECT e.*, host(e.ip) AS ip_text, u.display_name FROM tenant.audit_events e LEFT JOIN central.users u ON u.id = e.actor_user_id WHERE e.workspace_id = $1`,
      [s.ws],
    );
    const byId = new Map(stored.map((r) => [r.id as string, r]));
    const text = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
    for (const row of rows) {
      const db = byId.get(row.id ?? '');
      expect(db).toBeDefined();
      if (db === undefined) continue;
      expect(Math.abs(Date.parse(row.occurred_at ?? '') - (db.occurred_at as Date).getTime())).toBeLessThanOrEqual(1);
      expect(row.occurred_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      expect(row).toMatchObject({
        event_type: db.event_type, action: db.action, actor_user_id: text(db.actor_user_id), actor_email: text(db.actor_email),
        actor_name: text(db.display_name), actor_role: text(db.actor_role), session_id: text(db.session_id), device_id: text(db.device_id),
        ip: text(db.ip_text), user_agent: text(db.user_agent), route: text(db.route), table_name: text(db.table_name),
        record_id: text(db.record_id), reason: text(db.reason), workspace_id: s.ws,
      });
      expect(row.old_values === '' ? null : JSON.parse(row.old_values ?? '')).toEqual(db.old_values);
      expect(row.new_values === '' ? null : JSON.parse(row.new_values ?? '')).toEqual(db.new_values);
    }
    expect(rows.find((r) => r.record_id === 't-3')).toMatchObject({ ip: '198.51.100.7', user_agent: 'Agent/1.0', device_id: 'd-3', actor_user_id: s.officer.userId });
  });

  it('applies the same filters as the search', async () => {
    const s = await auditScene(h);
    for (let i = 0; i < 10; i += 1) {
      await seed(h, as(s.ws, i % 2 === 0 ? s.owner : s.officer), { eventType: i % 3 === 0 ? 'test.exp.a' : 'test.other', action: 'VIEW', tableName: 'tenant.things', recordId: `r-${i % 4}` });
    }
    const cases: [Record<string, string>, string, unknown[]][] = [
      [{ type: 'test.exp.*' }, "e.event_type LIKE 'test.exp.%'", []],
      [{ actor: s.officer.userId, type: 'test.other' }, "e.actor_user_id = $2 AND e.event_type = 'test.other'", [s.officer.userId]],
      [{ table: 'tenant.things', record: 'r-1' }, "e.table_name = 'tenant.things' AND e.record_id = 'r-1'", []],
      [{ action: 'VIEW', from: '2000-01-01T00:00:00Z', to: '2999-12-31T23:59:59.999999Z' }, "e.action = 'VIEW'", []],
      [{ from: '2001-01-01T00:00:00Z', to: '2001-01-02T00:00:00Z' }, 'false', []],
    ];
    for (const [params, where, args] of cases) {
      const expected = await truth(h, s.ws, where, args);
      const res = await exportCsv(s.officer.browser, s.ws, params);
      expect(res.statusCode).toBe(200);
      expect(parseCsvObjects(res.body).rows.map((r) => r.id), JSON.stringify(params)).toEqual(expected);
    }
    // An empty export is the header row alone.
    expect((await exportCsv(s.officer.browser, s.ws, { type: 'test.none' })).body).toBe(`${EXPORT_COLUMNS.join(',')}\r\n`);
  });

  it('neutralises formula injection in names, e-mails and recorded values, and round-trips quotes, commas and newlines', async () => {
    const s = await auditScene(h);
    const payloads = [
      '=HYPERLINK("http://evil","x")',
      '+cmd',
      '-1+1',
      '@SUM(1)',
      '\uFF1D1+1',
      '\uFF0B1',
      '\uFF20SUM(1)',
      '\tcmd',
      '\r=1+1',
      ' =1+1',
      '=1+1\r\n=2+2',
    ];
    // Members whose display names are payloads and whose e-mails start with a formula character
    // (still addresses sign-in accepts), acting through the API: their own searches are audited.
    const names = ['=HYPERLINK("http://evil","x")', '@SUM(1)', '\uFF1D1+1', '\tcmd', '\r=1+1', '-1+1'];
    const emails = ['+cmd', '-1+1', '=1+1', '@', '+cmd', '-x'];
    const evil: Person[] = [];
    for (let i = 0; i < names.length; i += 1) {
      const local = emails[i] === '@' ? '=sum' : emails[i] ?? '';
      const p = await person(h, s.ws, 'member', `${local}${uniqueSlug('e')}@example.com`);
      await h.t.db.withSystem('test: set display name', (tx) => tx.query('UPDATE central.users SET display_name = $2 WHERE id = $1', [p.userId, names[i]]));
      await giveRole(h, s.ws, s.owner, p, 'compliance_officer');
      expect((await call(h.app, p.browser, 'GET', `/api/v1/workspaces/${s.ws}/audit/events`)).statusCode).toBe(200);
      evil.push(p);
    }
    // Recorded values: every free-text column an event has, set to each payload.
    for (const payload of payloads) {
      await seed(h, { workspaceId: s.ws, userId: s.owner.userId, userEmail: payload, userRole: payload, sessionId: payload, deviceId: payload, userAgent: payload, route: payload }, {
        eventType: 'test.payload', action: 'VIEW', tableName: payload, recordId: payload, reason: payload, newValues: { name: payload }, oldValues: { name: payload },
      });
    }
    // Values that must come back exactly: quotes, commas, CR, LF, CRLF, leading spaces, unicode.
    const tricky = ['He said "hi", then\r\nleft\nand came back\r', 'a,b,,c', '"', '""', ' leading and trailing ', 'ünï "ç" ✓ 𝄞', 'x=1+1', 'me@example.com'];
    for (const value of tricky) {
      await seed(h, as(s.ws, s.owner, { userAgent: value }), { eventType: 'test.tricky', action: 'VIEW', recordId: value, reason: value, newValues: { note: value } });
    }

    const res = await exportCsv(s.officer.browser, s.ws);
    expect(res.statusCode).toBe(200);
    // The strict reader throws on anything that is not RFC 4180.
    const table = parseCsv(res.body);
    const { rows } = parseCsvObjects(res.body);
    // No cell anywhere starts like a formula.
    for (const record of table) for (const cell of record) expect(startsDangerously(cell) || isFormulaLike(cell), JSON.stringify(cell)).toBe(false);

    // Each payload comes back as a quote followed by exactly the recorded text.
    const payloadRows = rows.filter((r) => r.event_type === 'test.payload');
    expect(payloadRows).toHaveLength(payloads.length);
    for (const payload of payloads) {
      const row = payloadRows.find((r) => r.record_id === `'${payload}`);
      expect(row, JSON.stringify(payload)).toBeDefined();
      for (const column of ['actor_email', 'actor_role', 'session_id', 'device_id', 'user_agent', 'route', 'table_name', 'record_id', 'reason'] as const) {
        expect(row?.[column], `${column} ${JSON.stringify(payload)}`).toBe(`'${payload}`);
      }
      // JSON cells start with `{`: harmless, and the payload is intact inside.
      expect(JSON.parse(row?.new_values ?? '')).toEqual({ name: payload });
      expect(JSON.parse(row?.old_values ?? '')).toEqual({ name: payload });
    }
    // The members' names and e-mails, on the events of their own searches.
    for (let i = 0; i < evil.length; i += 1) {
      const p = evil[i];
      const row = rows.find((r) => r.actor_user_id === p?.userId && r.event_type === 'audit.searched');
      expect(row?.actor_name).toBe(`'${names[i] ?? ''}`);
      expect(row?.actor_email).toBe(`'${p?.email ?? ''}`);
    }
    // Tricky values are exact.
    for (const value of tricky) {
      const row = rows.find((r) => r.event_type === 'test.tricky' && r.record_id === value);
      expect(row, JSON.stringify(value)).toMatchObject({ reason: value, user_agent: value });
      expect(JSON.parse(row?.new_values ?? '')).toEqual({ note: value });
    }
  });

  it('every export records its own audit.exported event with the filter and the row count', async () => {
    const s = await auditScene(h);
    for (let i = 0; i < 7; i += 1) await seed(h, as(s.ws, s.owner), { eventType: 'test.counted', action: 'VIEW' });
    const first = await exportCsv(s.officer.browser, s.ws, { type: 'test.counted' });
    expect(parseCsvObjects(first.body).rows).toHaveLength(7);
    let exported = await eventsOfType(h, s.ws, 'audit.exported');
    expect(exported).toHaveLength(1);
    expect(exported[0]).toMatchObject({ actor_user_id: s.officer.userId, new_values: { filter: { type: 'test.counted' }, count: 7, complete: true } });
    expect(exported[0]?.new_values).not.toHaveProperty('interrupted');
    const before = await truth(h, s.ws);
    const all = await exportCsv(s.owner.browser, s.ws);
    exported = await eventsOfType(h, s.ws, 'audit.exported');
    expect(exported).toHaveLength(2);
    expect(exported[0]).toMatchObject({ actor_user_id: s.owner.userId, new_values: { filter: {}, count: before.length, complete: true } });
    // The export's own event is written after its rows were read: it is not in the file, but in the next one.
    expect(parseCsvObjects(all.body).rows.map((r) => r.id)).toEqual(before);
    expect(parseCsvObjects((await exportCsv(s.owner.browser, s.ws, { type: 'audit.exported' })).body).rows.map((r) => r.id)).toEqual(exported.map((e) => e.id));
    // An empty export is recorded with count 0; a refused or invalid one records no export.
    await exportCsv(s.officer.browser, s.ws, { type: 'test.nothing' });
    expect((await eventsOfType(h, s.ws, 'audit.exported'))[0]).toMatchObject({ new_values: { filter: { type: 'test.nothing' }, count: 0, complete: true } });
    await exportCsv(s.viewer.browser, s.ws);
    await exportCsv(s.officer.browser, s.ws, { from: '2002-01-01T00:00:00Z', to: '2001-01-01T00:00:00Z' });
    expect(await eventsOfType(h, s.ws, 'audit.exported')).toHaveLength(4);
  });

  it('a Viewer or plain member (and an Administrator, who may only search) gets 403 FORBIDDEN with rule permission and an access.denied row', async () => {
    const s = await auditScene(h);
    for (const p of [s.owner, s.admin, s.officer]) expect((await exportCsv(p.browser, s.ws)).statusCode).toBe(200);
    const finance = await person(h, s.ws, 'member');
    await giveRole(h, s.ws, s.owner, finance, 'finance_manager');
    for (const p of [s.viewer, s.plain, s.reader, finance]) {
      const res = await exportCsv(p.browser, s.ws);
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['content-disposition']).toBeUndefined();
      expect(res.json()).toMatchObject({ code: 'FORBIDDEN', rule: 'permission', permission: 'audit.export' });
      const denied = (await eventsOfType(h, s.ws, 'access.denied')).filter((e) => e.actor_user_id === p.userId);
      expect(denied).toHaveLength(1);
      expect(denied[0]?.new_values).toMatchObject({ rule: 'permission', permission: 'audit.export' });
    }
    expect((await call(h.app, null, 'GET', exportUrl(s.ws))).statusCode).toBe(401);
    // Another workspace's export: not a member.
    const other = await auditScene(h);
    expect((await exportCsv(s.officer.browser, other.ws)).json()).toMatchObject({ code: 'NOT_A_MEMBER' });
  });

  it('answers invalid filters with a problem, never a CSV; HEAD does not run an export', async () => {
    const s = await auditScene(h);
    const range = await exportCsv(s.officer.browser, s.ws, { from: '2024-01-02T00:00:00Z', to: '2024-01-01T00:00:00Z' });
    expect(range.statusCode).toBe(400);
    expect(range.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(range.headers['content-disposition']).toBeUndefined();
    expect(range.json()).toMatchObject({ code: 'AUDIT_RANGE_INVALID' });
    for (const params of [{ type: 'Nope' }, { cursor: 'x' }, { limit: 5 }, { record: 'a\u0000' }]) {
      expect((await exportCsv(s.officer.browser, s.ws, params)).json(), JSON.stringify(params)).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    const head = await h.app.inject({ method: 'HEAD', url: exportUrl(s.ws), cookies: { palisade_session: s.officer.browser.cookie } });
    expect(head.statusCode).toBe(404);
    expect(await eventsOfType(h, s.ws, 'audit.exported')).toHaveLength(0);
  });
});

describe('AUD-6 CSV export is streamed: batches, backpressure, one transaction', () => {
  /** A workspace with `n` events of type test.bulk. */
  async function bulk(n: number, pad = 0): Promise<AuditScene> {
    const s = await auditScene(h);
    await h.t.db.withWorkspace(as(s.ws, s.owner), (tx) =>
      tx.query(
        `INSERT INTO tenant.audit_events (workspace_id, event_type, action, record_id, new_values)
         SELECT $1, 'test.bulk', 'CREATE', g::text, jsonb_build_object('n', g, 'pad', repeat('x', $3))
           FROM generate_series(1, $2) g`,
        [s.ws, n, pad],
      ),
    );
    return s;
  }

  /** A handle that counts FETCHes and can be told to fail the nth one. */
  function counting(tx: Sql, failAt?: number): Sql & { fetches: number } {
    const handle = {
      fetches: 0,
      async query<R extends object>(text: string, params?: readonly unknown[]) {
        if (text.startsWith('FETCH')) {
          handle.fetches += 1;
          if (handle.fetches === failAt) await tx.query('SELECT 1/0');
        }
        return tx.query<R>(text, params);
      },
    };
    return handle;
  }

  it('reads one batch at a time, writes it before reading the next, and waits while the client is slow', async () => {
    const s = await bulk(45);
    const tx = await h.t.db.withWorkspace(as(s.ws, s.officer), async (tx) => {
      const sql = counting(tx);
      const writes: { fetches: number; rows: number }[] = [];
      let release: () => void = () => undefined;
      let started = 0;
      const sink: ExportSink = {
        start: () => {
          started = sql.fetches;
        },
        write: async (chunk) => {
          writes.push({ fetches: sql.fetches, rows: chunk.split('\r\n').length - 1 });
          if (writes.length === 2) await new Promise<void>((resolve) => (release = resolve));
        },
      };
      const running = exportEvents(sql, s.ws, { type: 'test.bulk' }, sink, { batchSize: 10 });
      await pause(100);
      // Blocked in the second write: no third batch has been read.
      expect(sql.fetches).toBe(2);
      release();
      const outcome = await running;
      expect(outcome).toEqual({ count: 45, complete: true });
      expect(started).toBe(1);
      // Header + 10, then 10, 10, 10, 5: each write carries the batch just read.
      expect(writes).toEqual([
        { fetches: 1, rows: 11 }, { fetches: 2, rows: 10 }, { fetches: 3, rows: 10 }, { fetches: 4, rows: 10 }, { fetches: 5, rows: 5 },
      ]);
      // The event is written in the export's own transaction.
      const { rows } = await tx.query<{ new_values: unknown }>(`SELECT new_values FROM tenant.audit_events WHERE event_type = 'audit.exported'`);
      expect(rows).toEqual([{ new_values: { filter: { type: 'test.bulk' }, count: 45, complete: true } }]);
      return 'done';
    });
    expect(tx).toBe('done');
  });

  it('a database error midway propagates and leaves nothing behind (the event is in the rolled-back transaction)', async () => {
    const s = await bulk(30);
    const progress = { count: 0 };
    const written: string[] = [];
    const attempt = h.t.db.withWorkspace(as(s.ws, s.officer), (tx) =>
      exportEvents(counting(tx, 3), s.ws, {}, { start: () => undefined, write: async (c) => void written.push(c) }, { batchSize: 10, progress }),
    );
    await expect(attempt).rejects.toMatchObject({ code: '22012' });
    expect(progress.count).toBe(20);
    expect(written).toHaveLength(2);
    expect(await eventsOfType(h, s.ws, 'audit.exported')).toEqual([]);
  });

  it('a client that goes away stops the export, which is recorded as partial', async () => {
    const s = await bulk(30);
    const outcome = await h.t.db.withWorkspace(as(s.ws, s.officer), (tx) => {
      let n = 0;
      return exportEvents(tx, s.ws, {}, {
        start: () => undefined,
        write: async () => {
          n += 1;
          if (n === 2) throw new ExportInterrupted('client_closed');
        },
      }, { batchSize: 10 });
    });
    expect(outcome).toEqual({ count: 20, complete: false, interrupted: 'client_closed' });
    expect((await eventsOfType(h, s.ws, 'audit.exported'))[0]?.new_values).toEqual({ filter: {}, count: 20, complete: false, interrupted: 'client_closed' });
  });

  it('the response stream applies backpressure, and gives up on a client that stops reading or leaves', async () => {
    const out = new ExportStream({ stallMs: 60_000, highWaterMark: 16 });
    await out.write('0123456789');
    let resolved = false;
    const pending = out.write('0123456789').then(() => (resolved = true));
    await pause(20);
    expect(resolved).toBe(false);
    out.readable.read();
    await pending;
    expect(resolved).toBe(true);

    const stalled = new ExportStream({ stallMs: 50, highWaterMark: 4 });
    await expect(stalled.write('more than four')).rejects.toMatchObject({ reason: 'stalled' });
    expect(stalled.readable.destroyed).toBe(true);
    await expect(stalled.write('x')).rejects.toBeInstanceOf(ExportInterrupted);

    const left = new ExportStream({ stallMs: 60_000, highWaterMark: 4 });
    const waiting = left.write('more than four');
    left.readable.destroy();
    await expect(waiting).rejects.toMatchObject({ reason: 'client_closed' });
    await expect(left.write('x')).rejects.toMatchObject({ reason: 'client_closed' });
  });
});

describe('AUD-6 CSV export over a real connection: what the client sees when it stops', () => {
  const ROWS = 20_000;
  let s: AuditScene;
  let base = '';

  beforeAll(async () => {
    s = await auditScene(h);
    // ~1 KiB per row, ~20 MiB in all: far more than the socket and stream buffers hold.
    await h.t.db.withWorkspace(as(s.ws, s.owner), (tx) =>
      tx.query(
        `INSERT INTO tenant.audit_events (workspace_id, event_type, action, record_id, new_values)
         SELECT $1, 'test.big', 'CREATE', g::text, jsonb_build_object('n', g, 'pad', repeat('x', 1000)) FROM generate_series(1, $2) g`,
        [s.ws, ROWS],
      ),
    );
    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = address;
    expect((h.app.server.address() as AddressInfo).port).toBeGreaterThan(0);
  }, 120_000);

  /** GETs the export; `onFirstData` runs once the first body bytes arrive. */
  function download(b: Browser, onFirstData: (res: IncomingMessage, destroy: () => void) => void): Promise<{ status: number; bytes: number; complete: boolean; error: string | null }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${base}${exportUrl(s.ws, { type: 'test.big' })}`, { headers: { cookie: `palisade_session=${b.cookie}` } }, (res) => {
        let bytes = 0;
        let first = true;
        let error: string | null = null;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (first) {
            first = false;
            onFirstData(res, () => {
              req.destroy();
            });
          }
        });
        res.on('error', (e) => (error = e.message));
        res.on('close', () => {
          resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete, error });
        });
      });
      req.on('error', (e) => {
        if (!('code' in e) || (e as { code?: string }).code !== 'ECONNRESET') reject(e);
      });
      req.end();
    });
  }

  async function waitForExportEvent(actor: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 200; i += 1) {
      const found = (await eventsOfType(h, s.ws, 'audit.exported')).find((e) => e.actor_user_id === actor);
      if (found !== undefined) return found.new_values;
      await pause(50);
    }
    throw new Error('no audit.exported event');
  }

  it('a client that disconnects midway ends the export early; the event says partial, with the rows sent', async () => {
    const officer = await person(h, s.ws, 'member');
    await giveRole(h, s.ws, s.owner, officer, 'compliance_officer');
    const got = await download(officer.browser, (_res, destroy) => {
      destroy();
    });
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    const event = await waitForExportEvent(officer.userId);
    expect(event).toMatchObject({ filter: { type: 'test.big' }, complete: false, interrupted: 'client_closed' });
    expect(event.count).toBeGreaterThan(0);
    expect(event.count).toBeLessThan(ROWS);
  }, 60_000);

  it('a complete download over the socket ends cleanly and has every row', async () => {
    const officer = await person(h, s.ws, 'member');
    await giveRole(h, s.ws, s.owner, officer, 'compliance_officer');
    const chunks: Buffer[] = [];
    const got = await new Promise<{ status: number; complete: boolean }>((resolve, reject) => {
      const req = httpRequest(`${base}${exportUrl(s.ws, { type: 'test.big' })}`, { headers: { cookie: `palisade_session=${officer.browser.cookie}` } }, (res) => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, complete: res.complete });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(got).toEqual({ status: 200, complete: true });
    const table = parseCsv(Buffer.concat(chunks).toString('utf8'));
    expect(table).toHaveLength(ROWS + 1);
    expect(await waitForExportEvent(officer.userId)).toEqual({ filter: { type: 'test.big' }, count: ROWS, complete: true });
  }, 60_000);

  it.runIf(inject('target').kind === 'server')(
    'server: the database connection dies mid-stream: the client sees an aborted transfer, not a 500 page; the partial export is recorded',
    async () => {
      const officer = await person(h, s.ws, 'member');
      await giveRole(h, s.ws, s.owner, officer, 'compliance_officer');
      let resume: () => void = () => undefined;
      const downloading = download(officer.browser, (res) => {
        res.pause();
        resume = () => res.resume();
      });
      // The client reads nothing more: the export fills the buffers and waits, idle in its transaction.
      let pid: number | undefined;
      for (let i = 0; i < 400 && pid === undefined; i += 1) {
        const { rows } = await h.t.admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND query LIKE 'FETCH % FROM palisade_audit_export'`,
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await pause(25);
      }
      expect(pid).toBeDefined();
      await h.t.admin.query('SELECT pg_terminate_backend($1)', [pid]);
      resume();
      const got = await downloading;
      expect(got.status).toBe(200);
      // Cut short: no terminating chunk, so no client can take it for a whole file.
      expect(got.complete).toBe(false);
      expect(got.bytes).toBeGreaterThan(0);
      const event = await waitForExportEvent(officer.userId);
      expect(event).toMatchObject({ filter: { type: 'test.big' }, complete: false, interrupted: 'database_error' });
      expect(event.count).toBeGreaterThan(0);
      expect(event.count).toBeLessThan(ROWS);
      // The app still serves requests.
      expect((await call(h.app, officer.browser, 'GET', `/api/v1/workspaces/${s.ws}/audit/events?limit=1`)).statusCode).toBe(200);
    },
    60_000,
  );
});
