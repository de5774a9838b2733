import type { FastifyInstance } from 'fastify';
import { createWorkspace } from './db.ts';
import type { TestApp } from './http.ts';
import { clientIp, member, signIn, type Browser } from './identity.ts';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** A request as the browser sends it: its cookie, and its CSRF header on state-changing methods. */
export function send(app: FastifyInstance, browser: Browser, method: Method, url: string, payload?: object) {
  return app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    remoteAddress: browser.ip,
    cookies: { palisade_session: browser.cookie },
    headers: method === 'GET' ? {} : { 'x-csrf-token': browser.csrf },
  });
}

export interface Person {
  userId: string;
  email: string;
  browser: Browser;
}

export interface ClaimJson {
  id: string;
  submitterId: string;
  departmentId: string;
  amount: string;
  currency: string;
  description: string;
  payeeBankRef?: string | null;
  status: 'submitted' | 'approved' | 'rejected';
  decidedBy: string | null;
  decisionNote: string | null;
}

/**
 * A workspace for expense tests, set up through the API as an owner would: people with roles and
 * departments, departments with heads, claims.
 */
export interface ExpensesWorld {
  ws: string;
  owner: Person;
  /** `/api/v1/workspaces/{ws}` + path. */
  url(path: string): string;
  /** `send` as `who`, on a path of the workspace. */
  as(who: Person, method: Method, path: string, payload?: object): ReturnType<typeof send>;
  /** A signed-in member with these predefined (or custom, by id) roles, in a department. */
  person(options?: { roles?: readonly string[]; department?: string; systemRole?: 'admin' | 'member' }): Promise<Person>;
  /** Creates a department (code, name = code) with an optional head; returns its id. */
  department(code: string, head?: Person): Promise<string>;
  /** Puts a member in a department. */
  placeIn(who: Person, departmentId: string): Promise<void>;
  /** Submits a claim as `who`; returns it. */
  submit(who: Person, amount: string, extra?: { payeeBankRef?: string; currency?: string }): Promise<ClaimJson>;
}

function ok<T>(res: { statusCode: number; body: string; json: () => unknown }, status: number, what: string): T {
  if (res.statusCode !== status) throw new Error(`${what}: ${res.statusCode} ${res.body}`);
  return res.json() as T;
}

export async function expensesWorld(h: TestApp): Promise<ExpensesWorld> {
  const ws = await createWorkspace(h.t.db, 'Expenses');
  const o = await member(h.t.db, ws, 'owner');
  const owner: Person = { ...o, browser: await signIn(h.app, o.email, undefined, clientIp()) };
  const url = (path: string) => `/api/v1/workspaces/${ws}${path}`;
  const as = (who: Person, method: Method, path: string, payload?: object) => send(h.app, who.browser, method, url(path), payload);
  return {
    ws,
    owner,
    url,
    as,
    async person(options = {}) {
      const m = await member(h.t.db, ws, options.systemRole ?? 'member');
      for (const role of options.roles ?? []) ok(await as(owner, 'POST', `/members/${m.userId}/roles`, { role }), 200, `assign ${role}`);
      if (options.department !== undefined) {
        ok(await as(owner, 'PATCH', `/members/${m.userId}/department`, { departmentId: options.department }), 200, 'set department');
      }
      return { ...m, browser: await signIn(h.app, m.email, undefined, clientIp()) };
    },
    async department(code, head) {
      const body = ok<{ id: string }>(
        await as(owner, 'POST', '/departments', { code, name: code, ...(head === undefined ? {} : { headUserId: head.userId }) }),
        201,
        `create department ${code}`,
      );
      return body.id;
    },
    async placeIn(who, departmentId) {
      ok(await as(owner, 'PATCH', `/members/${who.userId}/department`, { departmentId }), 200, 'set department');
    },
    async submit(who, amount, extra = {}) {
      return ok<ClaimJson>(
        await as(who, 'POST', '/expenses/claims', { amount, currency: extra.currency ?? 'EUR', description: `claim of ${amount}`, ...(extra.payeeBankRef === undefined ? {} : { payeeBankRef: extra.payeeBankRef }) }),
        201,
        'submit claim',
      );
    },
  };
}

export interface AuditRow {
  event_type: string;
  action: string;
  table_name: string | null;
  record_id: string | null;
  actor_user_id: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
}

/** Audit events of a workspace of one type (optionally about one record), oldest first, read as the superuser. */
export async function auditEvents(h: TestApp, ws: string, eventType: string, recordId?: string): Promise<AuditRow[]> {
  const { rows } = await h.t.admin.query<AuditRow>(
    `SELECT event_type, action::text AS action, table_name, record_id, actor_user_id, old_values, new_values
       FROM tenant.audit_events
      WHERE workspace_id = $1 AND event_type = $2 AND ($3::text IS NULL OR record_id = $3)
      ORDER BY occurred_at`,
    [ws, eventType, recordId ?? null],
  );
  return rows;
}
