import type { Sql } from '../db/types.ts';
import { errorsOf } from '../kernel/errors.ts';
import type { SystemRole } from './catalog.ts';
import { AccessDenied, type AccessControl, type Actor } from './control.ts';
import { identityErrors } from '../identity/errors.ts';
import { accessErrors } from './errors.ts';

const fail = errorsOf(accessErrors);
const failIdentity = errorsOf(identityErrors);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RoleView {
  /** Predefined roles by key, custom roles by id. */
  key: string;
  name: string;
  description: string;
  kind: 'system' | 'predefined' | 'custom';
  permissions: string[];
}

/** Every role of the workspace: system and predefined (from the modules), then custom ones. */
export async function listRoles(tx: Sql, access: AccessControl): Promise<RoleView[]> {
  const builtin = [...access.catalog.roles.values()].map((r) => ({
    key: r.key, name: r.name, description: r.description, kind: r.kind, permissions: [...r.permissions].sort(),
  }));
  const { rows } = await tx.query<{ id: string; name: string; description: string | null; permissions: string[] }>(
    'SELECT id, name, description, permissions FROM tenant.roles ORDER BY lower(name)',
  );
  return [
    ...builtin,
    ...rows.map((r) => ({ key: r.id, name: r.name, description: r.description ?? '', kind: 'custom' as const, permissions: [...access.customPermissions(r.permissions)].sort() })),
  ];
}

/** One role by key or id, or ROLE_NOT_FOUND. */
export async function findRole(tx: Sql, access: AccessControl, key: string): Promise<RoleView> {
  const builtin = access.catalog.roles.get(key);
  if (builtin !== undefined) {
    return { key, name: builtin.name, description: builtin.description, kind: builtin.kind, permissions: [...builtin.permissions].sort() };
  }
  if (!UUID.test(key)) throw fail('ROLE_NOT_FOUND');
  const { rows } = await tx.query<{ id: string; name: string; description: string | null; permissions: string[] }>(
    'SELECT id, name, description, permissions FROM tenant.roles WHERE id = $1',
    [key],
  );
  const row = rows[0];
  if (row === undefined) throw fail('ROLE_NOT_FOUND');
  return { key: row.id, name: row.name, description: row.description ?? '', kind: 'custom', permissions: [...access.customPermissions(row.permissions)].sort() };
}

/**
 * Checks a permission list for a custom role: every id must exist, none may be owner-only, and the
 * actor must hold each one (ACC-6: nobody grants what they lack).
 */
function checkGrantable(access: AccessControl, actor: Actor, permissions: readonly string[], changed: readonly string[] = permissions): string[] {
  const unknown = permissions.filter((p) => !access.catalog.has(p));
  if (unknown.length > 0) throw fail('UNKNOWN_PERMISSION', `no such permission: ${unknown.slice(0, 5).join(', ')}`, { permissions: unknown });
  const ownerOnly = permissions.filter((p) => access.catalog.isOwnerOnly(p));
  if (ownerOnly.length > 0) throw fail('OWNER_ONLY_PERMISSION', `only owners hold ${ownerOnly.join(', ')}`);
  assertHeld(access, actor, changed, 'grant or revoke');
  return [...new Set(permissions)].sort();
}

function assertHeld(access: AccessControl, actor: Actor, permissions: Iterable<string>, verb: string): void {
  const missing = access.notHeld(actor, permissions);
  if (missing.length > 0) {
    throw new AccessDenied('no_escalation', `you cannot ${verb} permissions you do not hold: ${missing.slice(0, 5).join(', ')}`, { permission: missing[0] });
  }
}

function uniqueName(error: unknown): never {
  if ((error as { code?: unknown }).code === '23505') throw fail('ROLE_NAME_TAKEN');
  throw error;
}

export async function createRole(
  tx: Sql,
  access: AccessControl,
  actor: Actor,
  input: { name: string; description?: string | undefined; permissions: readonly string[] },
): Promise<RoleView> {
  const permissions = checkGrantable(access, actor, input.permissions);
  const { rows } = await tx
    .query<{ id: string }>('INSERT INTO tenant.roles (workspace_id, name, description, permissions) VALUES ($1, $2, $3, $4) RETURNING id', [
      actor.workspaceId, input.name, input.description ?? null, permissions,
    ])
    .catch(uniqueName);
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('role insert returned nothing');
  return { key: id, name: input.name, description: input.description ?? '', kind: 'custom', permissions };
}

