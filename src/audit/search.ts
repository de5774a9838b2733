import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import { auditErrors } from './errors.ts';
import { AUDIT_ACTIONS, recordEvent, type AuditAction } from './events.ts';

const fail = errorsOf(auditErrors);

/**
 * Audit search (AUD-6): the filters shared by search and export, the keyset cursor, and the search
 * itself. Everything runs as palisade_app in the request's transaction, so RLS shows only the
 * workspace's own events; the workspace is also named in the query (defence in depth, and the
 * planner then uses the (workspace_id, occurred_at) index).
 */

/** Text a filter compares with: no NUL (PostgreSQL refuses it in text, which would be a 500). */
const text = (max: number) => z.string().min(1).max(max).refine((s) => !s.includes('\u0000'), 'must not contain NUL');

/**
 * An instant with an explicit offset (`Z` or `±hh:mm`, at most ±15:59), at most microsecond
 * precision, year 0001 or later: exactly what PostgreSQL's timestamptz reads, whatever the
 * session's TimeZone (anything else would be a database error, a 500).
 */
const instant = z.iso
  .datetime({ offset: true })
  .refine((s) => !s.startsWith('0000'), 'year 0000 does not exist')
  .refine((s) => /(?:Z|[+-](?:0\d|1[0-5]):[0-5]\d)$/.test(s), 'the offset must be Z or within ±15:59')
  .refine((s) => !/\.\d{7,}/.test(s), 'at most microsecond precision');

/** An event type (`auth.login`) or a prefix of whole segments (`auth.*`). */
const TYPE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*(?:\.\*)?$/;

/** The filters of search and export, as query parameters. */
export const filterQuery = z.strictObject({
  actor: z.uuid().optional().describe('Actor user id'),
  from: instant.optional().describe('Events at or after this instant (ISO 8601 with offset)'),
  to: instant.optional().describe('Events at or before this instant (ISO 8601 with offset)'),
  type: z.string().max(200).regex(TYPE).optional().describe('Event type, exact (`auth.login`) or a prefix (`auth.*`)'),
  table: text(200).optional().describe('Table name, e.g. `tenant.members`'),
  record: text(200).optional().describe('Record id'),
  action: z.enum(AUDIT_ACTIONS).optional(),
});

