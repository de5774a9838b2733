import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSuperuserWithoutTriggers } from '../../test/audit.ts';
import { auditScene, dbNow, eventsOfType, giveRole, pause, person, query, seed, truth, type AuditScene, type Person } from '../../test/audit-search.ts';
import type { TestApp } from '../../test/http.ts';
import { call, identityApp, type Browser } from '../../test/identity.ts';
import type { AuditEventView } from './search.ts';

let h: TestApp;
beforeAll(async () => {
  h = await identityApp();
});
afterAll(async () => h.close());

interface Page {
  events: AuditEventView[];
  nextCursor: string | null;
}

const eventsUrl = (ws: string, params: Record<string, string | number | undefined> = {}) => `/api/v1/workspaces/${ws}/audit/events${query(params)}`;
const search = (b: Browser, ws: string, params: Record<string, string | number | undefined> = {}) => call(h.app, b, 'GET', eventsUrl(ws, params));

/** Every page of a search, in order. */
async function walk(b: Browser, ws: string, params: Record<string, string | number | undefined>, limit: number): Promise<{ pages: Page[]; ids: string[]; events: AuditEventView[] }> {
  const pages: Page[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i += 1) {
    const res = await search(b, ws, { ...params, limit, cursor });
    if (res.statusCode !== 200) throw new Error(`search failed: ${res.statusCode} ${res.body}`);
    const page = res.json<Page>();
    pages.push(page);
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  const events = pages.flatMap((p) => p.events);
  return { pages, events, ids: events.map((e) => e.id) };
}

/** A context as `p` acting in the workspace (what the request context would stamp). */
const as = (ws: string, p: Person, extra: Record<string, string> = {}) => ({ workspaceId: ws, userId: p.userId, userEmail: p.email, userRole: 'member', ...extra });

describe('AUD-6 audit search: filters return exactly what they say', () => {
  let s: AuditScene;
  const ids: Record<'alpha' | 'betaOne' | 'betaTwo' | 'betamax' | 'widgets' | 'gadgets' | 'w1' | 'byOfficer' | 'byOwner' | 'middle', string[]> = { alpha: [], betaOne: [], betaTwo: [], betamax: [], widgets: [], gadgets: [], w1: [], byOfficer: [], byOwner: [], middle: [] };
  let from = '';
  let to = '';

  beforeAll(async () => {
    s = await auditScene(h);
    const add = async (p: Person, type: string, table: string, record: string, action: 'VIEW' | 'CREATE', tags: (keyof typeof ids)[]) => {
      const id = await seed(h, as(s.ws, p), { eventType: type, action, tableName: table, recordId: record, newValues: { type } });
      for (const t of tags) ids[t].push(id);
      ids[p === s.officer ? 'byOfficer' : 'byOwner'].push(id);
      return id;
    };
    await add(s.owner, 'test.alpha', 'tenant.widgets', 'w-1', 'CREATE', ['alpha', 'widgets', 'w1']);
    await add(s.officer, 'test.betamax', 'tenant.gadgets', 'g-1', 'VIEW', ['betamax', 'gadgets']);
    await pause(5);
    from = await dbNow(h);
    await pause(5);
    ids.middle.push(await add(s.officer, 'test.beta.one', 'tenant.widgets', 'w-1', 'VIEW', ['betaOne', 'widgets', 'w1']));
    ids.middle.push(await add(s.owner, 'test.beta.two', 'tenant.widgets', 'w-2', 'CREATE', ['betaTwo', 'widgets']));
    ids.middle.push(await add(s.officer, 'test.alpha', 'tenant.gadgets', 'w-1', 'VIEW', ['alpha', 'gadgets']));
    await pause(5);
    to = await dbNow(h);
    await pause(5);
    await add(s.owner, 'test.beta.one', 'tenant.gadgets', 'g-2', 'VIEW', ['betaOne', 'gadgets']);
    await add(s.officer, 'test.alpha', 'tenant.widgets', 'w-1', 'CREATE', ['alpha', 'widgets', 'w1']);
  });

  const sorted = (a: readonly string[]) => [...a].sort();

  it('actor', async () => {
    const expected = await truth(h, s.ws, 'e.actor_user_id = $2', [s.owner.userId]);
    const got = await walk(s.officer.browser, s.ws, { actor: s.owner.userId }, 500);
    expect(got.ids).toEqual(expected);
    expect(got.events.every((e) => e.actorUserId === s.owner.userId)).toBe(true);
    expect(got.ids).toEqual(expect.arrayContaining(ids.byOwner));
  });

  it('date range (inclusive bounds)', async () => {
    const got = await walk(s.officer.browser, s.ws, { from, to }, 500);
    expect(sorted(got.ids)).toEqual(sorted(ids.middle));
    expect(got.ids).toEqual(await truth(h, s.ws, 'e.occurred_at BETWEEN $2::timestamptz AND $3::timestamptz', [from, to]));
    // Only from, only to (the ground truth is read first: every search adds an event).
    const since = await truth(h, s.ws, 'e.occurred_at >= $2::timestamptz', [from]);
    expect((await walk(s.officer.browser, s.ws, { from }, 500)).ids).toEqual(since);
    const until = await truth(h, s.ws, 'e.occurred_at <= $2::timestamptz', [to]);
    expect((await walk(s.officer.browser, s.ws, { to }, 500)).ids).toEqual(until);
    // An offset other than Z means the same instant.
    const shifted = new Date(Date.parse(from) + 2 * 3600_000).toISOString().replace('Z', '').slice(0, 19) + from.slice(19, 26) + '+02:00';
    expect((await walk(s.officer.browser, s.ws, { from: shifted, to }, 500)).ids).toEqual(got.ids);
  });

  it('event type, exact and by prefix of whole segments', async () => {
    expect(sorted((await walk(s.officer.browser, s.ws, { type: 'test.alpha' }, 500)).ids)).toEqual(sorted(ids.alpha));
    expect(sorted((await walk(s.officer.browser, s.ws, { type: 'test.beta.one' }, 500)).ids)).toEqual(sorted(ids.betaOne));
    // `test.beta.*` is test.beta.one and test.beta.two, not test.betamax.
    expect(sorted((await walk(s.officer.browser, s.ws, { type: 'test.beta.*' }, 500)).ids)).toEqual(sorted([...ids.betaOne, ...ids.betaTwo]));
    expect(sorted((await walk(s.officer.browser, s.ws, { type: 'test.*' }, 500)).ids)).toEqual(
      sorted([...ids.alpha, ...ids.betaOne, ...ids.betaTwo, ...ids.betamax]),
    );
    // The searches themselves are audit.searched events, found by `audit.*`.
    const expected = await truth(h, s.ws, "e.event_type LIKE 'audit.%'");
    const audits = await walk(s.officer.browser, s.ws, { type: 'audit.*' }, 500);
    expect(audits.ids.length).toBeGreaterThan(0);
    expect(audits.ids).toEqual(expected);
  });

  it('table, record id, action, and filters combined', async () => {
    expect(sorted((await walk(s.officer.browser, s.ws, { table: 'tenant.widgets' }, 500)).ids)).toEqual(sorted(ids.widgets));
    expect(sorted((await walk(s.officer.browser, s.ws, { table: 'tenant.gadgets' }, 500)).ids)).toEqual(sorted(ids.gadgets));
    expect(sorted((await walk(s.officer.browser, s.ws, { table: 'tenant.widgets', record: 'w-1' }, 500)).ids)).toEqual(sorted(ids.w1));
    // record alone also matches the gadgets row with the same record id.
    const w1 = await truth(h, s.ws, "e.record_id = 'w-1'");
    expect((await walk(s.officer.browser, s.ws, { record: 'w-1' }, 500)).ids).toEqual(w1);
    const created = await truth(h, s.ws, "e.action = 'CREATE' AND e.event_type LIKE 'test.%'");
    expect((await walk(s.officer.browser, s.ws, { action: 'CREATE', type: 'test.*' }, 500)).ids).toEqual(created);
    const combined = await walk(s.officer.browser, s.ws, { actor: s.officer.userId, type: 'test.alpha', from, to }, 500);
    expect(combined.ids).toEqual([ids.middle[2]]);
    expect(await walk(s.officer.browser, s.ws, { table: 'tenant.nothing' }, 500)).toMatchObject({ ids: [] });
  });

  it('returns the fields of AUD-2 and never pos', async () => {
    const res = await search(s.officer.browser, s.ws, { type: 'test.beta.two' });
    const [event] = res.json<Page>().events;
    expect(Object.keys(event ?? {}).sort()).toEqual([
      'action', 'actorEmail', 'actorName', 'actorRole', 'actorUserId', 'deviceId', 'eventType', 'id', 'ip', 'newValues', 'occurredAt',
      'oldValues', 'reason', 'recordId', 'route', 'sessionId', 'tableName', 'userAgent', 'workspaceId',
    ]);
    expect(event).toMatchObject({
      eventType: 'test.beta.two', action: 'CREATE', workspaceId: s.ws, actorUserId: s.owner.userId, actorEmail: s.owner.email,
      tableName: 'tenant.widgets', recordId: 'w-2', newValues: { type: 'test.beta.two' }, oldValues: null,
    });
    expect(event?.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(res.body).not.toMatch(/"pos"/);
  });
});

describe('AUD-6 audit search: cursor pagination', () => {
  it('walks every row once, newest first, with no duplicates across pages', async () => {
    const s = await auditScene(h);
    for (let i = 0; i < 23; i += 1) await seed(h, as(s.ws, i % 2 === 0 ? s.owner : s.officer), { eventType: `test.page.n${i % 3}`, action: 'VIEW', recordId: `r-${i}` });
    for (const limit of [1, 7, 500]) {
      const before = await truth(h, s.ws);
      const got = await walk(s.officer.browser, s.ws, {}, limit);
      expect(new Set(got.ids).size).toBe(got.ids.length);
      // Exactly the events that existed when the walk began: its own searches are newer than its position.
      expect(got.ids).toEqual(before);
      expect(got.pages.every((p) => p.events.length <= limit)).toBe(true);
      expect(got.pages.at(-1)?.nextCursor).toBeNull();
      // Strictly newest first by (occurredAt, id).
      for (let i = 1; i < got.events.length; i += 1) {
        const a = got.events[i - 1];
        const b = got.events[i];
        if (a === undefined || b === undefined) continue;
        expect(a.occurredAt > b.occurredAt || (a.occurredAt === b.occurredAt && a.id > b.id)).toBe(true);
      }
    }
    // With a filter too.
    const filtered = await walk(s.officer.browser, s.ws, { type: 'test.page.*' }, 4);
    expect(filtered.ids).toEqual(await truth(h, s.ws, "e.event_type LIKE 'test.page.%'"));
    expect(filtered.ids).toHaveLength(23);
  });

  it('breaks ties between events written at the same microsecond by id', async () => {
    const s = await auditScene(h);
    const same = '2020-06-01 12:00:00.123456+00';
    const tied = Array.from({ length: 9 }, () => randomUUID());
    await asSuperuserWithoutTriggers(h.t.admin, async () => {
      for (const id of tied) {
        await h.t.admin.query(
          `INSERT INTO tenant.audit_events (workspace_id, id, occurred_at, event_type, action) VALUES ($1, $2, $3, 'test.tied', 'VIEW')`,
          [s.ws, id, same],
        );
      }
    });
    for (const limit of [1, 2, 4]) {
      const got = await walk(s.officer.browser, s.ws, { type: 'test.tied' }, limit);
      expect(got.ids).toEqual([...tied].sort().reverse());
    }
    const all = await walk(s.officer.browser, s.ws, {}, 5);
    expect(all.ids.filter((id) => (tied as string[]).includes(id))).toHaveLength(9);
    expect(new Set(all.ids).size).toBe(all.ids.length);
  });

  it('a tampered, garbled or foreign cursor is 400 AUDIT_CURSOR_INVALID, never a 500', async () => {
    const s = await auditScene(h);
    for (let i = 0; i < 4; i += 1) await seed(h, as(s.ws, s.owner), { eventType: 'test.cursor', action: 'VIEW' });
    const first = (await search(s.officer.browser, s.ws, { type: 'test.cursor', limit: 2 })).json<Page>();
    const good = first.nextCursor ?? '';
    expect(good).not.toBe('');
    const decoded = JSON.parse(Buffer.from(good, 'base64url').toString('utf8')) as [number, string, string, string];
    const forge = (f: (c: [number, string, string, string]) => unknown[]) => Buffer.from(JSON.stringify(f([...decoded]))).toString('base64url');
    const bad = [
      '',
      'garbage!!',
      `${good}x`,
      good.slice(0, -3),
      `${good.slice(0, 10)}${good[10] === 'A' ? 'B' : 'A'}${good.slice(11)}`,
      Buffer.from('not json').toString('base64url'),
      Buffer.from('{}').toString('base64url'),
      Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64url'),
      forge((c) => [2, c[1], c[2], c[3]]),
      forge((c) => [c[0], c[1].replace(/-\d\d-/, '-13-'), c[2], c[3]]),
      forge((c) => [c[0], c[1].replace(/^\d{4}/, '1999'), c[2], c[3]]),
      forge((c) => [c[0], c[1], randomUUID(), c[3]]),
      forge((c) => [c[0], c[1].replace(/^\d{4}-\d\d-\d\d/, '2023-02-29'), c[2], c[3]]),
      forge((c) => [c[0], c[1].replace(/^\d{4}/, '0000'), c[2], c[3]]),
      forge((c) => [c[0], c[1].replace('Z', '+00:00'), c[2], c[3]]),
      forge((c) => [c[0], "2024-01-01T00:00:00.000000Z'; SELECT 1; --", c[2], c[3]]),
      forge((c) => [c[0], c[1], 'not-a-uuid', c[3]]),
      forge((c) => [c[0], c[1], c[2], 'AAAAAAAAAAA']),
      forge((c) => [c[0], c[1], c[2]]),
      forge((c) => [...c, 'extra']),
      'A'.repeat(999),
    ];
    for (const cursor of bad) {
      const res = await search(s.officer.browser, s.ws, { type: 'test.cursor', limit: 2, cursor });
      expect(res.statusCode, `${cursor}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'AUDIT_CURSOR_INVALID' });
    }
    // A cursor made for other filters, or for another workspace, is refused too.
    expect((await search(s.officer.browser, s.ws, { type: 'test.other', limit: 2, cursor: good })).json()).toMatchObject({ code: 'AUDIT_CURSOR_INVALID' });
    expect((await search(s.officer.browser, s.ws, { limit: 2, cursor: good })).json()).toMatchObject({ code: 'AUDIT_CURSOR_INVALID' });
    // The good cursor still works.
    const second = await search(s.officer.browser, s.ws, { type: 'test.cursor', limit: 2, cursor: good });
    expect(second.statusCode).toBe(200);
    expect(second.json<Page>().events).toHaveLength(2);
  });
});

describe('AUD-6 audit search: isolation, validation, permissions', () => {
  it("another workspace's events never appear, whatever the filters or cursor", async () => {
    const s = await auditScene(h);
    const other = await auditScene(h);
    const mine: string[] = [];
    const theirs: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      mine.push(await seed(h, as(s.ws, s.owner), { eventType: 'test.shared', action: 'VIEW', tableName: 'tenant.shared', recordId: 'shared-1' }));
      theirs.push(await seed(h, as(other.ws, other.owner), { eventType: 'test.shared', action: 'VIEW', tableName: 'tenant.shared', recordId: 'shared-1' }));
    }
    const before = await truth(h, s.ws);
    const all = await walk(s.officer.browser, s.ws, {}, 3);
    expect(all.ids).toEqual(before);
    expect(all.events.every((e) => e.workspaceId === s.ws)).toBe(true);
    expect(all.ids.filter((id) => theirs.includes(id))).toEqual([]);
    const filtered = await walk(s.officer.browser, s.ws, { type: 'test.shared', table: 'tenant.shared', record: 'shared-1' }, 2);
    expect([...filtered.ids].sort()).toEqual([...mine].sort());
    // Naming the other workspace's actor finds nothing here.
    expect((await walk(s.officer.browser, s.ws, { actor: other.owner.userId }, 500)).ids).toEqual([]);
    // The other workspace's URL: not a member.
    const foreign = await search(s.officer.browser, other.ws);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: 'NOT_A_MEMBER' });
    // A cursor from the other workspace is refused here.
    const theirCursor = (await search(other.officer.browser, other.ws, { type: 'test.shared', limit: 2 })).json<Page>().nextCursor ?? '';
    expect((await search(s.officer.browser, s.ws, { type: 'test.shared', limit: 2, cursor: theirCursor })).json()).toMatchObject({ code: 'AUDIT_CURSOR_INVALID' });
  });

  it('refuses an empty range with AUDIT_RANGE_INVALID and malformed filters with VALIDATION_FAILED', async () => {
    const s = await auditScene(h);
    const range = await search(s.officer.browser, s.ws, { from: '2024-01-02T00:00:00Z', to: '2024-01-01T23:59:59.999999Z' });
    expect(range.statusCode).toBe(400);
    expect(range.json()).toMatchObject({ code: 'AUDIT_RANGE_INVALID' });
    // Microseconds count; equal bounds are a valid one-instant range; offsets are compared as instants.
    expect((await search(s.officer.browser, s.ws, { from: '2024-01-01T00:00:00.000002Z', to: '2024-01-01T00:00:00.000001Z' })).json()).toMatchObject({ code: 'AUDIT_RANGE_INVALID' });
    expect((await search(s.officer.browser, s.ws, { from: '2024-01-01T00:00:00.000001Z', to: '2024-01-01T00:00:00.000001Z' })).statusCode).toBe(200);
    expect((await search(s.officer.browser, s.ws, { from: '2024-01-01T01:00:00+02:00', to: '2024-01-01T00:00:00Z' })).statusCode).toBe(200);
    // The extremes PostgreSQL accepts are accepted.
    expect((await search(s.officer.browser, s.ws, { from: '0001-01-01T00:00:00+15:59', to: '9999-12-31T23:59:59.999999-15:59' })).statusCode).toBe(200);
    const malformed: Record<string, string | number>[] = [
      { from: 'yesterday' },
      { from: '2024-01-01' },
      { from: '2024-01-01T00:00:00' },
      { from: '2024-02-30T00:00:00Z' },
      { from: '0000-01-01T00:00:00Z' },
      { from: '2024-01-01T00:00:00+16:00' },
      { to: '2024-01-01T00:00:00-23:59' },
      { to: '2024-01-01T00:00:00.1234567Z' },
      { actor: 'not-a-uuid' },
      { type: 'AUTH.LOGIN' },
      { type: 'auth.*.x' },
      { type: "auth.login' OR 1=1 --" },
      { type: '*' },
      { action: 'DROP' },
      { record: 'a\u0000b' },
      { table: '' },
      { limit: 0 },
      { limit: 501 },
      { limit: 'ten' },
      { workspace: s.ws },
    ];
    for (const params of malformed) {
      const res = await search(s.officer.browser, s.ws, params);
      expect(res.statusCode, JSON.stringify(params)).toBe(400);
      expect(res.json(), JSON.stringify(params)).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });

  it('holders of audit.read search (Owner, Admin, Compliance Officer, a custom audit reader); Viewer, Member and other business roles get 403 with the rule and an audit row', async () => {
    const s = await auditScene(h);
    for (const p of [s.owner, s.admin, s.officer, s.reader]) expect((await search(p.browser, s.ws)).statusCode).toBe(200);
    // Business roles without audit.read: Viewer, and (for instance) Finance and HR Managers.
    const finance = await person(h, s.ws, 'member');
    await giveRole(h, s.ws, s.owner, finance, 'finance_manager');
    const hr = await person(h, s.ws, 'member');
    await giveRole(h, s.ws, s.owner, hr, 'hr_manager');
    for (const p of [s.viewer, s.plain, finance, hr]) {
      const res = await search(p.browser, s.ws);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'FORBIDDEN', rule: 'permission', permission: 'audit.read' });
      const denied = (await eventsOfType(h, s.ws, 'access.denied')).find((e) => e.actor_user_id === p.userId);
      expect(denied?.new_values).toMatchObject({ rule: 'permission', permission: 'audit.read' });
    }
    expect((await call(h.app, null, 'GET', eventsUrl(s.ws))).statusCode).toBe(401);
  });

  it('every search records its own audit.searched event with the filter and the row count', async () => {
    const s = await auditScene(h);
    for (let i = 0; i < 5; i += 1) await seed(h, as(s.ws, s.owner), { eventType: 'test.counted', action: 'VIEW', recordId: 'c-1' });
    const first = await search(s.officer.browser, s.ws, { type: 'test.counted', record: 'c-1', limit: 3 });
    expect(first.json<Page>().events).toHaveLength(3);
    let searched = await eventsOfType(h, s.ws, 'audit.searched');
    expect(searched).toHaveLength(1);
    expect(searched[0]).toMatchObject({
      actor_user_id: s.officer.userId,
      new_values: { filter: { type: 'test.counted', record: 'c-1' }, limit: 3, count: 3 },
    });
    expect(searched[0]?.new_values).not.toHaveProperty('after');
    const second = await search(s.officer.browser, s.ws, { type: 'test.counted', record: 'c-1', limit: 3, cursor: first.json<Page>().nextCursor ?? '' });
    expect(second.json<Page>().events).toHaveLength(2);
    searched = await eventsOfType(h, s.ws, 'audit.searched');
    expect(searched).toHaveLength(2);
    const last = first.json<Page>().events.at(-1);
    expect(searched[0]).toMatchObject({
      actor_user_id: s.officer.userId,
      new_values: { filter: { type: 'test.counted', record: 'c-1' }, limit: 3, count: 2, after: { occurredAt: last?.occurredAt, id: last?.id } },
    });
    // An empty result is recorded too; a refused search records a denial, not a search.
    await search(s.owner.browser, s.ws, { from: '2001-01-01T00:00:00Z', to: '2001-01-02T00:00:00Z' });
    expect((await eventsOfType(h, s.ws, 'audit.searched'))[0]).toMatchObject({
      actor_user_id: s.owner.userId,
      new_values: { filter: { from: '2001-01-01T00:00:00Z', to: '2001-01-02T00:00:00Z' }, count: 0 },
    });
    await search(s.viewer.browser, s.ws);
    await search(s.officer.browser, s.ws, { from: '2002-01-01T00:00:00Z', to: '2001-01-01T00:00:00Z' });
    expect(await eventsOfType(h, s.ws, 'audit.searched')).toHaveLength(3);
  });
});
