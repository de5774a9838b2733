import { AccessDenied, type AccessControl, type Actor, type HeldRole } from '../access/control.ts';
import { accessErrors } from '../access/errors.ts';
import type { Sql } from '../db/types.ts';
import { identityErrors } from '../identity/errors.ts';
import { errorsOf } from '../kernel/errors.ts';
import { expensesErrors } from './errors.ts';
import { DEFAULT_ROLE_LIMITS_CENTS } from './permissions.ts';
import { approvalLimit, formatCents } from './rules.ts';

const fail = errorsOf(expensesErrors);
const failAccess = errorsOf(accessErrors);
const failIdentity = errorsOf(identityErrors);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whose limit: a member's system role and other roles (an Actor is one). */
export interface LimitSubject {
  userId: string;
  systemRole: string;
  roles: readonly HeldRole[];
}

interface LimitRow {
  role: string | null;
  user_id: string | null;
  limit_cents: string;
}

/** The workspace's overrides (roles, and the one member's), read under RLS. */
async function overrides(tx: Sql, userId: string | null): Promise<{ roles: Map<string, bigint>; member: bigint | null }> {
  const { rows } = await tx.query<LimitRow>(
    `SELECT coalesce(role_key, role_id::text) AS role, user_id, limit_cents::text AS limit_cents
       FROM tenant.expense_limits WHERE user_id IS NULL OR user_id = $1`,
    [userId],
  );
  const roles = new Map(DEFAULT_ROLE_LIMITS_CENTS);
  let member: bigint | null = null;
  for (const row of rows) {
    if (row.user_id !== null) member = BigInt(row.limit_cents);
    else if (row.role !== null) roles.set(row.role, BigInt(row.limit_cents));
  }
  return { roles, member };
}

/**
 * The most `subject` may approve, in cents, or null for no limit: their member override, else the
 * highest limit among their roles (defaults in code, overridden per role by the workspace).
 */
export async function effectiveLimit(tx: Sql, subject: LimitSubject): Promise<bigint | null> {
  const o = await overrides(tx, subject.userId);
  return approvalLimit({
    systemRole: subject.systemRole,
    roleKeys: subject.roles.filter((r) => r.kind !== 'system').map((r) => r.key),
    memberOverrideCents: o.member,
    roleLimitsCents: o.roles,
  });
}

/** A role named by key (predefined or system) or by id (custom), as limits store it. */
async function resolveRole(tx: Sql, access: AccessControl, role: string): Promise<{ key: string; column: 'role_key' | 'role_id'; name: string }> {
  if (role === 'owner') throw fail('LIMIT_NOT_SETTABLE');
  const builtin = access.catalog.roles.get(role);
  if (builtin !== undefined) return { key: role, column: 'role_key', name: builtin.name };
  if (!UUID.test(role)) throw failAccess('ROLE_NOT_FOUND');
  const { rows } = await tx.query<{ name: string }>('SELECT name FROM tenant.roles WHERE id = $1', [role]);
  const name = rows[0]?.name;
  if (name === undefined) throw failAccess('ROLE_NOT_FOUND');
  return { key: role.toLowerCase(), column: 'role_id', name };
}

/** A member of the workspace as a limit subject (any status), or MEMBER_NOT_FOUND. */
async function memberSubject(tx: Sql, access: AccessControl, workspaceId: string, userId: string): Promise<LimitSubject> {
  const { rows } = await tx.query<{ role: 'owner' | 'admin' | 'member' }>('SELECT role FROM tenant.members WHERE user_id = $1', [userId]);
  const role = rows[0]?.role;
  if (role === undefined) throw failIdentity('MEMBER_NOT_FOUND');
  const p = await access.memberPermissions(tx, workspaceId, userId, role);
  return { userId, systemRole: role, roles: p.roles };
}

/**
 * Nobody raises a limit above their own (ACC-6 applied to amounts, rule `no_escalation`): the
 * limit that results from a change is compared with the actor's limit before the change. Owners,
 * who have none, are not bounded.
 */
function assertWithin(own: bigint | null, resulting: bigint | null, what: string): void {
  if (own === null) return;
  if (resulting === null || resulting > own) {
    const shown = resulting === null ? 'unlimited' : formatCents(resulting);
    throw new AccessDenied('no_escalation', `${what} would be ${shown}, above your own approval limit of ${formatCents(own)}`);
  }
}