export const searchQuery = filterQuery.extend({
  cursor: z.string().max(1000).optional().describe('`nextCursor` of the previous page'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** The validated filters, only those given (this is also what the search's own event records). */
export interface AuditFilter {
  actor?: string;
  from?: string;
  to?: string;
  type?: string;
  table?: string;
  record?: string;
  action?: AuditAction;
}

/** Microseconds since the epoch of an instant accepted by {@link instant}. */
function epochMicros(iso: string): bigint {
  const m = /^(.*?)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (m === null) throw new Error(`not an instant: ${iso}`);
  const [, whole = '', fraction = '', offset = ''] = m;
  return BigInt(Date.parse(whole + offset)) * 1000n + BigInt(fraction.padEnd(6, '0'));
}

/** The filters of a query, checked: a range whose start is after its end is refused. */
export function toFilter(query: z.infer<typeof filterQuery>): AuditFilter {
  const filter: AuditFilter = {};
  if (query.actor !== undefined) filter.actor = query.actor;
  if (query.from !== undefined) filter.from = query.from;
  if (query.to !== undefined) filter.to = query.to;
  if (query.type !== undefined) filter.type = query.type;
  if (query.table !== undefined) filter.table = query.table;
  if (query.record !== undefined) filter.record = query.record;
  if (query.action !== undefined) filter.action = query.action;
  if (filter.from !== undefined && filter.to !== undefined && epochMicros(filter.from) > epochMicros(filter.to)) {
    throw fail('AUDIT_RANGE_INVALID', `from (${filter.from}) is after to (${filter.to})`);
  }
  return filter;
}

/** Where a page ends: the last event's time (UTC, microseconds) and id. */
export interface Position {
  occurredAt: string;
  id: string;
}

/** `occurred_at` as text: UTC, microseconds, independent of the session's TimeZone and DateStyle. */
export const OCCURRED_AT_SQL = `to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const OCCURRED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const CURSOR = z.tuple([z.literal(1), z.string().regex(OCCURRED_AT), z.uuid(), z.string().regex(/^[A-Za-z0-9_-]{11}$/)]);

/**
 * A short digest of the position, the workspace and the filters: a cursor is valid only unchanged,
 * in its workspace, with its filters. A digest, not a MAC: it catches garbled, truncated and
 * edited cursors and cursors reused with other filters; someone who recomputes it can only name
 * another position, which grants nothing (the filters could say as much, and RLS bounds the rows).
 */
function digest(position: Position, workspaceId: string, filter: AuditFilter): string {
  const canonical = JSON.stringify([1, position.occurredAt, position.id, workspaceId, filter.actor, filter.from, filter.to, filter.type, filter.table, filter.record, filter.action]);
  return createHash('sha256').update(canonical).digest().subarray(0, 8).toString('base64url');
}

/** The opaque cursor after `position`: base64url of `[1, occurredAt, id, digest]`. */
export function encodeCursor(position: Position, workspaceId: string, filter: AuditFilter): string {
  return Buffer.from(JSON.stringify([1, position.occurredAt, position.id, digest(position, workspaceId, filter)]), 'utf8').toString('base64url');
}

/**
 * Reads a cursor back; anything this search did not produce (garbled, truncated, edited, made for
 * another workspace or other filters, naming an impossible instant) is 400 AUDIT_CURSOR_INVALID,
 * never a database error. The cursor carries no authority: it only says where to continue, and
 * RLS still bounds the rows.
 */
export function decodeCursor(cursor: string, workspaceId: string, filter: AuditFilter): Position {
  const invalid = () => fail('AUDIT_CURSOR_INVALID');
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw invalid();
  const bytes = Buffer.from(cursor, 'base64url');
  // Buffer's decoder skips what it cannot read; only a canonical encoding is accepted.
  if (bytes.toString('base64url') !== cursor) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid();
  }
  const parsed = CURSOR.safeParse(value);
  if (!parsed.success) throw invalid();
  const [, occurredAt, id, check] = parsed.data;
  // A real calendar instant (no 13th month, no year 0): Date normalises impossible ones.
  const ms = `${occurredAt.slice(0, 23)}Z`;
  const date = new Date(ms);
  if (occurredAt.startsWith('0000') || Number.isNaN(date.getTime()) || date.toISOString() !== ms) throw invalid();
  if (check !== digest({ occurredAt, id }, workspaceId, filter)) throw invalid();
  return { occurredAt, id };
}

/** The WHERE clause of the filters (and of the keyset position), with its parameters. */
export function whereClause(workspaceId: string, filter: AuditFilter, after?: Position): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = [`e.workspace_id = ${p(workspaceId)}::uuid`];
  if (filter.actor !== undefined) where.push(`e.actor_user_id = ${p(filter.actor)}::uuid`);
  if (filter.from !== undefined) where.push(`e.occurred_at >= ${p(filter.from)}::timestamptz`);
  if (filter.to !== undefined) where.push(`e.occurred_at <= ${p(filter.to)}::timestamptz`);
  if (filter.type !== undefined) {
    if (filter.type.endsWith('.*')) where.push(`starts_with(e.event_type, ${p(filter.type.slice(0, -1))})`);
    else where.push(`e.event_type = ${p(filter.type)}`);
  }
  if (filter.table !== undefined) where.push(`e.table_name = ${p(filter.table)}`);
  if (filter.record !== undefined) where.push(`e.record_id = ${p(filter.record)}`);
  if (filter.action !== undefined) where.push(`e.action = ${p(filter.action)}::palisade.audit_action`);
  if (after !== undefined) where.push(`(e.occurred_at, e.id) < (${p(after.occurredAt)}::timestamptz, ${p(after.id)}::uuid)`);
  return { sql: where.join(' AND '), params };
}

/**
 * The events' order, newest first: `occurred_at` (the database's clock when the event was
 * written), ties broken by id. An event committed after a walk began by a transaction that
 * started before it can carry an older time than the walk's position; it is not on the pages
 * that follow (it is on the next walk).
 */
export const ORDER_SQL = 'ORDER BY e.occurred_at DESC, e.id DESC';

/** One event as the search returns it: the fields of AUD-2, never the global `pos`. */
export const auditEventSchema = z.object({
  id: z.uuid(),
  occurredAt: z.string().describe('UTC, microseconds'),
  eventType: z.string(),
  action: z.string(),
  workspaceId: z.uuid(),
  actorUserId: z.string().nullable(),
  actorEmail: z.string().nullable(),
  actorName: z.string().nullable().describe("The actor's display name now (not necessarily when the event was written)"),
  actorRole: z.string().nullable(),
  sessionId: z.string().nullable(),
  deviceId: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  route: z.string().nullable(),
  tableName: z.string().nullable(),
  recordId: z.string().nullable(),
  oldValues: z.unknown().nullable(),
  newValues: z.unknown().nullable(),
  reason: z.string().nullable(),
});
export type AuditEventView = z.infer<typeof auditEventSchema>;

const SEARCH_COLUMNS = `e.id, ${OCCURRED_AT_SQL} AS "occurredAt", e.event_type AS "eventType", e.action::text AS action,
       e.workspace_id AS "workspaceId", e.actor_user_id AS "actorUserId", e.actor_email AS "actorEmail",
       u.display_name AS "actorName", e.actor_role AS "actorRole", e.session_id AS "sessionId", e.device_id AS "deviceId",
       host(e.ip) AS ip, e.user_agent AS "userAgent", e.route, e.table_name AS "tableName", e.record_id AS "recordId",
       e.old_values AS "oldValues", e.new_values AS "newValues", e.reason`;

/** The actor's display name: RLS shows the members of this workspace (and the caller). */
export const FROM_SQL = 'FROM tenant.audit_events e LEFT JOIN central.users u ON u.id = e.actor_user_id';

export interface SearchPage {
  events: AuditEventView[];
  nextCursor: string | null;
}

/**
 * One page of the workspace's events matching `filter`, newest first, after `cursor`. Records
 * its own `audit.searched` event (the filters, the page's position and the count) in the same
 * transaction; that event is newer than every row it returns, so a walk through the pages never
 * sees its own searches.
 */
export async function searchEvents(
  tx: Sql,
  workspaceId: string,
  filter: AuditFilter,
  page: { limit: number; cursor?: string | undefined },
): Promise<SearchPage> {
  const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor, workspaceId, filter);
  const where = whereClause(workspaceId, filter, after);
  const { rows } = await tx.query<AuditEventView>(
    `SELECT ${SEARCH_COLUMNS} ${FROM_SQL} WHERE ${where.sql} ${ORDER_SQL} LIMIT $${where.params.length + 1}`,
    [...where.params, page.limit + 1],
  );
  const events = rows.slice(0, page.limit);
  const last = events.at(-1);
  const nextCursor = rows.length > page.limit && last !== undefined ? encodeCursor({ occurredAt: last.occurredAt, id: last.id }, workspaceId, filter) : null;
  await recordEvent(tx, {
    eventType: 'audit.searched',
    action: 'SEARCH',
    tableName: 'tenant.audit_events',
    newValues: { filter, limit: page.limit, ...(after === undefined ? {} : { after }), count: events.length },
  });
  return { events, nextCursor };
}