/**
 * Edits a custom role. Adding permissions needs them held; the role's members get the new set on
 * their next request (the access version moves).
 */
export async function updateRole(
  tx: Sql,
  access: AccessControl,
  actor: Actor,
  id: string,
  change: { name?: string | undefined; description?: string | undefined; permissions?: readonly string[] | undefined },
): Promise<RoleView> {
  const current = await findRole(tx, access, id);
  if (current.kind !== 'custom') throw fail('ROLE_READ_ONLY');
  let permissions = current.permissions;
  if (change.permissions !== undefined) {
    const next = change.permissions;
    const changed = [...next.filter((p) => !current.permissions.includes(p)), ...current.permissions.filter((p) => !next.includes(p))];
    permissions = checkGrantable(access, actor, next, changed);
  }
  await tx
    .query('UPDATE tenant.roles SET name = coalesce($2, name), description = coalesce($3, description), permissions = $4, updated_at = now() WHERE id = $1', [
      id, change.name ?? null, change.description ?? null, permissions,
    ])
    .catch(uniqueName);
  return { ...current, name: change.name ?? current.name, description: change.description ?? current.description, permissions };
}

/** Deletes a custom role; its assignments go with it (and its holders lose it on their next request). */
export async function deleteRole(tx: Sql, access: AccessControl, actor: Actor, id: string): Promise<void> {
  const current = await findRole(tx, access, id);
  if (current.kind !== 'custom') throw fail('ROLE_READ_ONLY');
  assertHeld(access, actor, current.permissions, 'revoke');
  await tx.query('DELETE FROM tenant.member_roles WHERE role_id = $1', [id]);
  await tx.query('DELETE FROM tenant.roles WHERE id = $1', [id]);
}

async function memberRole(tx: Sql, userId: string): Promise<SystemRole> {
  const { rows } = await tx.query<{ role: SystemRole }>('SELECT role FROM tenant.members WHERE user_id = $1', [userId]);
  const role = rows[0]?.role;
  if (role === undefined) throw failIdentity('MEMBER_NOT_FOUND');
  return role;
}

export interface MemberRolesView {
  userId: string;
  systemRole: SystemRole;
  roles: { key: string; name: string; kind: 'system' | 'predefined' | 'custom' }[];
  permissions: string[];
}

export async function memberRoles(tx: Sql, access: AccessControl, workspaceId: string, userId: string): Promise<MemberRolesView> {
  const systemRole = await memberRole(tx, userId);
  const p = await access.memberPermissions(tx, workspaceId, userId, systemRole);
  return { userId, systemRole, roles: [...p.roles], permissions: [...p.permissions].sort() };
}

/**
 * Gives a member a predefined or custom role (ACC-6): only with every permission the role carries,
 * never to oneself. Applies on the member's next request.
 */
export async function assignRole(tx: Sql, access: AccessControl, actor: Actor, userId: string, key: string): Promise<MemberRolesView> {
  const role = await findRole(tx, access, key);
  if (role.kind === 'system') throw fail('SYSTEM_ROLE_NOT_ASSIGNABLE');
  await memberRole(tx, userId);
  if (userId === actor.userId) throw new AccessDenied('no_self_grant', 'nobody assigns roles to themselves');
  assertHeld(access, actor, role.permissions, 'grant');
  const { rowCount } = await tx.query(
    `INSERT INTO tenant.member_roles (workspace_id, user_id, role_key, role_id, granted_by)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [actor.workspaceId, userId, role.kind === 'predefined' ? role.key : null, role.kind === 'custom' ? role.key : null, actor.userId],
  );
  if (rowCount === 0) throw fail('ROLE_ALREADY_ASSIGNED');
  return memberRoles(tx, access, actor.workspaceId, userId);
}

/** Takes a role back. Removing what one does not hold is refused too: it would reshape a member's access beyond one's own. */
export async function unassignRole(tx: Sql, access: AccessControl, actor: Actor, userId: string, key: string): Promise<MemberRolesView> {
  const role = await findRole(tx, access, key);
  assertHeld(access, actor, role.permissions, 'revoke');
  const { rowCount } = await tx.query(
    'DELETE FROM tenant.member_roles WHERE user_id = $1 AND (role_key = $2 OR role_id::text = $2)',
    [userId, role.key],
  );
  if (rowCount === 0) throw fail('ROLE_NOT_ASSIGNED');
  return memberRoles(tx, access, actor.workspaceId, userId);
}