/** Sets a role's limit (overriding the default). */
export async function setRoleLimit(tx: Sql, access: AccessControl, actor: Actor, role: string, cents: bigint): Promise<void> {
  const target = await resolveRole(tx, access, role);
  assertWithin(await effectiveLimit(tx, actor), cents, `the limit of ${target.name}`);
  const conflict = target.column === 'role_key' ? '(workspace_id, role_key) WHERE role_key IS NOT NULL' : '(workspace_id, role_id) WHERE role_id IS NOT NULL';
  await tx.query(
    `INSERT INTO tenant.expense_limits (workspace_id, ${target.column}, limit_cents, set_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT ${conflict} DO UPDATE SET limit_cents = EXCLUDED.limit_cents, set_by = EXCLUDED.set_by, updated_at = now()`,
    [actor.workspaceId, target.key, cents.toString(), actor.userId],
  );
}

/** Removes a role's override: the role falls back to its default (none: it approves nothing). */
export async function clearRoleLimit(tx: Sql, access: AccessControl, actor: Actor, role: string): Promise<void> {
  const target = await resolveRole(tx, access, role);
  const own = await effectiveLimit(tx, actor);
  const { rowCount } = await tx.query(`DELETE FROM tenant.expense_limits WHERE ${target.column} = $1`, [target.key]);
  if (rowCount === 0) throw fail('LIMIT_NOT_SET');
  assertWithin(own, DEFAULT_ROLE_LIMITS_CENTS.get(target.key) ?? 0n, `the limit of ${target.name}`);
}

/** Sets one member's limit, which replaces whatever their roles give (higher or lower). */
export async function setMemberLimit(tx: Sql, access: AccessControl, actor: Actor, userId: string, cents: bigint): Promise<void> {
  await memberSubject(tx, access, actor.workspaceId, userId);
  assertWithin(await effectiveLimit(tx, actor), cents, "the member's limit");
  await tx.query(
    `INSERT INTO tenant.expense_limits (workspace_id, user_id, limit_cents, set_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (workspace_id, user_id) WHERE user_id IS NOT NULL
     DO UPDATE SET limit_cents = EXCLUDED.limit_cents, set_by = EXCLUDED.set_by, updated_at = now()`,
    [actor.workspaceId, userId, cents.toString(), actor.userId],
  );
}

/** Removes a member's override; what their roles give must not exceed the actor's own limit either. */
export async function clearMemberLimit(tx: Sql, access: AccessControl, actor: Actor, userId: string): Promise<void> {
  const subject = await memberSubject(tx, access, actor.workspaceId, userId);
  const own = await effectiveLimit(tx, actor);
  const { rowCount } = await tx.query('DELETE FROM tenant.expense_limits WHERE user_id = $1', [userId]);
  if (rowCount === 0) throw fail('LIMIT_NOT_SET');
  assertWithin(own, await effectiveLimit(tx, subject), "the member's limit");
}

export interface LimitsView {
  /** The caller's own limit (null: none). */
  yours: string | null;
  roles: { role: string; name: string; limit: string | null; source: 'default' | 'workspace' }[];
  members: { userId: string; limit: string }[];
}

/** Every limit in force: the owners' (none), each role's default or override, each member override. */
export async function listLimits(tx: Sql, access: AccessControl, actor: Actor): Promise<LimitsView> {
  const { rows } = await tx.query<{ role_key: string | null; role_id: string | null; role_name: string | null; user_id: string | null; limit_cents: string }>(
    `SELECT l.role_key, l.role_id, r.name AS role_name, l.user_id, l.limit_cents::text AS limit_cents
       FROM tenant.expense_limits l LEFT JOIN tenant.roles r ON r.workspace_id = l.workspace_id AND r.id = l.role_id
      ORDER BY l.role_key NULLS LAST, r.name NULLS LAST, l.user_id`,
  );
  const nameOf = (key: string) => access.catalog.roles.get(key)?.name ?? key;
  const roles = new Map<string, LimitsView['roles'][number]>();
  roles.set('owner', { role: 'owner', name: nameOf('owner'), limit: null, source: 'default' });
  for (const [key, cents] of DEFAULT_ROLE_LIMITS_CENTS) roles.set(key, { role: key, name: nameOf(key), limit: formatCents(cents), source: 'default' });
  const members: LimitsView['members'] = [];
  for (const row of rows) {
    const limit = formatCents(BigInt(row.limit_cents));
    if (row.user_id !== null) members.push({ userId: row.user_id, limit });
    else if (row.role_key !== null) roles.set(row.role_key, { role: row.role_key, name: nameOf(row.role_key), limit, source: 'workspace' });
    else if (row.role_id !== null) roles.set(row.role_id, { role: row.role_id, name: row.role_name ?? row.role_id, limit, source: 'workspace' });
  }
  const yours = await effectiveLimit(tx, actor);
  return { yours: yours === null ? null : formatCents(yours), roles: [...roles.values()], members };
}
