import type { Sql } from '../db/types.ts';

/** Actions an event may record (the CHECK constraint of tenant.audit_events). */
export const AUDIT_ACTIONS = [
  'CREATE', 'UPDATE', 'DELETE', 'VIEW', 'DOWNLOAD', 'SEARCH', 'EXPORT', 'LOGIN', 'LOGOUT', 'LOGIN_FAILED',
  'APPROVE', 'REJECT', 'CONFIG', 'INVITE', 'DEACTIVATE', 'ROLE_CHANGE', 'SYSTEM', 'PURGE',
  // Added by access/0001_access.sql: a refused action (ACC-7).
  'DENY',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEventInput {
  /** Dotted, lower-case: `auth.login`, `audit.export`, `expenses.approved`. */
  eventType: string;
  action: AuditAction;
  tableName?: string;
  recordId?: string;
  oldValues?: Record<string, unknown>;
  newValues?: Record<string, unknown>;
  reason?: string;
  /**
   * Who and where, for events recorded inside withSystem before any session exists (a sign-in
   * attempt). Ignored everywhere else: the database stamps the transaction's context.
   */
  actor?: { userId?: string | null; email?: string | null; ip?: string | null; userAgent?: string | null; sessionId?: string | null };
  /**
   * The workspace the event belongs to. Defaults to the transaction's workspace; another value is
   * accepted only inside withSystem (RLS refuses it elsewhere).
   */
  workspaceId?: string;
}

/**
 * Records an explicit event (a view, an export, a sign-in, an approval decision) in the current
 * transaction, so it commits or rolls back with the work it describes. The actor, session, IP,
 * user agent, route and time are stamped by the database from the transaction's context.
 */
export async function recordEvent(tx: Sql, event: AuditEventInput): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO tenant.audit_events
       (workspace_id, event_type, action, table_name, record_id, old_values, new_values, reason,
        actor_user_id, actor_email, ip, user_agent, session_id)
     VALUES (coalesce($1::uuid, palisade.current_workspace()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     RETURNING id`,
    [
      event.workspaceId ?? null,
      event.eventType,
      event.action,
      event.tableName ?? null,
      event.recordId ?? null,
      event.oldValues === undefined ? null : JSON.stringify(event.oldValues),
      event.newValues === undefined ? null : JSON.stringify(event.newValues),
      event.reason ?? null,
      event.actor?.userId ?? null,
      event.actor?.email ?? null,
      event.actor?.ip ?? null,
      event.actor?.userAgent ?? null,
      event.actor?.sessionId ?? null,
    ],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('recordEvent: the insert returned no id');
  return id;
}
