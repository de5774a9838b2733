import { recordEvent, type AuditEventInput } from '../src/audit/events.ts';
import type { WorkspaceContext } from '../src/db/database.ts';
import { createWorkspace } from './db.ts';
import type { TestApp } from './http.ts';
import { call, member, signIn, type Browser } from './identity.ts';

/** Helpers shared by the audit search and export tests (AUD-6). */

export interface Person {
  userId: string;
  email: string;
  browser: Browser;
}

export interface AuditScene {
  ws: string;
  owner: Person;
  admin: Person;
  /** A member with the predefined Compliance Officer role. */
  officer: Person;
  /** A member with a custom role holding audit.read but not audit.export. */
  reader: Person;
  /** A member with the predefined Viewer role. */
  viewer: Person;
  /** A plain member. */
  plain: Person;
}

export async function person(h: TestApp, ws: string, role: 'owner' | 'admin' | 'member', email?: string): Promise<Person> {
  const m = await member(h.t.db, ws, role, email);
  return { ...m, browser: await signIn(h.app, m.email) };
}

/** Gives a member a predefined or custom role, as an owner does through the API. */
export async function giveRole(h: TestApp, ws: string, owner: Person, who: Person, role: string): Promise<void> {
  const res = await call(h.app, owner.browser, 'POST', `/api/v1/workspaces/${ws}/members/${who.userId}/roles`, { role });
  if (res.statusCode !== 200) throw new Error(`assigning ${role} failed: ${res.statusCode} ${res.body}`);
}

export async function auditScene(h: TestApp): Promise<AuditScene> {
  const ws = await createWorkspace(h.t.db);
  const owner = await person(h, ws, 'owner');
  const admin = await person(h, ws, 'admin');
  const officer = await person(h, ws, 'member');
  const reader = await person(h, ws, 'member');
  const viewer = await person(h, ws, 'member');
  const plain = await person(h, ws, 'member');
  await giveRole(h, ws, owner, officer, 'compliance_officer');
  const custom = await call(h.app, owner.browser, 'POST', `/api/v1/workspaces/${ws}/roles`, { name: 'Audit reader', permissions: ['audit.read'] });
  if (custom.statusCode !== 201) throw new Error(`creating the audit reader role failed: ${custom.statusCode} ${custom.body}`);
  await giveRole(h, ws, owner, reader, custom.json<{ key: string }>().key);
  await giveRole(h, ws, owner, viewer, 'viewer');
  return { ws, owner, admin, officer, reader, viewer, plain };
}

/** Records an event as `actor` would (the context stamps who and where); returns its id. */
export function seed(h: TestApp, ctx: WorkspaceContext, event: AuditEventInput): Promise<string> {
  return h.t.db.withWorkspace(ctx, (tx) => recordEvent(tx, event));
}

/** The database's clock now, as the API takes it (UTC, microseconds). */
export async function dbNow(h: TestApp): Promise<string> {
  const { rows } = await h.t.admin.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`);
  return rows[0]?.t ?? '';
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The ids of a workspace's events matching `where` (SQL over `e`), newest first, read as the
 * database superuser: the ground truth the API is compared with.
 */
export async function truth(h: TestApp, ws: string, where = 'true', params: unknown[] = []): Promise<string[]> {
  const { rows } = await h.t.admin.query<{ id: string }>(
    `SELECT e.id FROM tenant.audit_events e WHERE e.workspace_id = $1 AND (${where}) ORDER BY e.occurred_at DESC, e.id DESC`,
    [ws, ...params],
  );
  return rows.map((r) => r.id);
}

/** The newest events of a type in a workspace (superuser read). */
export async function eventsOfType(h: TestApp, ws: string, type: string): Promise<{ id: string; actor_user_id: string | null; new_values: Record<string, unknown> }[]> {
  const { rows } = await h.t.admin.query<{ id: string; actor_user_id: string | null; new_values: Record<string, unknown> }>(
    `SELECT id, actor_user_id, new_values FROM tenant.audit_events WHERE workspace_id = $1 AND event_type = $2 ORDER BY occurred_at DESC, id DESC`,
    [ws, type],
  );
  return rows;
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
